"""Layers are byte-reproducible: sorted, mtime 0, owner 0, gzip mtime 0; conflicts are refused."""

import gzip
import tarfile

import pytest

from tools.images.deterministic_tar import Entry, Layer, LayerConflictError, normalise


def _layer(tmp_path, order):
    (tmp_path / "tool.sh").write_text("#!/bin/sh\necho hi\n")
    (tmp_path / "tool.sh").chmod(0o700)
    entries = {
        "data": Entry("./opt/app/data.txt", data=b"payload"),
        "tool": Entry("opt/app/bin/tool.sh", source=tmp_path / "tool.sh", mode=0o755),
        "link": Entry("opt/app/current", kind=tarfile.SYMTYPE, linkname="bin", mode=0o777),
    }
    layer = Layer()
    for key in order:
        layer.add(entries[key])
    return layer


def test_same_entries_in_any_order_give_identical_bytes(tmp_path):
    first = _layer(tmp_path, ["data", "tool", "link"]).write(tmp_path / "a.tar.gz")
    second = _layer(tmp_path, ["link", "tool", "data"]).write(tmp_path / "b.tar.gz")
    assert first == second
    assert (tmp_path / "a.tar.gz").read_bytes() == (tmp_path / "b.tar.gz").read_bytes()


def test_members_are_sorted_normalised_and_parents_explicit(tmp_path):
    _layer(tmp_path, ["data", "tool", "link"]).write(tmp_path / "l.tar.gz")
    with tarfile.open(tmp_path / "l.tar.gz") as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names)
    assert names[:3] == ["opt", "opt/app", "opt/app/bin"]
    assert all(m.mtime == 0 and m.uid == 0 and m.gid == 0 and m.uname == "" for m in members)
    modes = {m.name: m.mode for m in members}
    assert modes["opt/app/bin/tool.sh"] == 0o755 and modes["opt/app/data.txt"] == 0o644


def test_gzip_header_has_no_timestamp_or_name(tmp_path):
    _layer(tmp_path, ["data"]).write(tmp_path / "l.tar.gz")
    header = (tmp_path / "l.tar.gz").read_bytes()[:10]
    assert header[4:8] == b"\x00\x00\x00\x00"  # MTIME
    assert not header[3] & 0x08  # no FNAME
    with gzip.open(tmp_path / "l.tar.gz") as handle:
        assert handle.read(512)


def test_digests_describe_the_blob_and_the_tar(tmp_path):
    import hashlib

    digests = _layer(tmp_path, ["data"]).write(tmp_path / "l.tar.gz")
    blob = (tmp_path / "l.tar.gz").read_bytes()
    assert digests.digest == "sha256:" + hashlib.sha256(blob).hexdigest()
    assert digests.diff_id == "sha256:" + hashlib.sha256(gzip.decompress(blob)).hexdigest()
    assert digests.size == len(blob)


def test_identical_duplicates_merge_and_different_ones_are_refused():
    layer = Layer()
    layer.add(Entry("etc/x", data=b"1", origin="pkg-a"))
    layer.add(Entry("etc/x", data=b"1", origin="pkg-b"))
    with pytest.raises(LayerConflictError, match="pkg-a.*pkg-c"):
        layer.add(Entry("etc/x", data=b"2", origin="pkg-c"))


def test_paths_escaping_the_root_are_refused():
    assert normalise("./usr//lib/") == "usr/lib"
    with pytest.raises(ValueError, match="'..'"):
        normalise("usr/../../etc/passwd")
