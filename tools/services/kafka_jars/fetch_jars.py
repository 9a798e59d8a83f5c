"""Fetches the Apache Kafka broker's jars from Maven Central, checked against jars.sha256.

The jars land in a content-addressed cache (~/.cache/flywheel/kafka/<key>) that
the `kafka_jars` Bazel repository and the `flywheel services` CLI both use.
`--update` rewrites jars.sha256 after the version in pom.xml changes.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_pins(pins_file: Path) -> dict[str, str]:
    pins = {}
    for line in pins_file.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            digest, name = line.split()
            pins[name] = digest
    return pins


def cache_dir(pom: Path, pins_file: Path) -> Path:
    root = os.environ.get("FLYWHEEL_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "flywheel"
    )
    key = hashlib.sha256(pom.read_bytes() + pins_file.read_bytes()).hexdigest()[:20]
    return Path(root) / "kafka" / key


def copy_dependencies(pom: Path, out: Path) -> None:
    mvn = shutil.which("mvn")
    if not mvn:
        raise SystemExit("Maven is not installed: run `apt-get install -y maven` (tools/setup.sh does)")
    cmd = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(pom),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={out}",
        "-DincludeScope=runtime",
    ]
    result = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"Maven could not fetch the Kafka jars:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")


def ensure_jars(pom: Path = HERE / "pom.xml", pins_file: Path = HERE / "jars.sha256") -> Path:
    """Returns the directory holding the verified jars, fetching them if needed."""
    dest = cache_dir(pom, pins_file)
    if (dest / "COMPLETE").exists():
        return dest / "lib"
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="jars.", dir=dest.parent))
    copy_dependencies(pom, staging / "lib")
    pins = read_pins(pins_file)
    got = {p.name: sha256_of(p) for p in (staging / "lib").glob("*.jar")}
    if got != pins:
        wrong = sorted(n for n in set(got) | set(pins) if got.get(n) != pins.get(n))
        shutil.rmtree(staging, ignore_errors=True)
        raise SystemExit(
            f"Kafka jars do not match {pins_file}: {wrong}. If pom.xml changed on purpose, run `tools/python/lock.sh`."
        )
    (staging / "COMPLETE").write_text("ok\n")
    try:
        staging.rename(dest)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
    return dest / "lib"


def update_pins(pom: Path, pins_file: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        copy_dependencies(pom, Path(tmp))
        lines = [f"{sha256_of(p)}  {p.name}" for p in sorted(Path(tmp).glob("*.jar"))]
    pins_file.write_text(
        "# sha256 of every jar pom.xml resolves to; written by fetch_jars.py --update\n" + "\n".join(lines) + "\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pom", type=Path, default=HERE / "pom.xml")
    parser.add_argument("--pins", type=Path, default=HERE / "jars.sha256")
    parser.add_argument("--update", action="store_true", help="rewrite the pins from what Maven resolves")
    args = parser.parse_args()
    if args.update:
        update_pins(args.pom, args.pins)
        print(f"wrote {args.pins}")
    else:
        print(ensure_jars(args.pom, args.pins))


if __name__ == "__main__":
    main()
