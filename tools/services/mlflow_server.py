"""An MLflow tracking server: SQLite backend store and a local artifact root, on 127.0.0.1."""

from __future__ import annotations

import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tools.services.process import ManagedProcess, ensure_port_free, free_port


@dataclass
class MlflowService:
    """`tracking_uri` is what MLflow clients (and dagster-mlflow) point at."""

    workdir: Path
    port: int = 0
    workers: int = 1
    detach: bool = False
    ready_timeout: float = 120.0

    name = "mlflow"

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir)
        self.port = self.port or free_port()
        self.process: ManagedProcess | None = None

    @property
    def tracking_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def urls(self) -> dict[str, str]:
        return {"tracking_uri": self.tracking_uri, "ui": self.tracking_uri}

    def start(self) -> MlflowService:
        ensure_port_free(self.port, "MLflow")
        self.workdir.mkdir(parents=True, exist_ok=True)
        argv = [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{self.workdir / 'mlflow.db'}",
            "--artifacts-destination",
            str(self.workdir / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
        ]
        self.process = ManagedProcess(self.name, argv, self.workdir / "mlflow.log", detach=self.detach).start()
        self.process.wait_ready(self.ready, self.ready_timeout)
        return self

    def ready(self) -> bool:
        with urllib.request.urlopen(f"{self.tracking_uri}/health", timeout=2) as response:
            return response.status == 200

    def stop(self) -> None:
        if self.process:
            self.process.stop()
