"""Writes image layers as byte-reproducible gzipped tarballs: sorted entries, mtime 0, owner 0, gzip mtime 0."""

from __future__ import annotations

import gzip
import hashlib
import io
import stat
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO


class LayerConflictError(ValueError):
    """Two sources put different content at the same path of one layer."""


@dataclass
class Entry:
    """One member of a layer: what lies at `path` inside the image."""

    path: str
    """Path inside the image, relative, without a leading '/' or './'."""
    kind: bytes = tarfile.REGTYPE
    """tarfile member type: REGTYPE, DIRTYPE, SYMTYPE or LNKTYPE."""
    mode: int = 0o644
    """Permission bits (setuid etc. kept for Debian files)."""
    data: bytes | None = None
    """File content held in memory (Debian layers, generated files)."""
    source: Path | None = None
    """File content read from disk when the layer is written (Python layers)."""
    linkname: str = ""
    """Target of a symlink, or the layer path of a hard link's original."""
    uid: int = 0
    """Owner; 0 except for the few paths the image's user must write (its home)."""
    origin: str = ""
    """Where the entry came from (package, file), for error messages."""
    size: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.path = normalise(self.path)
        if self.data is not None:
            self.size = len(self.data)
        elif self.source is not None:
            self.size = self.source.stat().st_size

    def same_as(self, other: Entry) -> bool:
        """Whether two entries for one path are interchangeable (identical content and kind)."""
        if self.kind != other.kind:
            return False
        if self.kind == tarfile.DIRTYPE:
            return True
        if self.kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
            return self.linkname == other.linkname
        return self.mode == other.mode and self.read() == other.read()

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        if self.source is not None:
            return self.source.read_bytes()
        return b""


def normalise(path: str) -> str:
    """'./usr//bin/' -> 'usr/bin'; rejects paths that escape the image root."""
    parts = [p for p in PurePosixPath("/" + path).parts[1:] if p not in ("", ".")]
    if ".." in parts:
        raise ValueError(f"layer path '{path}' contains '..'")
    return "/".join(parts)


def file_mode(path: Path) -> int:
    """0755 for anything executable on disk, else 0644: host umasks never leak into a layer."""
    return 0o755 if path.stat().st_mode & stat.S_IXUSR else 0o644


class Layer:
    """The entries of one layer, keyed by path; written sorted, with parent directories made explicit."""

    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}

    def add(self, entry: Entry) -> None:
        """Adds an entry; an identical duplicate is ignored, a different one raises LayerConflictError."""
        if not entry.path:
            return
        existing = self.entries.get(entry.path)
        if existing is None:
            self.entries[entry.path] = entry
        elif not existing.same_as(entry):
            raise LayerConflictError(
                f"'/{entry.path}' comes from both {existing.origin or '?'} and {entry.origin or '?'} with different "
                "content; drop one of them from the image"
            )

    def add_all(self, entries: Iterable[Entry]) -> None:
        for entry in entries:
            self.add(entry)

    def directory(self, path: str, mode: int = 0o755, uid: int = 0) -> None:
        self.add(Entry(path, kind=tarfile.DIRTYPE, mode=mode, uid=uid, origin="image skeleton"))

    def _with_parents(self) -> list[Entry]:
        entries = dict(self.entries)
        for path in list(entries):
            parent = PurePosixPath(path).parent
            while str(parent) not in (".", ""):
                entries.setdefault(str(parent), Entry(str(parent), kind=tarfile.DIRTYPE, mode=0o755))
                parent = parent.parent
        return [entries[p] for p in sorted(entries)]

    def write(self, out: Path, compresslevel: int = 6) -> LayerDigests:
        """Writes the gzipped tarball to out; returns its digests (sha256 of the gzip and of the tar inside)."""
        with out.open("wb") as raw:
            compressed = _HashingWriter(raw)
            with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, mtime=0, compresslevel=compresslevel) as gz:
                uncompressed = _HashingWriter(gz)
                with tarfile.open(fileobj=uncompressed, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                    for entry in self._with_parents():
                        _write_entry(tar, entry)
        return LayerDigests(
            digest="sha256:" + compressed.sha256.hexdigest(),
            diff_id="sha256:" + uncompressed.sha256.hexdigest(),
            size=compressed.size,
        )


@dataclass(frozen=True)
class LayerDigests:
    """How an image manifest and config refer to one layer."""

    digest: str
    """sha256 of the gzipped tarball (the blob)."""
    diff_id: str
    """sha256 of the uncompressed tar (the image config's rootfs.diff_ids)."""
    size: int
    """Bytes of the gzipped tarball."""


def _write_entry(tar: tarfile.TarFile, entry: Entry) -> None:
    info = tarfile.TarInfo(entry.path + ("/" if entry.kind == tarfile.DIRTYPE else ""))
    info.type = entry.kind
    info.mode = entry.mode
    info.uid = info.gid = entry.uid
    info.uname = info.gname = ""
    info.mtime = 0
    info.linkname = entry.linkname
    if entry.kind == tarfile.REGTYPE:
        if entry.data is not None:
            info.size = len(entry.data)
            tar.addfile(info, io.BytesIO(entry.data))
        else:
            assert entry.source is not None, f"{entry.path}: a file entry needs data or a source"
            info.size = entry.source.stat().st_size
            with entry.source.open("rb") as handle:
                tar.addfile(info, handle)
    else:
        tar.addfile(info)


class _HashingWriter:
    """A write-only stream that hashes and counts what passes through to `sink`."""

    def __init__(self, sink: BinaryIO) -> None:
        self.sink = sink
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.size += len(data)
        self.sink.write(data)
        return len(data)

    def flush(self) -> None:
        self.sink.flush()
