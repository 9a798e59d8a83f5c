"""The Debian base layer from the pinned .deb files: merged /usr, docs dropped, CA bundle generated."""

import os
import tarfile
from pathlib import Path

import pytest

from tools.images.debian_layer import CA_BUNDLE, DebError, ar_members, debian_layer, kept, merged_usr


def _debs(*packages: str) -> list[tuple[str, Path]]:
    """The pinned .deb files of @debian//:python that Bazel put in the runfiles."""
    root = Path(os.environ["TEST_SRCDIR"]) / "debian" / "debs"
    found = {p.name.rsplit("_", 1)[0]: p for p in root.glob("*.deb")}
    missing = [p for p in packages if p not in found]
    assert not missing, f"{missing} are not in @debian//:python ({sorted(found)})"
    return [(p, found[p]) for p in packages]


def test_merged_usr_moves_top_level_library_and_binary_dirs():
    assert merged_usr("lib/x86_64-linux-gnu/libc.so.6") == "usr/lib/x86_64-linux-gnu/libc.so.6"
    assert merged_usr("lib64/ld-linux-x86-64.so.2") == "usr/lib64/ld-linux-x86-64.so.2"
    assert merged_usr("bin") == "usr/bin"
    assert merged_usr("etc/libfoo") == "etc/libfoo"


def test_docs_and_man_pages_are_dropped_but_copyright_kept():
    assert not kept("usr/share/man/man1/python3.11.1.gz")
    assert not kept("usr/share/doc/libc6/changelog.Debian.gz")
    assert kept("usr/share/doc/libc6/copyright")
    assert kept("usr/lib/python3.11/os.py")


def test_layer_from_real_packages(tmp_path):
    layer = debian_layer(_debs("libc6", "ca-certificates", "netbase"), merged_usr_links=True)
    paths = set(layer.entries)
    assert "usr/lib64/ld-linux-x86-64.so.2" in paths and "lib64/ld-linux-x86-64.so.2" not in paths
    assert layer.entries["lib64"].linkname == "usr/lib64"
    assert "etc/services" in paths
    bundle = layer.entries[CA_BUNDLE].read()
    assert bundle.count(b"-----BEGIN CERTIFICATE-----") > 100
    assert not any(p.startswith("usr/share/man/") for p in paths)
    first = layer.write(tmp_path / "a.tar.gz")
    again = debian_layer(_debs("netbase", "ca-certificates", "libc6"), merged_usr_links=True).write(
        tmp_path / "b.tar.gz"
    )
    assert first == again
    with tarfile.open(tmp_path / "a.tar.gz") as tar:
        assert tar.getmember("usr/lib/x86_64-linux-gnu/libc.so.6").isfile()


def test_package_order_does_not_change_content(tmp_path):
    one = debian_layer(_debs("netbase", "media-types"), merged_usr_links=False).write(tmp_path / "1.tar.gz")
    two = debian_layer(_debs("media-types", "netbase"), merged_usr_links=False).write(tmp_path / "2.tar.gz")
    assert one == two


def test_not_a_deb_is_named(tmp_path):
    bogus = tmp_path / "bogus.deb"
    bogus.write_bytes(b"PK\x03\x04 not an ar archive")
    with pytest.raises(DebError, match="bogus.deb is not a Debian package"):
        list(ar_members(bogus))
