"""flywheel run: the main job on one machine, with embedded defaults.

Starts the local services (Kafka, MLflow, Prometheus) and Dagster (webserver and
daemon), generates a card-transaction history, streams a little live traffic and
late labels through Kafka, materialises the graph from raw data to the gated,
registered champion and its drift reference, and prints where to look.
Everything it starts keeps running until `tools/flywheel down` (or Ctrl-C while
it starts).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tools.services.cli import DEFAULT_PORTS, SERVICES, down, up
from tools.services.dagster_dev import DAGSTER_YAML
from tools.services.process import ServiceError

REPO_ROOT = Path(__file__).resolve().parents[1]


def step(message: str) -> None:
    print(f"==> {message}", flush=True)


# The graph up to the gated champion and its drift reference; serving the champion and the drift demo are
# the next steps of the main job (see docs/status.md).
MAIN_JOB_ASSETS = (
    "build_info",
    "raw_transactions",
    "streamed_transactions",
    "validated_transactions",
    "chargeback_labels",
    "transaction_features",
    "training_set",
    "online_features",
    "fraud_model",
    "model_evaluation",
    "drift_reference",
)


def generate_history(lake: Path, cards: int, days: int, seed: int) -> int:
    """Writes the generator's history under lake/history unless it is there already; returns its row count."""
    from domain.generator import GeneratorConfig, write_history

    history = lake / "history"
    if (history / "transactions").exists():
        return -1
    config = GeneratorConfig(n_cards=cards, n_merchants=max(cards // 10, 50), days=days, seed=seed, label_delay_days=3)
    return write_history(config, history).transactions


def stream_traffic(bootstrap: str, cards: int, days: int, seconds: float, seed: int, state_file: Path) -> None:
    """Streams live traffic that continues the history; a later run continues after the last streamed day."""
    from assets.ingestion.live_stream import stream_live

    first_day = json.loads(state_file.read_text())["next_day"] if state_file.exists() else days
    counts = stream_live(
        bootstrap,
        rate=200,
        seconds=seconds,
        seed=seed,
        n_cards=cards,
        n_merchants=max(cards // 10, 50),
        first_day=first_day,
        label_delay_compression=1440,
    )
    state_file.write_text(json.dumps({"next_day": counts.next_day}))
    print(f"    {counts.transactions:,} transactions, {counts.chargebacks:,} chargebacks (day {first_day})", flush=True)


def materialize_all(state_dir: Path, dagster_home: Path, training_config: str) -> None:
    """Materialises the main job's assets through the same Dagster instance the UI shows."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    if not (dagster_home / "dagster.yaml").exists():
        (dagster_home / "dagster.yaml").write_text(DAGSTER_YAML)
    env = dict(os.environ, DAGSTER_HOME=str(dagster_home), PYTHONPATH=str(REPO_ROOT))
    run_config = state_dir / "main_job_config.json"
    run_config.write_text(json.dumps({"ops": {"fraud_model": {"config": {"training_config": training_config}}}}))
    cmd = [
        sys.executable,
        "-m",
        "dagster",
        "asset",
        "materialize",
        "--select",
        ",".join(MAIN_JOB_ASSETS),
        "-m",
        "assets.definitions",
        "-c",
        str(run_config),
    ]
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
    parser.add_argument("--cards", type=int, default=2000, help="cards in the generated history (default 2000)")
    parser.add_argument("--days", type=int, default=21, help="days of generated history (default 21)")
    parser.add_argument("--stream-seconds", type=float, default=10, help="seconds of live traffic (default 10)")
    parser.add_argument(
        "--training-config", default="tiny", help="training config name or YAML path (default tiny; full for real)"
    )
    parser.add_argument("--seed", type=int, default=7, help="generator seed (default 7)")
    parser.add_argument(
        "--fresh", action="store_true", help="delete the data of earlier runs (.flywheel) before starting"
    )
    parser.add_argument(
        "--dagster-port", type=int, default=DEFAULT_PORTS["dagster"], help="Dagster UI port (default 3000)"
    )
    parser.add_argument(
        "--no-ui", action="store_true", help="do not start the Dagster UI; materialise and stop the services"
    )
    args = parser.parse_args(argv)
    state_dir = REPO_ROOT / ".flywheel"  # the resources in assets/definitions.py default to it
    if args.fresh:
        down(state_dir)
        shutil.rmtree(state_dir, ignore_errors=True)
    state_dir.mkdir(parents=True, exist_ok=True)
    dagster_home = state_dir / "dagster"
    started = time.monotonic()
    try:
        step("starting Kafka, MLflow and Prometheus")
        ports = {**DEFAULT_PORTS, "dagster": args.dagster_port}
        names = list(SERVICES) if args.no_ui else [*SERVICES, "dagster"]
        records = up(state_dir, names, ports)
        step(f"generating {args.days} days of history for {args.cards} cards")
        rows = generate_history(state_dir / "lake", args.cards, args.days, args.seed)
        print(f"    {'kept the existing history' if rows < 0 else f'{rows:,} transactions'}", flush=True)
        step(f"streaming {args.stream_seconds:.0f} s of live transactions and late labels through Kafka")
        kafka = next(r for r in records if r.name == "kafka")
        stream_traffic(
            kafka.urls["bootstrap_servers"],
            args.cards,
            args.days,
            args.stream_seconds,
            args.seed,
            state_dir / "stream_state.json",
        )
        step("materialising raw data -> features -> training set -> model -> gate -> drift reference")
        materialize_all(state_dir, dagster_home, args.training_config)
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
