"""The Python layers of an image: locked third-party distributions, and the application's own files.

Third-party code comes from a `pip_lock_repository` site directory (the hash-pinned
lock, installed by uv): the image takes the dependency closure of the distributions
it names, file by file from each distribution's RECORD, into Debian's site directory
for local packages, so `.pth` files work and console scripts land on PATH.
"""

from __future__ import annotations

import csv
import re
import tarfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement

from tools.images.deterministic_tar import Entry, Layer, file_mode

SITE_PACKAGES = "usr/local/lib/python3.11/dist-packages"
SCRIPTS = "usr/local/bin"
APP_ROOT = "app"


class ClosureError(LookupError):
    """A required distribution is not in the locked site directory."""


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Distribution:
    """One installed distribution of the site directory."""

    name: str
    """Canonical project name."""
    dist: metadata.Distribution
    """Its metadata, read from the .dist-info folder."""

    def requirements(self, extras: frozenset[str]) -> list[Requirement]:
        """Its Requires-Dist entries that apply on the image's platform with the given extras."""
        wanted = []
        for line in self.dist.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None:
                wanted.append(requirement)
                continue
            environment = dict(default_environment())
            if any(requirement.marker.evaluate({**environment, "extra": extra}) for extra in extras | {""}):
                wanted.append(requirement)
        return wanted


def installed(site: Path) -> dict[str, Distribution]:
    """Every distribution of a site directory, by canonical name."""
    found = {}
    for dist in metadata.distributions(path=[str(site)]):
        name = canonical(dist.metadata["Name"])
        found[name] = Distribution(name, dist)
    return found


def closure(site: Path, roots: list[str], other_sites: tuple[Path, ...] = ()) -> list[Distribution]:
    """The distributions roots need (with their extras), sorted by name; raises ClosureError naming a gap.

    Requirements are followed through other_sites too (torch's repository needs filelock from the base
    one), but only distributions of `site` are returned: each layer holds one repository's files.
    """
    available: dict[str, Distribution] = {}
    for other in other_sites:
        available.update(installed(other))
    own = installed(site)
    available.update(own)
    needed: dict[str, set[str]] = {}
    queue = [(Requirement(root), "the image's list") for root in roots]
    while queue:
        requirement, wanted_by = queue.pop(0)
        name = canonical(requirement.name)
        if name not in available:
            raise ClosureError(
                f"'{requirement.name}' (needed by {wanted_by}) is not in the locked site {site}: add it to "
                "tools/python/requirements.in and run tools/python/lock.sh"
            )
        extras = set(requirement.extras)
        if name in needed and extras <= needed[name]:
            continue
        needed[name] = needed.get(name, set()) | extras
        for dependency in available[name].requirements(frozenset(needed[name])):
            queue.append((dependency, name))
    return [own[name] for name in sorted(needed) if name in own]


def record_paths(dist: Distribution) -> list[str]:
    """The files a distribution installed, relative to the site directory (from its RECORD)."""
    record = dist.dist.read_text("RECORD")
    if record is None:
        raise ClosureError(f"{dist.name} has no RECORD file; it cannot be copied into an image file by file")
    return sorted({row[0] for row in csv.reader(record.splitlines()) if row and not row[0].endswith(".pyc")})


def image_path(relative: str) -> str:
    """Where a site-relative file goes in the image: scripts to /usr/local/bin, the rest to dist-packages."""
    if relative.startswith("bin/"):
        return f"{SCRIPTS}/{relative[4:]}"
    return f"{SITE_PACKAGES}/{relative}"


def dependency_layer(
    site: Path, roots: list[str], other_sites: tuple[Path, ...] = ()
) -> tuple[Layer, list[Distribution]]:
    """The layer of the roots' dependency closure within `site`, and the distributions it holds."""
    layer = Layer()
    distributions = closure(site, roots, other_sites)
    for dist in distributions:
        for relative in record_paths(dist):
            source = site / relative
            if source.is_symlink() or not source.is_file():
                raise ClosureError(f"{dist.name}: RECORD lists {relative}, which is not a regular file in {site}")
            layer.add(Entry(image_path(relative), mode=file_mode(source), source=source, origin=dist.name))
    return layer, distributions


def application_layer(files: list[tuple[str, Path]]) -> Layer:
    """The application's own files at /app/<workspace path> (the py_* targets' sources and data)."""
    layer = Layer()
    for relative, source in files:
        if source.is_dir():
            for path in sorted(p for p in source.rglob("*") if p.is_file()):
                inner = f"{relative}/{path.relative_to(source).as_posix()}"
                layer.add(Entry(f"{APP_ROOT}/{inner}", mode=file_mode(path), source=path, origin=inner))
        else:
            layer.add(Entry(f"{APP_ROOT}/{relative}", mode=file_mode(source), source=source, origin=relative))
    return layer


def user_entries(name: str, uid: int) -> list[Entry]:
    """/etc/passwd, /etc/group and a home for the image's one non-root user (plus root, which owns the files)."""
    passwd = f"root:x:0:0:root:/root:/usr/sbin/nologin\n{name}:x:{uid}:{uid}:{name}:/home/{name}:/usr/sbin/nologin\n"
    group = f"root:x:0:\n{name}:x:{uid}:\n"
    return [
        Entry("etc/passwd", data=passwd.encode(), origin="image user"),
        Entry("etc/group", data=group.encode(), origin="image user"),
        Entry(f"home/{name}", kind=tarfile.DIRTYPE, mode=0o755, uid=uid, origin="image user"),
        Entry("tmp", kind=tarfile.DIRTYPE, mode=0o1777, origin="image skeleton"),
    ]
