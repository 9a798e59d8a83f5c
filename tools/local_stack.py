"""flywheel run: the main job on one machine, with embedded defaults.

Starts the local services (Kafka, MLflow, Prometheus) and Dagster (webserver and
daemon), materialises the asset graph, and prints where to look. Everything it
starts keeps running until `tools/flywheel down` (or Ctrl-C while it starts).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from tools.services.cli import DEFAULT_PORTS, SERVICES, down, up
from tools.services.process import ServiceError

REPO_ROOT = Path(__file__).resolve().parents[1]


def step(message: str) -> None:
    print(f"==> {message}", flush=True)


def materialize_all(state_dir: Path, dagster_home: Path) -> None:
    """Materialises every asset through the same Dagster instance the UI shows."""
    env = dict(os.environ, DAGSTER_HOME=str(dagster_home), PYTHONPATH=str(REPO_ROOT))
    cmd = [sys.executable, "-m", "dagster", "asset", "materialize", "--select", "*", "-m", "assets.definitions"]
    result = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False)
    log = state_dir / "materialize.log"
    log.write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        raise ServiceError(f"materialising the asset graph failed (full log: {log}):\n{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tools/flywheel run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=REPO_ROOT / ".flywheel",
        help="where data, logs and service state live (default: .flywheel)",
    )
    parser.add_argument(
        "--dagster-port", type=int, default=DEFAULT_PORTS["dagster"], help="Dagster UI port (default 3000)"
    )
    parser.add_argument(
        "--no-ui", action="store_true", help="do not start the Dagster UI; materialise and stop the services"
    )
    args = parser.parse_args(argv)
    state_dir = args.state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    dagster_home = state_dir / "dagster"
    started = time.monotonic()
    try:
        step("starting Kafka, MLflow and Prometheus")
        ports = {**DEFAULT_PORTS, "dagster": args.dagster_port}
        names = list(SERVICES) if args.no_ui else [*SERVICES, "dagster"]
        records = up(state_dir, names, ports)
        step("materialising the asset graph")
        materialize_all(state_dir, dagster_home)
    except ServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        down(state_dir)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted: stopping everything that was started", file=sys.stderr)
        down(state_dir)
        return 130
    step(f"done in {time.monotonic() - started:.0f} s; where to look:")
    for record in records:
        for kind, url in record.urls.items():
            print(f"    {record.name:<11} {kind:<18} {url}")
    if args.no_ui:
        down(state_dir)
    else:
        print("    stop everything with: tools/flywheel down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
