"""Serving benchmark: our server vs FastAPI + uvicorn (baseline) vs in-process ONNX Runtime (the floor).

    PYTHONPATH=. .venv/bin/python bench/serving_bench.py [--duration 10] [--out docs/bench/serving.md]

One run, one model, on this machine: single-row OIP v2 infer requests from `wrk` (C, on loopback) at concurrency
1, 8, 32 and 128; our server with dynamic batching on and off; ONNX Runtime vs torch eager per batch size; INT8 and
pruned engines vs FP32. Needs `wrk` (apt-get install wrk). Writes a markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from serving import model_repository
from serving.engine_variants import fine_tune, median_latency_us, optimise_graph, prune_units, quantise_int8, roc_auc
from serving.model_config import contract_config
from serving.onnx_export import export_onnx, session
from serving.reference_mlp import ReferenceMLP, fit
from serving.synthetic_data import reference_spec, synthetic_batch

CONCURRENCY = (1, 8, 32, 128)
HEADLINE_COLUMNS = [
    "our server",
    "req/s",
    "vs baseline",
    "p99 ms",
    "baseline p99 ms",
    "p99 lower",
    "CPU us/req (ours vs base)",
]
ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class LoadResult:
    """One wrk run."""

    system: str
    concurrency: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    errors: int
    cpu_us_per_request: float
    """Server CPU time (all its processes) per answered request: steadier than req/s on a shared machine."""


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its direct children (the workers of a multi-worker server)."""
    ticks = os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    total = 0.0
    for process in [pid, *map(int, children)]:
        fields = Path(f"/proc/{process}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def run_wrk(url: str, body: str, concurrency: int, duration: int, system: str, pid: int) -> LoadResult:
    script = Path(tempfile.mkdtemp()) / "post.lua"
    script.write_text(f'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = [[{body}]]\n')
    cpu_before = cpu_seconds(pid)
    output = subprocess.run(
        ["wrk", "-t1", f"-c{concurrency}", f"-d{duration}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    cpu = cpu_seconds(pid) - cpu_before
    answered = int(re.search(r"(\d+) requests in", output).group(1))
    percentiles = dict(re.findall(r"^\s+(50|99)(?:\.0+)?%\s+(\S+)\s*$", output, re.MULTILINE))
    if set(percentiles) != {"50", "99"}:
        raise RuntimeError(f"cannot read wrk's latency percentiles for {system} at c={concurrency}:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return LoadResult(
        system,
        concurrency,
        float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        _ms(percentiles["50"]),
        _ms(percentiles["99"]),
        int(non_2xx.group(1)) if non_2xx else 0,
        sum(int(g) for g in errors.groups()) if errors else 0,
        cpu / max(answered, 1) * 1e6,
    )


def wait_ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


class Served:
    """A server subprocess for the duration of a `with` block."""

    def __init__(self, argv: list[str], ready_url: str, env: dict | None = None) -> None:
        self.argv, self.ready_url, self.env = argv, ready_url, env

    def __enter__(self) -> Served:
        self.process = subprocess.Popen(
            self.argv,
            env={**os.environ, **(self.env or {})},
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_ready(self.ready_url)
        return self

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait(10)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request_body(rows: int = 1) -> str:
    rng = np.random.default_rng(0)
    numeric = [round(float(v), 4) for v in rng.normal(size=rows * 20)]
    categorical = [int(v) for v in rng.integers(0, 6, size=rows * 6)]
    return (
        f'{{"inputs":[{{"name":"numeric","shape":[{rows},20],"datatype":"FP32","data":{numeric}}},'
        f'{{"name":"categorical","shape":[{rows},6],"datatype":"INT64","data":{categorical}}}]}}'
    ).replace(" ", "")


def http_benchmarks(repository: Path, model_path: Path, duration: int, workers: int) -> list[LoadResult]:
    body = request_body()
    results = []
    python = sys.executable
    port = free_port()
    ours = [
        python,
        "-m",
        "serving.server",
        "--repository",
        str(repository),
        "--port",
        str(port),
        "--log-level",
        "WARNING",
    ]
    url = f"http://127.0.0.1:{port}/v2/models/fraud/infer"
    ready = f"http://127.0.0.1:{port}/v2/health/ready"
    with Served(ours, ready) as served:
        for c in CONCURRENCY:
            results.append(run_wrk(url, body, c, duration, "flywheel server (batching on)", served.process.pid))
    if workers > 1:
        with Served([*ours, "--workers", str(workers)], ready) as served:
            for c in CONCURRENCY:
                results.append(
                    run_wrk(url, body, c, duration, f"flywheel server ({workers} workers)", served.process.pid)
                )
    with Served([*ours, "--no-dynamic-batching"], ready) as served:
        for c in (1, 32):
            results.append(run_wrk(url, body, c, duration, "flywheel server (batching off)", served.process.pid))
    port = free_port()
    baseline = [
        python,
        "-m",
        "uvicorn",
        "--factory",
        "bench.serving_fastapi_baseline:create_app",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    baseline_env = {"FLYWHEEL_BENCH_MODEL": str(model_path)}
    with Served(baseline, f"http://127.0.0.1:{port}/docs", env=baseline_env) as served:
        for c in CONCURRENCY:
            url = f"http://127.0.0.1:{port}/v2/models/fraud/infer"
            results.append(run_wrk(url, body, c, duration, "FastAPI + uvicorn (baseline)", served.process.pid))
    return results


def engine_benchmarks(
    model: torch.nn.Module, config, work: Path, holdout, finetune
) -> tuple[list[list], list[list], float]:
    """Rows: ORT vs torch eager per batch size; FP32 vs INT8 vs pruned (latency per batch and holdout AUC)."""
    fp32 = optimise_graph(export_onnx(model, config, work / "fp32.onnx"), work / "fp32-opt.onnx")
    int8 = quantise_int8(work / "fp32.onnx", work / "int8.onnx")
    pruned_net, _ = prune_units(model, 0.5)
    fine_tune(pruned_net, finetune[0], finetune[1], config, steps=100)
    pruned = optimise_graph(export_onnx(pruned_net, config, work / "pruned.onnx"), work / "pruned-opt.onnx")
    sessions = {"FP32": session(fp32), "INT8": session(int8), "pruned 50%": session(pruned)}
    inputs, labels = holdout
    torch.set_num_threads(1)
    per_batch, variants = [], []
    floor_us = 0.0
    for batch in (1, 8, 64, 256):
        rows = {k: np.ascontiguousarray(v[:batch]) for k, v in inputs.items()}
        ort_us = median_latency_us(
            lambda rows=rows: sessions["FP32"].run(None, rows), repeats=2000 if batch < 64 else 500
        )
        tensors = [torch.from_numpy(rows[t.name]) for t in config.inputs]
        with torch.no_grad():
            torch_us = median_latency_us(lambda tensors=tensors: model(*tensors), repeats=500)
        if batch == 1:
            floor_us = ort_us
        per_batch.append(
            [batch, f"{ort_us:.1f}", f"{ort_us / batch:.2f}", f"{torch_us:.1f}", f"{torch_us / ort_us:.1f}x"]
        )
    for name, engine in sessions.items():
        scores = engine.run(None, inputs)[0]
        cells = [name, f"{roc_auc(scores, labels):.4f}"]
        for batch in (1, 64, 256):
            rows = {k: np.ascontiguousarray(v[:batch]) for k, v in inputs.items()}
            cells.append(f"{median_latency_us(lambda rows=rows, e=engine: e.run(None, rows), repeats=1000):.1f}")
        variants.append(cells)
    return per_batch, variants, floor_us


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per load run")
    parser.add_argument("--workers", type=int, default=1, help="also run our server with this many workers (>1)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "bench" / "serving.md", help="markdown output")
    args = parser.parse_args(argv)
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    spec = reference_spec(n_numeric=20, n_categorical=6)
    config = contract_config("fraud", spec, max_batch_size=256, max_queue_delay_microseconds=0)
    torch.manual_seed(0)
    model = fit(ReferenceMLP(spec, hidden=(128, 64)), synthetic_batch(spec, 4096, seed=1), steps=150)
    work = Path(tempfile.mkdtemp(prefix="serving-bench-"))
    held = synthetic_batch(spec, 4096, seed=2)
    tuned = synthetic_batch(spec, 4096, seed=3)
    holdout = ({"numeric": held.numeric, "categorical": held.categorical}, held.labels)
    finetune = ({"numeric": tuned.numeric, "categorical": tuned.categorical}, tuned.labels)
    per_batch, variants, floor_us = engine_benchmarks(model, config, work, holdout, finetune)
    repository = work / "models"
    model_repository.write_version(repository, config, 1, work / "fp32-opt.onnx")
    load_before = os.getloadavg()
    results = http_benchmarks(repository, work / "fp32-opt.onnx", args.duration, args.workers)
    load_after = os.getloadavg()

    by = {(r.system, r.concurrency): r for r in results}
    base = by[("FastAPI + uvicorn (baseline)", 32)]
    headline = []
    for system in [s for s in dict.fromkeys(r.system for r in results) if s.startswith("flywheel") and (s, 32) in by]:
        ours = by[(system, 32)]
        headline.append(
            [
                system,
                f"{ours.requests_per_s:,.0f}",
                f"{ours.requests_per_s / base.requests_per_s:.2f}x",
                f"{ours.p99_ms:.2f}",
                f"{base.p99_ms:.2f}",
                "yes" if ours.p99_ms < base.p99_ms else "NO",
                f"{ours.cpu_us_per_request:.0f} vs {base.cpu_us_per_request:.0f}",
            ]
        )
    http_rows = [
        [
            r.system,
            r.concurrency,
            f"{r.requests_per_s:,.0f}",
            f"{r.p50_ms:.2f}",
            f"{r.p99_ms:.2f}",
            f"{r.cpu_us_per_request:.0f}",
            r.non_2xx + r.errors,
        ]
        for r in results
    ]
    http_rows.append(
        [
            "in-process ONNX Runtime (floor, 1 row)",
            1,
            f"{1e6 / floor_us:,.0f}",
            f"{floor_us / 1000:.3f}",
            "-",
            f"{floor_us:.0f}",
            0,
        ]
    )
    text = f"""# Serving benchmark

Generated by `bench/serving_bench.py` ({time.strftime("%Y-%m-%d %H:%M")}, {platform.node()}, {os.cpu_count()} CPUs,
load average {load_before[0]:.1f} before / {load_after[0]:.1f} after the HTTP runs: the machine is shared, so absolute
numbers move between runs; ratios within one run are what to compare).

Model: ReferenceMLP (20 numeric + 6 categorical inputs, hidden 128-64), ONNX Runtime 1 intra-op thread, ORT graph
optimisations applied. Requests: single-row OIP v2 JSON infer, `wrk -t1 -cN -d{args.duration}s` on loopback. Servers
run one worker process unless the row says otherwise (the two cores are shared with the load client).

## Headline (concurrency 32)

FastAPI + uvicorn baseline: {base.requests_per_s:,.0f} req/s, p99 {base.p99_ms:.2f} ms.

{table(HEADLINE_COLUMNS, headline)}

## HTTP throughput and latency

{table(["system", "concurrency", "req/s", "p50 ms", "p99 ms", "server CPU us/req", "errors + non-2xx"], http_rows)}

PyTriton and MLServer were not run in this pass (separate virtualenvs; see docs/serving.md for how to add them).

## ONNX Runtime vs torch eager (in process, one thread)

{table(["batch", "ORT us/run", "ORT us/row", "torch us/run", "torch / ORT"], per_batch)}

## INT8 and pruned engines vs FP32 (in process)

{table(["engine", "holdout ROC AUC", "us @ 1 row", "us @ 64 rows", "us @ 256 rows"], variants)}
"""
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
