"""flywheel services: start, stop and inspect the local Kafka, MLflow, Prometheus and its alerting path.

Prometheus scrapes itself, the pipeline exporter (the sensors' drift, quality and retraining snapshots) and, when it
runs, the inference server; it evaluates monitoring/prometheus/flywheel_rules.yml and sends alerts to Alertmanager,
whose receivers post to the pager (`flywheel services logs pager`; notifications in <state>/pager/).

Services run detached; their state (pids, URLs, logs) lives in --state-dir so
that `down` and `status` find them from any later shell.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tools.services.alerting import RULES, SNAPSHOTS, AlertmanagerService, PagerService, PipelineExporterService
from tools.services.dagster_dev import DagsterService
from tools.services.inference_server import InferenceServerService
from tools.services.kafka_broker import KafkaService
from tools.services.mlflow_server import MlflowService
from tools.services.process import ServiceError, ServiceRecord, free_port, log_tail, pid_alive, terminate_group
from tools.services.prometheus import PrometheusService

SERVICES = ("kafka", "mlflow", "exporter", "pager", "alertmanager", "prometheus")
"""Started by default, in this order: Prometheus last, once what it scrapes and alerts to answers."""
OPTIONAL = ("dagster", "server")
DEFAULT_PORTS = {
    "kafka": 9092,
    "mlflow": 5000,
    "exporter": 9108,
    "pager": 9095,
    "alertmanager": 9093,
    "prometheus": 9090,
    "dagster": 3000,
    "server": 8000,
}
SERVED_REPOSITORY = ("serving", "models")
"""Where the inference server reads its models, under the state folder (the deployment asset writes there)."""


def stack_environment(state_dir: Path, ports: dict[str, int]) -> dict[str, str]:
    """The FLYWHEEL_* variables (assets/stack_environment.py) that point Dagster and the server at this stack."""
    return {
        "FLYWHEEL_STATE_DIR": str(state_dir.resolve()),
        "FLYWHEEL_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{ports['kafka']}",
        "FLYWHEEL_MLFLOW_TRACKING_URI": f"http://127.0.0.1:{ports['mlflow']}",
        "FLYWHEEL_SERVER_URL": f"http://127.0.0.1:{ports['server']}",
    }


def _make(name: str, state_dir: Path, ports: dict[str, int], with_server: bool, extra_env: dict[str, str]):
    workdir = state_dir / name
    port = ports[name]
    env = {**stack_environment(state_dir, ports), **extra_env}
    if name == "kafka":
        return KafkaService(workdir, port=port, detach=True)
    if name == "mlflow":
        return MlflowService(workdir, port=port, detach=True)
    if name == "dagster":
        return DagsterService(workdir, port=port, detach=True, env=env)
    if name == "server":
        return InferenceServerService(
            workdir,
            state_dir.resolve().joinpath(*SERVED_REPOSITORY),
            port=port,
            kafka_bootstrap_servers=env["FLYWHEEL_KAFKA_BOOTSTRAP_SERVERS"],
            online_store=state_dir.resolve() / "lake" / "online" / "features.sqlite",
            detach=True,
            env=env,
        )
    if name == "exporter":
        return PipelineExporterService(
            workdir, port=port, detach=True, snapshot_dir=state_dir.resolve().joinpath(*SNAPSHOTS)
        )
    if name == "pager":
        return PagerService(workdir, port=port, detach=True)
    if name == "alertmanager":
        return AlertmanagerService(workdir, pager_port=ports["pager"], port=port, detach=True)
    targets = {"prometheus": [f"127.0.0.1:{port}"], "pipeline": [f"127.0.0.1:{ports['exporter']}"]}
    if with_server:
        targets["inference-server"] = [f"127.0.0.1:{ports['server']}"]
    return PrometheusService(
        workdir,
        targets=targets,
        port=port,
        scrape_interval="5s",
        rule_files=[str(RULES)],
        alertmanagers=[f"127.0.0.1:{ports['alertmanager']}"],
        detach=True,
    )


def up(
    state_dir: Path, names: list[str], ports: dict[str, int], extra_env: dict[str, str] | None = None
) -> list[ServiceRecord]:
    """Starts each named service that is not already running; all or none stay up. Port 0 picks a free one.

    Dagster and the server get the stack's FLYWHEEL_* variables plus `extra_env` (e.g. the training config and
    sensor interval of a demo).
    """
    running = {r.name: r for r in ServiceRecord.load_all(state_dir / "services") if pid_alive(r.pid)}
    ports = {**DEFAULT_PORTS, **ports}
    for name, record in running.items():  # a running service keeps its port
        ports[name] = int(record.port) if record.port else ports[name]
    ports = {name: port or free_port() for name, port in ports.items()}
    started: list[ServiceRecord] = []
    try:
        for name in names:
            if name in running:
                print(f"{name:<12} already running (pid {running[name].pid})", flush=True)
                continue
            print(f"{name:<12} starting ...", flush=True)
            service = _make(name, state_dir, ports, "server" in names, extra_env or {}).start()
            record = ServiceRecord(
                name,
                service.process.pid,
                service.urls,
                str(service.process.log_path),
                str(service.workdir),
                port=service.port,
            )
            record.save(state_dir / "services")
            started.append(record)
    except ServiceError:
        for record in started:  # never leave half the stack running
            terminate_group(record.pid)
            (state_dir / "services" / f"{record.name}.json").unlink(missing_ok=True)
        raise
    return [r for r in ServiceRecord.load_all(state_dir / "services") if r.name in names]


def down(state_dir: Path) -> None:
    for record in ServiceRecord.load_all(state_dir / "services"):
        if pid_alive(record.pid):
            terminate_group(record.pid)
            print(f"{record.name:<12} stopped (pid {record.pid})")
        (state_dir / "services" / f"{record.name}.json").unlink(missing_ok=True)


def status(state_dir: Path) -> int:
    records = ServiceRecord.load_all(state_dir / "services")
    if not records:
        print("no services recorded; start them with `flywheel services up`")
        return 1
    healthy = True
    for record in records:
        alive = pid_alive(record.pid)
        healthy &= alive
        urls = "  ".join(f"{k}={v}" for k, v in record.urls.items())
        print(f"{record.name:<12} {'up  ' if alive else 'DOWN'} pid {record.pid:<8} {urls}")
    return 0 if healthy else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="flywheel services", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path(".flywheel"),
        help="where service data, logs and pids live (default: .flywheel)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up_parser = sub.add_parser("up", help="start services and print their URLs")
    up_parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"which services (default: {', '.join(SERVICES)}; also: {', '.join(OPTIONAL)})",
    )
    for name in (*SERVICES, *OPTIONAL):
        up_parser.add_argument(
            f"--{name}-port",
            type=int,
            default=DEFAULT_PORTS[name],
            help=f"port for {name} (default {DEFAULT_PORTS[name]}; 0 picks a free one)",
        )
    sub.add_parser("down", help="stop every service started by `up`")
    sub.add_parser("status", help="show which services run and where")
    logs_parser = sub.add_parser("logs", help="print the last lines of a service's log")
    logs_parser.add_argument("name", choices=(*SERVICES, *OPTIONAL))
    logs_parser.add_argument("-n", "--lines", type=int, default=40)
    args = parser.parse_args(argv)

    try:
        if args.command == "up":
            names = args.names or list(SERVICES)
            unknown = sorted(set(names) - {*SERVICES, *OPTIONAL})
            if unknown:
                parser.error(f"unknown service(s) {unknown}; choose from {[*SERVICES, *OPTIONAL]}")
            ports = {n: getattr(args, f"{n}_port") for n in (*SERVICES, *OPTIONAL)}
            for record in up(args.state_dir, names, ports):
                print(f"{record.name:<12} up   " + "  ".join(f"{k}={v}" for k, v in record.urls.items()))
            return 0
        if args.command == "down":
            down(args.state_dir)
            return 0
        if args.command == "status":
            return status(args.state_dir)
        record_path = args.state_dir / "services" / f"{args.name}.json"
        records = [r for r in ServiceRecord.load_all(args.state_dir / "services") if r.name == args.name]
        if not records:
            print(f"{args.name} has no record in {record_path.parent}", file=sys.stderr)
            return 1
        print(log_tail(Path(records[0].log), args.lines))
        return 0
    except ServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
