"""The inference server (`python -m serving.server`) for the local stack, watching the served model repository."""

from __future__ import annotations

import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tools.services.process import ManagedProcess, ensure_port_free, free_port, repository_environment

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class InferenceServerService:
    """Serves every model deployed to `repository` (each attached once its first deployment publishes it, each with
    the FeatureSpec in its serving.json), or only `models` when given; logs every prediction to Kafka."""

    workdir: Path
    repository: Path
    port: int = 0
    models: tuple[str, ...] = ()
    kafka_bootstrap_servers: str | None = None
    feature_spec: str | None = None
    feature_function: str = "domain.online_scoring:OnlineTransactionFeatures"
    online_store: Path | None = None
    workers: int = 1
    detach: bool = False
    ready_timeout: float = 60.0
    env: dict[str, str] = field(default_factory=dict)

    name = "server"

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir)
        self.port = self.port or free_port()
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def urls(self) -> dict[str, str]:
        return {"url": self.url, "metrics": f"{self.url}/metrics", "ready": f"{self.url}/v2/health/ready"}

    def start(self) -> InferenceServerService:
        ensure_port_free(self.port, "the inference server")
        self.workdir.mkdir(parents=True, exist_ok=True)
        argv = [
            sys.executable,
            "-m",
            "serving.server",
            "--repository",
            str(self.repository),
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--feature-function",
            self.feature_function,
        ]
        for model in self.models:
            argv += ["--model", model]
        if self.feature_spec:
            argv += ["--feature-spec", self.feature_spec]
        if self.kafka_bootstrap_servers:
            argv += ["--kafka-bootstrap-servers", self.kafka_bootstrap_servers]
        env = repository_environment(self.env)
        if self.online_store is not None:
            env["FLYWHEEL_ONLINE_FEATURES"] = str(self.online_store)
        self.process = ManagedProcess(
            self.name, argv, self.workdir / "server.log", env=env, cwd=REPO_ROOT, detach=self.detach
        ).start()
        self.process.wait_ready(self.live, self.ready_timeout)
        return self

    def live(self) -> bool:
        """Up and answering (ready only once a model version is loaded)."""
        with urllib.request.urlopen(f"{self.url}/v2/health/live", timeout=2) as response:
            return response.status == 200

    def stop(self) -> None:
        if self.process:
            self.process.stop()
