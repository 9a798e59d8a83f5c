"""The pipeline metrics exporter: a small HTTP process that Prometheus scrapes, serving the snapshot directory.

Run `python -m monitoring.pipeline_exporter --snapshot-dir DIR --port 9108`; pipeline runs write snapshots into
DIR with monitoring.pipeline_metrics.write_* and the next scrape shows them.
"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from prometheus_client import CollectorRegistry, start_http_server

from monitoring.pipeline_metrics import PipelineMetricsCollector


def pipeline_registry(snapshot_dir) -> CollectorRegistry:
    """A registry holding only the pipeline collector (no process or platform metrics)."""
    registry = CollectorRegistry()
    registry.register(PipelineMetricsCollector(snapshot_dir))
    return registry


def serve(snapshot_dir, port: int, address: str = "127.0.0.1"):
    """Starts serving /metrics in a background thread; returns (server, thread) so the caller can shut it down."""
    Path(snapshot_dir).mkdir(parents=True, exist_ok=True)
    return start_http_server(port, addr=address, registry=pipeline_registry(snapshot_dir))


def main(argv: list[str] | None = None) -> None:
    """Serves until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snapshot-dir", required=True, type=Path, help="directory the pipeline writes snapshots to")
    parser.add_argument("--port", type=int, default=9108, help="port of /metrics (default 9108)")
    parser.add_argument("--address", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    args = parser.parse_args(argv)
    server, thread = serve(args.snapshot_dir, args.port, args.address)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    print(f"serving pipeline metrics from {args.snapshot_dir} on http://{args.address}:{args.port}/metrics", flush=True)
    stop.wait()
    server.shutdown()
    thread.join(timeout=5)


if __name__ == "__main__":
    main()
