"""`dagster dev` (webserver + daemon) on the Flywheel code location, on 127.0.0.1."""

from __future__ import annotations

import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tools.services.process import ManagedProcess, ensure_port_free, free_port, repository_environment

REPO_ROOT = Path(__file__).resolve().parents[2]

DAGSTER_YAML = """\
# Written by tools/services/dagster_dev.py for the local stack.
nux:
  enabled: false
telemetry:
  enabled: false
concurrency:
  runs:
    max_concurrent_runs: 2  # two cores: a retraining run and one short run at a time
  pools:
    default_limit: 1  # e.g. kafka_ingest: one consumer of the shared group at a time
sensors:
  use_threads: true  # the rollout sensor's ticks must not wait behind a drift tick that reads Kafka
  num_workers: 2
"""


@dataclass
class DagsterService:
    """The Dagster UI and daemon (so sensors and schedules tick) with DAGSTER_HOME = `home`."""

    home: Path
    port: int = 0
    module: str = "assets.definitions"
    detach: bool = False
    ready_timeout: float = 120.0
    env: dict[str, str] = field(default_factory=dict)
    """Extra environment (the FLYWHEEL_* variables that point the code location at a stack)."""

    name = "dagster"

    def __post_init__(self) -> None:
        self.home = Path(self.home)
        self.workdir = self.home
        self.port = self.port or free_port()
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def urls(self) -> dict[str, str]:
        return {"ui": self.url, "lineage": f"{self.url}/asset-groups"}

    def environment(self) -> dict[str, str]:
        return repository_environment({**self.env, "DAGSTER_HOME": str(self.home)})

    def start(self) -> DagsterService:
        ensure_port_free(self.port, "Dagster")
        self.home.mkdir(parents=True, exist_ok=True)
        if not (self.home / "dagster.yaml").exists():
            (self.home / "dagster.yaml").write_text(DAGSTER_YAML)
        argv = [sys.executable, "-m", "dagster", "dev", "-m", self.module, "-h", "127.0.0.1", "-p", str(self.port)]
        self.process = ManagedProcess(
            self.name, argv, self.home / "dagster.log", env=self.environment(), cwd=REPO_ROOT, detach=self.detach
        ).start()
        self.process.wait_ready(self.ready, self.ready_timeout)
        return self

    def ready(self) -> bool:
        with urllib.request.urlopen(f"{self.url}/server_info", timeout=2) as response:
            return response.status == 200

    def stop(self) -> None:
        if self.process:
            self.process.stop()
