"""debian.lock.json is complete and consistent with debian_packages.json; the dependency parser is right."""

import json
from pathlib import Path

from tools.images.debian_lock import dependency_alternatives, parse_stanza, snapshot_url

HERE = Path(__file__).resolve().parent


def test_dependency_field_parsing():
    field = "libc6 (>= 2.34), media-types | mime-support, python3:any (>= 3.9~)"
    assert dependency_alternatives(field) == [["libc6"], ["media-types", "mime-support"], ["python3"]]
    assert dependency_alternatives("") == []


def test_stanza_parsing_joins_continuation_lines():
    stanza = parse_stanza("Package: a\nVersion: 1\nDescription: one\n two\n")
    assert stanza == {"Package": "a", "Version": "1", "Description": "one\ntwo"}


def test_snapshot_url_mirrors_the_archive_path():
    url = "http://deb.debian.org/debian-security/pool/updates/main/p/python3.11/python3.11_3.11.2_amd64.deb"
    assert snapshot_url(url, "20261129T000000Z") == (
        "https://snapshot.debian.org/archive/debian-security/20261129T000000Z/pool/updates/main/p/python3.11/"
        "python3.11_3.11.2_amd64.deb"
    )


def test_lock_pins_every_package_of_every_set_once():
    spec = json.loads((HERE / "debian_packages.json").read_text())
    lock = json.loads((HERE / "debian.lock.json").read_text())
    assert set(lock["sets"]) == set(spec["sets"])
    for set_name, entry in spec["sets"].items():
        members = set(lock["sets"][set_name])
        assert set(entry["packages"]) <= members, f"set {set_name} lost a top-level package"
        assert not members & set(spec["exclude"]), f"set {set_name} holds an excluded package"
        for below in entry["on_top_of"]:
            assert not members & set(lock["sets"][below]), f"sets {set_name} and {below} overlap"
    pinned = {p for members in lock["sets"].values() for p in members}
    assert pinned == set(lock["packages"])
    for name, pin in lock["packages"].items():
        assert len(pin["sha256"]) == 64 and pin["urls"][0].startswith("http://deb.debian.org/"), name
