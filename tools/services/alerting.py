"""The local stack's alerting path: the pipeline exporter, Alertmanager (Debian package) and the pager, on 127.0.0.1.

Prometheus scrapes the exporter (drift, labeled quality and retraining snapshots the sensors write) and the server,
evaluates monitoring/prometheus/flywheel_rules.yml, and sends alerts to Alertmanager; Alertmanager routes them with
monitoring/alertmanager/alertmanager.yml, its webhook receivers pointed at the pager (tools/services/pager.py).
"""

from __future__ import annotations

import json
import re
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from tools.services.pager import NOTIFICATIONS
from tools.services.process import ManagedProcess, ensure_port_free, free_port, repository_environment, require_binary

REPO_ROOT = Path(__file__).resolve().parents[2]
ALERTMANAGER_CONFIG = REPO_ROOT / "monitoring" / "alertmanager" / "alertmanager.yml"
RULES = REPO_ROOT / "monitoring" / "prometheus" / "flywheel_rules.yml"
SNAPSHOTS = ("monitoring", "snapshots")
"""Where the sensors write their snapshots, under the state folder (assets/closed_loop.py's LoopResource)."""

_WEBHOOK = re.compile(r"url: http://127\.0\.0\.1:\d+/alerts/")


def alertmanager_config(text: str, pager_port: int) -> str:
    """The repository's Alertmanager config with every webhook receiver pointed at the pager on `pager_port`."""
    config, count = _WEBHOOK.subn(f"url: http://127.0.0.1:{pager_port}/alerts/", text)
    if not count:
        raise ValueError("the Alertmanager config has no webhook receiver on 127.0.0.1 to point at the pager")
    return config


def _get_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return response.status == 200


@dataclass
class _HttpService:
    """One process listening on 127.0.0.1:`port`, ready when `ready_url` answers 200; subclasses give its argv."""

    workdir: Path
    port: int = 0
    detach: bool = False
    ready_timeout: float = 60.0

    name: ClassVar[str]
    label: ClassVar[str]
    """How errors name it."""

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir)
        self.port = self.port or free_port()
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        raise NotImplementedError

    def ready_url(self) -> str:
        return f"{self.url}/-/ready"

    def start(self):
        ensure_port_free(self.port, self.label)
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = self.workdir / f"{self.name}.log"
        process = ManagedProcess(self.name, self.argv(), log, env=repository_environment(), detach=self.detach)
        self.process = process.start()
        self.process.wait_ready(lambda: _get_ok(self.ready_url()), self.ready_timeout)
        return self

    def stop(self) -> None:
        if self.process:
            self.process.stop()


@dataclass
class PipelineExporterService(_HttpService):
    """`python -m monitoring.pipeline_exporter` over the stack's snapshot folder."""

    snapshot_dir: Path = field(kw_only=True)

    name = "exporter"
    label = "the pipeline exporter"

    @property
    def urls(self) -> dict[str, str]:
        return {"metrics": f"{self.url}/metrics"}

    def ready_url(self) -> str:
        return f"{self.url}/metrics"

    def argv(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "monitoring.pipeline_exporter",
            f"--snapshot-dir={self.snapshot_dir}",
            f"--port={self.port}",
        ]


@dataclass
class PagerService(_HttpService):
    """The webhook receiver Alertmanager notifies (`python -m tools.services.pager`)."""

    name = "pager"
    label = "the pager"

    @property
    def notifications(self) -> Path:
        return self.workdir / NOTIFICATIONS

    @property
    def urls(self) -> dict[str, str]:
        return {"webhooks": f"{self.url}/alerts/<receiver>", "notifications": str(self.notifications)}

    def argv(self) -> list[str]:
        return [sys.executable, "-m", "tools.services.pager", f"--out={self.workdir}", f"--port={self.port}"]


@dataclass
class AlertmanagerService(_HttpService):
    """Alertmanager with the repository's routing, its receivers pointed at the pager; clustering off."""

    pager_port: int = field(kw_only=True)

    name = "alertmanager"
    label = "Alertmanager"

    @property
    def urls(self) -> dict[str, str]:
        return {"ui": self.url}

    def argv(self) -> list[str]:
        binary = require_binary("prometheus-alertmanager", "apt-get install -y prometheus-alertmanager")
        config = self.workdir / "alertmanager.yml"
        config.write_text(alertmanager_config(ALERTMANAGER_CONFIG.read_text(), self.pager_port))
        return [
            binary,
            f"--config.file={config}",
            f"--storage.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",  # one instance: no gossip port
        ]

    def alerts(self) -> list[dict]:
        """The alerts Alertmanager holds now (its v2 API)."""
        with urllib.request.urlopen(f"{self.url}/api/v2/alerts", timeout=5) as response:
            return json.load(response)
