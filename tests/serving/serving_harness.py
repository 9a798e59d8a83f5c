"""Shared pieces of the serving integration tests: a model repository of tiny ONNX models and a real server process."""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from serving import model_repository
from serving.model_config import ModelConfig, contract_config
from serving.synthetic_data import reference_spec
from serving.tiny_onnx_models import logistic_model, save
from tools.services.process import ManagedProcess, free_port

SPEC = reference_spec()
CONFIG = contract_config("fraud", SPEC, max_batch_size=64, max_queue_delay_microseconds=200)


def add_version(root: Path, version: int, model=None, config: ModelConfig = CONFIG) -> Path:
    """Writes version `version` (a logistic model seeded by the version unless `model` is given)."""
    source = save(
        model or logistic_model(config, seed=version), root.parent / "sources" / f"{config.name}-{version}.onnx"
    )
    return model_repository.write_version(root, config, version, source)


def infer_body(rows: int = 1, seed: int = 0, **top) -> bytes:
    """A valid OIP v2 infer request for CONFIG."""
    numeric = [float((seed + i) % 7) / 3 for i in range(rows * 8)]
    categorical = [(seed + i) % 4 for i in range(rows * 3)]
    return json.dumps(
        {
            "inputs": [
                {"name": "numeric", "shape": [rows, 8], "datatype": "FP32", "data": numeric},
                {"name": "categorical", "shape": [rows, 3], "datatype": "INT64", "data": categorical},
            ],
            **top,
        }
    ).encode()


class ServerProcess:
    """`python -m serving.server` on a free port; stopped with SIGTERM to its process group."""

    def __init__(self, repository: Path, log_dir: Path, *args: str, wait_for: str = "/v2/health/ready") -> None:
        self.port = free_port()
        self.wait_for = wait_for
        self.process = ManagedProcess(
            "inference-server",
            [
                sys.executable,
                "-m",
                "serving.server",
                "--repository",
                str(repository),
                "--port",
                str(self.port),
                "--reload-interval-s",
                "0.2",
                *args,
            ],
            log_dir / f"server-{self.port}.log",
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerProcess:
        self.process.start()
        self.process.wait_ready(lambda: self.request("GET", self.wait_for)[0] == 200, timeout=60)
        return self

    def __exit__(self, *exc) -> None:
        self.process.stop()

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        """(status, parsed JSON or text, headers) on a fresh connection."""
        connection = self.connection()
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return _read(response)
        finally:
            connection.close()

    def alive(self) -> bool:
        return self.process.proc.poll() is None and self.request("GET", "/v2/health/live")[0] == 200

    def metrics(self) -> str:
        return self.request("GET", "/metrics")[1]


def _read(response: http.client.HTTPResponse):
    raw = response.read()
    content_type = response.getheader("content-type", "")
    payload = json.loads(raw) if content_type.startswith("application/json") and raw else raw.decode(errors="replace")
    return response.status, payload, dict(response.getheaders())


class LoadGenerator:
    """Threads sending infer requests over keep-alive connections until stopped; records every outcome.

    With `body`, thread `index`'s `sent`-th request is `body(index, sent)` -> (request body, tag), and every answer
    is also kept whole in `answers` as (status, parsed payload, tag)."""

    def __init__(
        self,
        server: ServerProcess,
        threads: int = 4,
        rows: int = 1,
        model: str = "fraud",
        body: Callable[[int, int], tuple[bytes, str]] | None = None,
    ) -> None:
        self.server = server
        self.rows = rows
        self.model = model
        self.body = body
        self.outcomes: list[tuple[int, str | None]] = []
        self.answers: list[tuple[int, object, str]] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def __enter__(self) -> LoadGenerator:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)

    def _run(self, index: int) -> None:
        connection = self.server.connection()
        sent = 0
        while not self._stop.is_set():
            body, tag = self.body(index, sent) if self.body else (infer_body(self.rows, seed=index + sent), "")
            try:
                connection.request("POST", f"/v2/models/{self.model}/infer", body=body)
                status, payload, _ = _read(connection.getresponse())
            except (OSError, http.client.HTTPException) as exc:
                with self._lock:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                connection.close()
                connection = self.server.connection()
                continue
            version = payload.get("model_version") if isinstance(payload, dict) else None
            with self._lock:
                self.outcomes.append((status, version))
                if self.body:
                    self.answers.append((status, payload, tag))
            sent += 1
        connection.close()


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
