"""Turns pinned Debian packages into one image layer: the data of each .deb, merged-/usr, docs and man pages dropped.

Maintainer scripts are never run, so the two things they would generate are made
here: the CA bundle update-ca-certificates writes, and the merged-/usr links
(/bin -> usr/bin, ...) that bookworm's base system has.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from pathlib import Path

from tools.images.deterministic_tar import Entry, Layer, normalise

_AR_MAGIC = b"!<arch>\n"
MERGED_USR = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
# Dropped to keep images small; each package's copyright file is kept (its licence travels with it).
_DROPPED_PREFIXES = ("usr/share/man/", "usr/share/info/", "usr/share/lintian/", "usr/share/bug/")
CA_BUNDLE = "etc/ssl/certs/ca-certificates.crt"
_CA_SOURCES = "usr/share/ca-certificates/"


class DebError(ValueError):
    """A .deb file cannot be read; the message names the file."""


def ar_members(deb: Path) -> Iterator[tuple[str, bytes]]:
    """(name, content) of each member of an ar archive (the .deb container format)."""
    data = deb.read_bytes()
    if not data.startswith(_AR_MAGIC):
        raise DebError(f"{deb} is not a Debian package (no ar header)")
    offset = len(_AR_MAGIC)
    while offset + 60 <= len(data):
        header = data[offset : offset + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        start = offset + 60
        yield name, data[start : start + size]
        offset = start + size + (size % 2)


def data_tar(deb: Path) -> tarfile.TarFile:
    """The data.tar.* member of a .deb, opened for reading."""
    for name, content in ar_members(deb):
        if name.startswith("data.tar"):
            if name.endswith(".zst"):
                raise DebError(f"{deb}: {name} is zstd-compressed, which Python 3.11 cannot read")
            return tarfile.open(fileobj=io.BytesIO(content), mode="r:*")
    raise DebError(f"{deb} has no data.tar member")


def merged_usr(path: str) -> str:
    """'lib/x86_64-linux-gnu/libc.so.6' -> 'usr/lib/x86_64-linux-gnu/libc.so.6' (bookworm's merged /usr)."""
    head, _, rest = path.partition("/")
    return f"usr/{head}/{rest}".rstrip("/") if head in MERGED_USR else path


def kept(path: str) -> bool:
    """Whether a package file goes into the image (docs, man pages and lintian overrides do not)."""
    if path.startswith(_DROPPED_PREFIXES):
        return False
    if path.startswith("usr/share/doc/"):
        return path.count("/") <= 3 or path.endswith("/copyright")
    return True


def deb_entries(deb: Path, package: str) -> Iterator[Entry]:
    """The layer entries of one package's files."""
    with data_tar(deb) as tar:
        for member in tar:
            path = merged_usr(normalise(member.name))
            if not path or not kept(path):
                continue
            origin = f"{package} ({deb.name})"
            if member.isdir():
                yield Entry(path, kind=tarfile.DIRTYPE, mode=member.mode, origin=origin)
            elif member.issym():
                yield Entry(path, kind=tarfile.SYMTYPE, mode=0o777, linkname=member.linkname, origin=origin)
            elif member.islnk():
                target = merged_usr(normalise(member.linkname))
                yield Entry(path, kind=tarfile.LNKTYPE, mode=member.mode, linkname=target, origin=origin)
            elif member.isfile():
                handle = tar.extractfile(member)
                assert handle is not None
                yield Entry(path, mode=member.mode, data=handle.read(), origin=origin)
            else:
                raise DebError(f"{deb}: member {member.name} is a device or fifo; images hold none")


def ca_bundle(layer: Layer) -> Entry | None:
    """The CA bundle update-ca-certificates would write: every shipped certificate, in path order."""
    certificates = sorted(p for p in layer.entries if p.startswith(_CA_SOURCES) and p.endswith(".crt"))
    if not certificates:
        return None
    pem = b"".join(layer.entries[p].read().rstrip(b"\n") + b"\n" for p in certificates)
    return Entry(CA_BUNDLE, data=pem, origin="generated from /usr/share/ca-certificates")


def debian_layer(debs: list[tuple[str, Path]], merged_usr_links: bool) -> Layer:
    """One layer holding every package's files (and the merged-/usr links when this is the bottom layer)."""
    layer = Layer()
    if merged_usr_links:
        for name in ("bin", "sbin", "lib", "lib64"):
            layer.add(Entry(name, kind=tarfile.SYMTYPE, mode=0o777, linkname=f"usr/{name}", origin="merged /usr"))
    for package, deb in debs:
        layer.add_all(deb_entries(deb, package))
    bundle = ca_bundle(layer)
    if bundle is not None:
        layer.add(bundle)
    return layer
