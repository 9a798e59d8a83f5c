"""How the serving benchmark starts each system: command line, environment, readiness and infer URLs, peer venvs."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENVS = ROOT / ".flywheel" / "bench-venvs"
SETUP_COMMAND = "bench/competitors/setup_envs.sh"


class PeerUnavailable(RuntimeError):
    """A peer server cannot be started on this machine (its virtualenv is missing or incomplete)."""


@dataclass(frozen=True)
class ServerLaunch:
    """One system under test, ready to start as a subprocess."""

    system: str
    """Name in the result tables."""
    argv: list[str]
    """Command line; run from `cwd` with `env` added to this process's environment."""
    port: int
    """HTTP port the system answers OIP v2 on."""
    ready_path: str
    """GET path that answers 200 once the model can serve."""
    model: str = "fraud"
    """Model name in /v2/models/<model>/infer."""
    env: dict[str, str] = field(default_factory=dict)
    """Environment variables added for the server."""
    cwd: Path = ROOT
    """Working directory of the server."""
    note: str = ""
    """How the system is configured (batching, workers), for the tables."""
    ready_timeout_s: float = 60.0
    """How long the server may take to become ready."""
    grpc_port: int | None = None
    """Set for a run over OIP gRPC (loaded with ghz on this port, not with wrk over HTTP)."""
    server_cpus: str | None = None
    """CPUs (taskset list) for this system instead of the benchmark's server CPUs: a multi-worker server spreads
    over every core, sharing the client's."""

    @property
    def infer_url(self) -> str:
        """The OIP v2 infer endpoint."""
        return f"http://127.0.0.1:{self.port}/v2/models/{self.model}/infer"

    @property
    def ready_url(self) -> str:
        """The readiness endpoint."""
        return f"http://127.0.0.1:{self.port}{self.ready_path}"


def peer_python(peer: str, venvs: Path = VENVS) -> Path:
    """The interpreter of a peer's virtualenv, or PeerUnavailable saying how to build it."""
    python = venvs / peer / "bin" / "python"
    if not python.exists():
        raise PeerUnavailable(
            f"{python.relative_to(ROOT) if python.is_relative_to(ROOT) else python} is missing "
            f"(build it with {SETUP_COMMAND} {peer})"
        )
    return python


def flywheel_launch(
    python: str, repository: Path, port: int, batching: bool, workers: int = 1, grpc_port: int | None = None
) -> ServerLaunch:
    """Our server (serving/server.py) on a Triton-layout repository; with `grpc_port`, loaded over OIP gRPC."""
    argv = [python, "-m", "serving.server", "--repository", str(repository), "--port", str(port)]
    argv += ["--log-level", "WARNING"]
    if not batching:
        argv.append("--no-dynamic-batching")
    if workers > 1:
        argv += ["--workers", str(workers)]
    if grpc_port:
        argv += ["--grpc-port", str(grpc_port)]
    mode = ("OIP gRPC, " if grpc_port else "") + ("batching on" if batching else "batching off")
    name = f"flywheel server ({mode}{f', {workers} workers' if workers > 1 else ''})"
    note = "dynamic batching, queue delay 0" if batching else "one model run per request"
    if grpc_port:
        note += "; ghz, one HTTP/2 connection"
    every_core = f"0-{(os.cpu_count() or 1) - 1}" if workers > 1 else None
    if every_core:
        note += f"; {workers} workers (SO_REUSEPORT) on CPUs {every_core}, sharing the client's"
    return ServerLaunch(name, argv, port, "/v2/health/ready", note=note, grpc_port=grpc_port, server_cpus=every_core)


def fastapi_launch(python: str, model_path: Path, port: int) -> ServerLaunch:
    """The baseline: FastAPI + uvicorn running ONNX Runtime inline per request (bench/serving_fastapi_baseline.py)."""
    argv = [python, "-m", "uvicorn", "--factory", "bench.serving_fastapi_baseline:create_app", "--port", str(port)]
    argv += ["--log-level", "warning", "--no-access-log"]
    env = {"FLYWHEEL_BENCH_MODEL": str(model_path)}
    return ServerLaunch("FastAPI + uvicorn (baseline)", argv, port, "/docs", env=env, note="inline ORT, no batching")


def pytriton_launch(
    model_path: Path, ports: tuple[int, int, int], max_queue_delay_us: int = 100, venvs: Path = VENVS
) -> ServerLaunch:
    """NVIDIA Triton via PyTriton (bench/competitors/pytriton_server.py): HTTP, gRPC and metrics ports."""
    http, grpc, metrics = ports
    argv = [str(peer_python("pytriton", venvs)), "-m", "bench.competitors.pytriton_server", "--model", str(model_path)]
    argv += ["--http-port", str(http), "--grpc-port", str(grpc), "--metrics-port", str(metrics)]
    argv += ["--max-batch-size", "256", "--max-queue-delay-us", str(max_queue_delay_us)]
    return ServerLaunch(
        "PyTriton (Triton 2.51, Python backend)",
        argv,
        http,
        "/v2/models/fraud/ready",
        env={"PYTHONPATH": str(ROOT)},
        note=f"Triton dynamic batching, max 256 rows, queue delay {max_queue_delay_us} us",
        ready_timeout_s=180.0,
    )


def mlserver_settings(
    model_path: Path, ports: tuple[int, int, int], work: Path, parallel_workers: int, max_batch_time_s: float
) -> tuple[dict, dict]:
    """MLServer's settings.json and model-settings.json: custom ONNX Runtime model, adaptive batching on."""
    http, grpc, metrics = ports
    settings = {
        "debug": False,
        "host": "127.0.0.1",
        "http_port": http,
        "grpc_port": grpc,
        "metrics_port": metrics,
        "parallel_workers": parallel_workers,
        "metrics_dir": str(work / "metrics"),
        "environments_dir": str(work / "envs"),
        "model_repository_root": str(work),
    }
    model_settings = {
        "name": "fraud",
        "implementation": "bench.competitors.mlserver_model.OnnxRuntimeModel",
        "max_batch_size": 256,
        "max_batch_time": max_batch_time_s,
        "parameters": {"uri": str(model_path)},
    }
    return settings, model_settings


def mlserver_launch(
    model_path: Path,
    ports: tuple[int, int, int],
    work: Path,
    parallel_workers: int = 0,
    max_batch_time_s: float = 0.0005,
    venvs: Path = VENVS,
) -> ServerLaunch:
    """MLServer 1.7.1 with bench/competitors/mlserver_model.py; writes its settings folder under `work`.

    parallel_workers=0 runs inference in the HTTP process: on two shared cores that beat one worker process (about
    1,900 vs 1,800 req/s at c=32, and 1,000 vs 550 at c=1), so the peer is measured at its better setting."""
    mlserver = peer_python("mlserver", venvs).parent / "mlserver"
    if not mlserver.exists():
        raise PeerUnavailable(f"{mlserver} is missing (rebuild with {SETUP_COMMAND})")
    settings, model_settings = mlserver_settings(model_path, ports, work, parallel_workers, max_batch_time_s)
    work.mkdir(parents=True, exist_ok=True)
    (work / "settings.json").write_text(json.dumps(settings, indent=2))
    (work / "model-settings.json").write_text(json.dumps(model_settings, indent=2))
    return ServerLaunch(
        "MLServer 1.7.1 (custom ORT model)",
        [str(mlserver), "start", str(work)],
        ports[0],
        "/v2/models/fraud/ready",
        env={"PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)},
        cwd=work,
        note=f"adaptive batching, max 256 rows, max wait {max_batch_time_s * 1e6:.0f} us, "
        + (f"{parallel_workers} inference worker processes" if parallel_workers else "inference in the HTTP process"),
        ready_timeout_s=120.0,
    )
