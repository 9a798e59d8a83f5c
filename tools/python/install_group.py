"""Installs one group of the hash-pinned lock into a content-addressed cache.

Called by the `pip_lock_repository` Bazel rule (pip.bzl) and by tools/setup.sh.
The install directory is keyed by the sha256 of the group's pinned lines, so a
change elsewhere in the lock reuses it untouched, and a fresh clone on the same
machine reuses it too. pyspark publishes only an sdist: uv builds it once and
caches the wheel by the sdist's hash.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

_REQ_START = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def parse_lock(text: str) -> dict[str, str]:
    """Maps each normalised package name to its pinned block (name==version and hashes)."""
    blocks: dict[str, list[str]] = {}
    current: str | None = None
    for line in text.splitlines():
        match = _REQ_START.match(line)
        if match:
            current = normalise(match.group(1))
            blocks[current] = [line.rstrip(" \\")]
        elif current and line.strip().startswith("--hash="):
            blocks[current].append(line.strip().rstrip(" \\"))
        elif not line.startswith(" "):
            current = None
    return {name: " \\\n    ".join(lines) for name, lines in blocks.items()}


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def select(blocks: dict[str, str], groups: dict, group: str) -> dict[str, str]:
    """The blocks of one group; the group whose patterns are null takes what no other names."""

    def matches(name: str, patterns: list[str]) -> bool:
        return any(fnmatch.fnmatch(name, normalise(p)) for p in patterns)

    named = {g: p for g, p in groups.items() if not g.startswith("_") and p is not None}
    if group not in groups:
        raise SystemExit(f"group '{group}' is not in groups.json; known: {sorted(named)}")
    if groups[group] is None:
        return {n: b for n, b in blocks.items() if not any(matches(n, p) for p in named.values())}
    return {n: b for n, b in blocks.items() if matches(n, groups[group])}


def group_key(selected: dict[str, str], python: str) -> str:
    digest = hashlib.sha256(python.encode())
    for name in sorted(selected):
        digest.update(selected[name].encode())
    return digest.hexdigest()


def install(selected: dict[str, str], dest: Path, uv: str, python: str) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=dest.name + ".", dir=dest.parent))
    requirements = staging / "requirements.txt"
    requirements.write_text("\n".join(selected[n] for n in sorted(selected)) + "\n")
    cmd = [
        uv,
        "pip",
        "install",
        "--quiet",
        "--require-hashes",
        "--no-deps",
        "--python",
        python,
        "--target",
        str(staging / "site"),
        "-r",
        str(requirements),
    ]
    result = subprocess.run(cmd, check=False)
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise SystemExit(f"uv failed ({result.returncode}) installing {dest.name}: {' '.join(cmd)}")
    (staging / "COMPLETE").write_text("ok\n")
    try:
        staging.rename(dest)
    except OSError:  # another process finished first: keep theirs
        shutil.rmtree(staging, ignore_errors=True)


def cache_root() -> Path:
    root = os.environ.get("FLYWHEEL_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "flywheel"
    )
    return Path(root)


def ensure_group(lock: Path, groups_file: Path, group: str, uv: str, python: str) -> tuple[Path, str]:
    """Returns (site directory, key) for the group, installing it if this machine lacks it."""
    blocks = parse_lock(lock.read_text())
    selected = select(blocks, json.loads(groups_file.read_text()), group)
    if not selected:
        raise SystemExit(f"group '{group}' selects no package from {lock}")
    key = group_key(selected, python)
    dest = cache_root() / "pysite" / f"{group}-{key[:20]}"
    if not (dest / "COMPLETE").exists():
        print(f"installing {len(selected)} packages of group '{group}' into {dest}", file=sys.stderr)
        install(selected, dest, uv, python)
    return dest / "site", key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lock", type=Path, required=True, help="the hash-pinned requirements.lock")
    parser.add_argument("--groups", type=Path, required=True, help="groups.json")
    parser.add_argument("--group", required=True, help="the group to install")
    parser.add_argument("--uv", default=shutil.which("uv"), help="path to uv (default: from PATH)")
    parser.add_argument("--python", default="/usr/bin/python3.11", help="interpreter to install for")
    args = parser.parse_args()
    if not args.uv:
        raise SystemExit("uv is not installed: run `python3 -m pip install uv==0.9.30` (tools/setup.sh does)")
    site, key = ensure_group(args.lock, args.groups, args.group, args.uv, args.python)
    print(site)
    print(key)


if __name__ == "__main__":
    main()
