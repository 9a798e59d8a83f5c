"""Resolves debian_packages.json against this machine's apt index into debian.lock.json.

The lock pins every package of each base-layer set to one version, its sha256 and
its URLs. Debian's mirror drops superseded versions, so a pin eventually stops
downloading; Bazel's repository cache (content-addressed by sha256, kept across
`bazel clean --expunge`) keeps building it on machines that fetched it once, and
re-running this script (`apt-get update` first) moves every pin to the current
versions: docs/infra.md, "Keeping the base layer's pins alive".
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
_URI = re.compile(r"^'(?P<url>[^']+)' (?P<file>\S+) (?P<size>\d+) SHA256:(?P<sha256>[0-9a-f]{64})$")
_ARCHIVE = re.compile(r"^https?://[^/]+/(?P<archive>[^/]+)/(?P<path>pool/.+)$")


class LockError(RuntimeError):
    """The apt index cannot satisfy the package list; the message names the package."""


def parse_stanza(text: str) -> dict[str, str]:
    """One `apt-cache show` stanza as a dict (continuation lines joined)."""
    fields: dict[str, str] = {}
    key = None
    for line in text.splitlines():
        if line.startswith((" ", "\t")) and key:
            fields[key] += "\n" + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def dependency_alternatives(field: str) -> list[list[str]]:
    """`a (>= 1) | b, c:any` -> [['a', 'b'], ['c']] (version constraints and arch qualifiers dropped)."""
    groups = []
    for clause in filter(None, (c.strip() for c in field.split(","))):
        names = [re.split(r"[\s(:]", alt.strip(), maxsplit=1)[0] for alt in clause.split("|")]
        groups.append([n for n in names if n])
    return groups


@functools.cache
def show(package: str) -> dict[str, str] | None:
    """The candidate version's stanza, or None if apt knows no real package of that name."""
    result = subprocess.run(
        ["apt-cache", "show", "--no-all-versions", package], capture_output=True, text=True, check=False
    )
    if result.returncode != 0 or not result.stdout.strip():
        return None
    return parse_stanza(result.stdout.strip().split("\n\n")[0])


def resolve(roots: list[str], exclude: set[str], already: set[str]) -> dict[str, dict[str, str]]:
    """The Depends/Pre-Depends closure of roots, minus excluded and already-layered packages."""
    found: dict[str, dict[str, str]] = {}
    queue = list(roots)
    while queue:
        name = queue.pop(0)
        if name in found or name in exclude or name in already:
            continue
        stanza = show(name)
        if stanza is None:
            raise LockError(f"package '{name}' is not in the apt index: run `apt-get update`, or fix its name")
        found[name] = stanza
        for field in ("Pre-Depends", "Depends"):
            for alternatives in dependency_alternatives(stanza.get(field, "")):
                if any(a in found or a in exclude or a in already for a in alternatives):
                    continue
                real = next((a for a in alternatives if show(a) is not None), None)
                if real is None:
                    raise LockError(f"'{name}' depends on {' | '.join(alternatives)}, which no real package provides")
                queue.append(real)
    return found


def download_info(name: str, version: str) -> dict[str, object]:
    """URL, size and sha256 of one package version, as apt itself would fetch it."""
    result = subprocess.run(
        ["apt-get", "download", "--print-uris", f"{name}={version}"], capture_output=True, text=True, check=False
    )
    match = next(filter(None, (_URI.match(line) for line in result.stdout.splitlines())), None)
    if match is None:
        raise LockError(f"apt-get cannot locate {name}={version}: {result.stderr.strip() or result.stdout.strip()}")
    return {"url": match["url"], "size": int(match["size"]), "sha256": match["sha256"]}


def snapshot_url(url: str, stamp: str) -> str | None:
    """The same file on snapshot.debian.org as the archive looked at `stamp` (survives the mirror dropping it)."""
    match = _ARCHIVE.match(url)
    return f"https://snapshot.debian.org/archive/{match['archive']}/{stamp}/{match['path']}" if match else None


def build_lock(spec: dict, stamp: str) -> dict:
    """The lock for every set of spec, in declaration order."""
    exclude = set(spec.get("exclude", []))
    sets: dict[str, list[str]] = {}
    packages: dict[str, dict] = {}
    for set_name, entry in spec["sets"].items():
        below = {p for dep in entry.get("on_top_of", []) for p in sets[dep]}
        resolved = resolve(entry["packages"], exclude, below)
        sets[set_name] = sorted(resolved)
        for name in sorted(resolved):
            stanza = resolved[name]
            info = download_info(name, stanza["Version"])
            urls = [info["url"]]
            mirror_copy = snapshot_url(str(info["url"]), stamp)
            if mirror_copy:
                urls.append(mirror_copy)
            packages[name] = {
                "version": stanza["Version"],
                "architecture": stanza.get("Architecture", ""),
                "sha256": info["sha256"],
                "size": info["size"],
                "urls": urls,
            }
    return {
        "_doc": "Generated by tools/images/debian_lock.py from debian_packages.json; do not edit by hand.",
        "distribution": spec["distribution"],
        "locked_at": stamp,
        "sets": sets,
        "packages": packages,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, default=HERE / "debian_packages.json")
    parser.add_argument("--out", type=Path, default=HERE / "debian.lock.json")
    args = parser.parse_args()
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    try:
        lock = build_lock(json.loads(args.spec.read_text()), stamp)
    except LockError as exc:
        sys.exit(f"debian_lock: {exc}")
    args.out.write_text(json.dumps(lock, indent=2, sort_keys=True) + "\n")
    counts = ", ".join(f"{name}: {len(members)}" for name, members in lock["sets"].items())
    print(f"wrote {args.out} ({counts} packages)")


if __name__ == "__main__":
    main()
