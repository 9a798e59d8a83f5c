"""Prometheus (Debian package) with a generated config, on 127.0.0.1."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tools.services.process import ManagedProcess, ensure_port_free, free_port, require_binary


def prometheus_config(
    targets: dict[str, list[str]], scrape_interval: str, rule_files: list[str], alertmanagers: list[str] = ()
) -> str:
    """prometheus.yml text: one scrape job per entry of `targets` (job name -> host:port list), the rule files it
    evaluates, and the Alertmanagers (host:port) its alerts go to."""
    config = {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "rule_files": rule_files,
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": hosts}]} for job, hosts in sorted(targets.items())
        ],
    }
    if alertmanagers:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": list(alertmanagers)}]}]}
    return json.dumps(config, indent=2)  # JSON is valid YAML


@dataclass
class PrometheusService:
    """Scrapes `targets`; `url` answers the HTTP API (`query()` wraps /api/v1/query)."""

    workdir: Path
    targets: dict[str, list[str]] = field(default_factory=dict)
    port: int = 0
    scrape_interval: str = "1s"
    rule_files: list[str] = field(default_factory=list)
    alertmanagers: list[str] = field(default_factory=list)
    detach: bool = False
    ready_timeout: float = 60.0

    name = "prometheus"

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir)
        self.port = self.port or free_port()
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def urls(self) -> dict[str, str]:
        return {"ui": self.url}

    @property
    def config_path(self) -> Path:
        return self.workdir / "prometheus.yml"

    def write_config(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            prometheus_config(self.targets, self.scrape_interval, self.rule_files, self.alertmanagers)
        )

    def start(self) -> PrometheusService:
        binary = require_binary("prometheus", "apt-get install -y prometheus")
        ensure_port_free(self.port, "Prometheus")
        self.write_config()
        argv = [
            binary,
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--web.enable-lifecycle",
        ]
        self.process = ManagedProcess(self.name, argv, self.workdir / "prometheus.log", detach=self.detach).start()
        self.process.wait_ready(self.ready, self.ready_timeout)
        return self

    def ready(self) -> bool:
        with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
            return response.status == 200

    def reload(self, targets: dict[str, list[str]]) -> None:
        """Replaces the scrape targets and asks the running server to re-read its config."""
        self.targets = targets
        self.write_config()
        request = urllib.request.Request(f"{self.url}/-/reload", method="POST")
        with urllib.request.urlopen(request, timeout=5):
            pass

    def query(self, promql: str) -> list[dict]:
        """The result vector of an instant query."""
        return self._api("query", {"query": promql})

    def query_range(self, promql: str, start: float, end: float, step: float) -> list[dict]:
        """The result matrix of a range query (unix seconds; one series per label set, values [[t, "v"], ...])."""
        return self._api("query_range", {"query": promql, "start": start, "end": end, "step": step})

    def _api(self, endpoint: str, params: dict) -> list[dict]:
        url = f"{self.url}/api/v1/{endpoint}?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.load(response)
        if body.get("status") != "success":
            raise RuntimeError(f"Prometheus {endpoint} {params['query']!r} failed: {body}")
        return body["data"]["result"]

    def stop(self) -> None:
        if self.process:
            self.process.stop()
