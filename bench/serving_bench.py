"""Serving benchmark: our server vs FastAPI + uvicorn (baseline), PyTriton, MLServer and in-process ONNX Runtime.

    bench/competitors/setup_envs.sh      # once: the PyTriton and MLServer virtualenvs (.flywheel/bench-venvs/)
    PYTHONPATH=. .venv/bin/python bench/serving_bench.py [--duration 10] [--competitors pytriton,mlserver]
        [--out docs/bench/serving.md]

One run, one model, one load client, on this machine: single-row OIP v2 JSON infer requests from `wrk` (C, on
loopback) at concurrency 1, 8, 32 and 128 against our server (dynamic batching on and off), FastAPI + uvicorn
running ONNX Runtime inline, NVIDIA Triton through PyTriton (dynamic batching) and MLServer with a custom ONNX
Runtime model (adaptive batching); the in-process ONNX Runtime call is the floor. Each server must answer the
request body with 200 and the same score as in-process ONNX Runtime before it is measured, and a run with any
non-2xx answer is reported as FAILED. A peer whose virtualenv is missing is reported as "not run: <reason>".
Also: ONNX Runtime vs torch eager per batch size; INT8 and pruned engines vs FP32. Needs `wrk` (apt-get install
wrk). Writes a markdown table with the goal checks (>= 3x the baseline at c=32 with a lower p99; more req/s than
PyTriton and MLServer at every concurrency).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bench.competitors.peer_servers import (
    PeerUnavailable,
    ServerLaunch,
    fastapi_launch,
    flywheel_launch,
    mlserver_launch,
    pytriton_launch,
)
from bench.ghz_load import GhzUnavailable, ghz_binary, run_ghz
from bench.serving_profile import Profile, profile_load, profile_table
from bench.serving_report import (
    GOAL_CONCURRENCY,
    GRPC_RATIO,
    SINGLE_P50_MS,
    UNBATCHED_CPU_RATIO,
    combine_rounds,
    cpu_table,
    goal_checks,
    goal_table,
    markdown_table,
    per_concurrency_tables,
    verdict,
)
from bench.wrk_load import LoadResult, pinned, run_wrk
from serving import model_repository
from serving.engine_variants import fine_tune, median_latency_us, optimise_graph, prune_units, quantise_int8, roc_auc
from serving.model_config import contract_config
from serving.onnx_export import export_onnx, session
from serving.reference_mlp import ReferenceMLP, fit
from serving.synthetic_data import reference_spec, synthetic_batch

CONCURRENCY = (1, 8, 32, 128)
OURS = "flywheel server (batching on)"
OURS_UNBATCHED = "flywheel server (batching off)"
OURS_GRPC = "flywheel server (OIP gRPC, batching on)"
BASELINE = "FastAPI + uvicorn (baseline)"
PYTRITON = "PyTriton (Triton 2.51, Python backend)"
MLSERVER = "MLServer 1.7.1 (custom ORT model)"
PEERS = {"pytriton": PYTRITON, "mlserver": MLSERVER}
WARMUP_S = 2
RUN_COLUMNS = ["system", "concurrency", "round", "req/s", "p50 ms", "p99 ms", "server CPU us/req", "non-2xx"]
RUN_COLUMNS += ["socket errors"]
ROOT = Path(__file__).resolve().parents[1]


def wait_ready(url: str, process: subprocess.Popen, log: Path, timeout: float) -> None:
    """Poll `url` until it answers 200; a server that exits or stays silent is an error quoting its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode} before it was ready: {_log_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s: {_log_tail(log)}")


def _log_tail(log: Path, lines: int = 3) -> str:
    text = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
    return " | ".join(text[-lines:]) or "(no output)"


class Served:
    """A server subprocess (in its own process group) for the duration of a `with` block; its output goes to `log`."""

    def __init__(self, launch: ServerLaunch, log: Path) -> None:
        self.launch, self.log = launch, log

    def __enter__(self) -> Served:
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                self.launch.argv,
                env={**os.environ, **self.launch.env},
                cwd=self.launch.cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_ready(self.launch.ready_url, self.process, self.log, self.launch.ready_timeout_s)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        # SIGTERM the leader (PyTriton and MLServer shut their children down on it), then make sure the whole group
        # is gone so the next server starts on a quiet machine; SIGKILL only what outlives 20 s.
        group = self.process.pid
        self.process.terminate()
        deadline = time.monotonic() + 20
        try:
            self.process.wait(20)
            while time.monotonic() < deadline:
                os.killpg(group, 0)
                time.sleep(0.2)
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            os.killpg(group, signal.SIGKILL)
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


def expected_scores(model_path: Path, body: str) -> np.ndarray:
    """What in-process ONNX Runtime answers for the request body: every server must answer the same."""
    dtypes = {"FP32": np.float32, "INT64": np.int64}
    inputs = {
        t["name"]: np.asarray(t["data"], dtype=dtypes[t["datatype"]]).reshape(t["shape"])
        for t in json.loads(body)["inputs"]
    }
    engine = session(model_path)
    return engine.run([engine.get_outputs()[0].name], inputs)[0].ravel()


def check_answer(url: str, body: str, expected: np.ndarray) -> None:
    """One request before the load: 200, an output tensor, and the in-process score (a 4xx benchmark is worthless)."""
    request = urllib.request.Request(url, data=body.encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"answered {exc.code} to the benchmark body: {exc.read()[:300]!r}") from exc
    outputs = answer.get("outputs") or []
    if len(outputs) != 1:
        raise RuntimeError(f"answered 200 but with outputs {outputs!r}; expected one score tensor")
    scores = np.asarray(outputs[0].get("data"), dtype=np.float32).ravel()
    if scores.shape != expected.shape or not np.allclose(scores, expected, atol=1e-5):
        raise RuntimeError(f"answered scores {scores.tolist()}; in-process ONNX Runtime gives {expected.tolist()}")


@dataclass(frozen=True)
class Pinning:
    """Which CPUs the server under test and the load client may run on (taskset lists), and the quiet-machine rule."""

    server: str | None = "0"
    """CPUs of the server's whole process tree (None: unpinned)."""
    client: str | None = "1"
    """CPUs of wrk (None: unpinned)."""
    max_load: float = 2.0
    """A round starts only when the 1-minute load average is at most this."""
    allow_loaded: bool = False
    """Run anyway after QUIET_WAIT_S on a loaded machine; the page then says so in its first lines."""


QUIET_WAIT_S = 180
"""Longest wait for the load average to fall below Pinning.max_load before a round."""


def wait_for_quiet(pinning: Pinning) -> float:
    """The 1-minute load average once it is at most `pinning.max_load` (waiting up to QUIET_WAIT_S); on a machine
    that stays busier, exits with the reason, or with `allow_loaded` returns the load (the page flags it)."""
    deadline = time.monotonic() + QUIET_WAIT_S
    while (load := os.getloadavg()[0]) > pinning.max_load and time.monotonic() < deadline:
        time.sleep(5)
    if load > pinning.max_load and not pinning.allow_loaded:
        raise SystemExit(
            f"load average {load:.2f} is above {pinning.max_load:g} after {QUIET_WAIT_S} s: the benchmark refuses to"
            " measure on a busy machine (a descheduled batching server gathers larger batches and looks faster)."
            " Stop the other work, or pass --allow-loaded to run anyway with the page marked LOADED."
        )
    return load


def check_grpc_answer(address: str, body: str, expected: np.ndarray) -> None:
    """The benchmark's request over OIP gRPC (tritonclient.grpc) must answer the in-process score."""
    import tritonclient.grpc as triton
    from tritonclient.utils import InferenceServerException

    tensors = []
    for tensor in json.loads(body)["inputs"]:
        values = np.asarray(tensor["data"], dtype=np.float32 if tensor["datatype"] == "FP32" else np.int64)
        tensors.append(triton.InferInput(tensor["name"], tensor["shape"], tensor["datatype"]))
        tensors[-1].set_data_from_numpy(values.reshape(tensor["shape"]))
    try:
        with triton.InferenceServerClient(address) as client:
            response = client.infer("fraud", tensors).get_response()
    except InferenceServerException as exc:
        raise RuntimeError(f"answered the benchmark request over gRPC with {exc}") from None
    scores = np.frombuffer(response.raw_output_contents[0], dtype="<f4").ravel()
    if scores.shape != expected.shape or not np.allclose(scores, expected, atol=1e-5):
        raise RuntimeError(f"answered scores {scores.tolist()} over gRPC; in-process ONNX Runtime gives {expected}")


def measure(
    launch: ServerLaunch,
    body: str,
    expected: np.ndarray,
    duration: int,
    concurrency: tuple[int, ...],
    logs: Path,
    outcome: dict,
    pinning: Pinning = Pinning(),
) -> list[LoadResult]:
    """Start one system (on the server CPUs), check its answer, warm it up, and run wrk (on the client CPUs) at each
    concurrency; a failure is recorded in `outcome["not_run"]` (never dropped silently)."""
    outcome["notes"].setdefault(launch.system, launch.note)
    launch = dataclasses.replace(launch, argv=pinned(launch.argv, launch.server_cpus or pinning.server))
    results: list[LoadResult] = []
    log = logs / (launch.system.split(" (")[0].replace(" ", "_").replace("+", "") + f"-{launch.port}.log")
    if launch.grpc_port:
        address = f"127.0.0.1:{launch.grpc_port}"

        def check() -> None:
            check_grpc_answer(address, body, expected)

        def load(c: int, seconds: int, pid: int) -> LoadResult:
            return run_ghz(address, body, c, seconds, launch.system, pid, pinning.client)
    else:

        def check() -> None:
            check_answer(launch.infer_url, body, expected)

        def load(c: int, seconds: int, pid: int) -> LoadResult:
            return run_wrk(launch.infer_url, body, c, seconds, launch.system, pid, pinning.client)

    try:
        with Served(launch, log) as served:
            check()
            load(8, WARMUP_S, served.process.pid)
            for c in concurrency:
                results.append(load(c, duration, served.process.pid))
    except (RuntimeError, ValueError, OSError) as exc:
        reason = str(exc).splitlines()[0][:300]
        if results:
            outcome["notes"][launch.system] += f"; stopped after c={results[-1].concurrency}: {reason}"
        else:
            outcome["not_run"][launch.system] = reason
    print(f"{launch.system}: {[round(r.report.requests_per_s) for r in results]} req/s", file=sys.stderr)
    return results


def http_benchmarks(
    repository: Path,
    model_path: Path,
    duration: int,
    workers: int,
    competitors: list[str],
    work: Path,
    rounds: int = 3,
    pinning: Pinning = Pinning(),
) -> tuple[list[LoadResult], list[str], dict[str, str], dict[str, str], list[tuple[float, float]]]:
    """Every system at every concurrency, one after another, in `rounds` rounds that alternate the systems' order
    (each round starts every server afresh, on free ports): every round's results, systems in table order, the
    reasons for systems that did not run, each system's configuration note, and the load average before and after
    each round."""
    body = request_body()
    expected = expected_scores(model_path, body)
    python = sys.executable
    builders = [lambda: flywheel_launch(python, repository, free_port(), batching=True)]
    if workers > 1:
        builders.append(lambda: flywheel_launch(python, repository, free_port(), batching=True, workers=workers))
    builders += [
        lambda: flywheel_launch(python, repository, free_port(), batching=False),
        lambda: fastapi_launch(python, model_path, free_port()),
        lambda: flywheel_launch(python, repository, free_port(), batching=True, grpc_port=free_port()),
    ]
    systems = [build().system for build in builders]
    outcome: dict = {"not_run": {}, "notes": {}}
    try:
        ghz_binary()
    except GhzUnavailable as exc:
        outcome["not_run"][OURS_GRPC] = str(exc)
    peer_builders = {
        "pytriton": lambda: pytriton_launch(model_path, (free_port(), free_port(), free_port())),
        "mlserver": lambda: mlserver_launch(model_path, (free_port(), free_port(), free_port()), work / "mlserver"),
    }
    for key, system in PEERS.items():
        systems.append(system)
        if key not in competitors:
            outcome["not_run"][system] = "left out with --competitors"
            continue
        try:
            peer_builders[key]()
        except PeerUnavailable as exc:
            outcome["not_run"][system] = str(exc)
            continue
        builders.append(peer_builders[key])
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    results, loads = [], []
    for round_index in range(rounds):
        before = wait_for_quiet(pinning)
        order = builders if round_index % 2 == 0 else builders[::-1]
        print(f"round {round_index + 1} of {rounds}, load average {before:.2f}", file=sys.stderr)
        for build in order:
            launch = build()
            if launch.system in outcome["not_run"]:
                continue
            results += measure(launch, body, expected, duration, CONCURRENCY, logs, outcome, pinning)
        loads.append((before, os.getloadavg()[0]))
    return results, systems, outcome["not_run"], outcome["notes"], loads


def profiles(
    repository: Path, model_path: Path, duration: int, pinning: Pinning, work: Path
) -> tuple[list[Profile], str]:
    """py-spy profiles of our server (batching on): over HTTP/JSON at concurrency 1 and over gRPC at
    GOAL_CONCURRENCY, the two goals it misses; returns them, or none and the reason."""
    body = request_body()
    expected = expected_scores(model_path, body)
    python = sys.executable
    runs = [(flywheel_launch(python, repository, free_port(), batching=True), 1)]
    try:
        ghz_binary()
        runs.append((flywheel_launch(python, repository, free_port(), True, grpc_port=free_port()), GOAL_CONCURRENCY))
    except GhzUnavailable:
        pass
    found = []
    try:
        for launch, concurrency in runs:
            wait_for_quiet(pinning)
            pinned_launch = dataclasses.replace(launch, argv=pinned(launch.argv, pinning.server))
            with Served(pinned_launch, work / "logs" / f"profile-{launch.port}.log") as served:
                pid = served.process.pid
                if launch.grpc_port:
                    address = f"127.0.0.1:{launch.grpc_port}"
                    check_grpc_answer(address, body, expected)
                    run_ghz(address, body, 8, WARMUP_S, launch.system, pid, pinning.client)

                    def load(address=address, launch=launch, pid=pid, concurrency=concurrency):
                        return run_ghz(address, body, concurrency, duration, launch.system, pid, pinning.client)
                else:
                    check_answer(launch.infer_url, body, expected)
                    run_wrk(launch.infer_url, body, 8, WARMUP_S, launch.system, pid, pinning.client)

                    def load(launch=launch, pid=pid, concurrency=concurrency):
                        return run_wrk(
                            launch.infer_url, body, concurrency, duration, launch.system, pid, pinning.client
                        )

                found.append(profile_load(launch.system, pid, concurrency, duration, load))
    except (RuntimeError, ValueError, OSError) as exc:
        return found, str(exc).splitlines()[0][:300]
    return found, ""


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


def round_of(result: LoadResult, every_round: list[LoadResult]) -> int:
    """Which round (1-based) a result came from: results are in run order, each system runs once per round."""
    same_cell = [r for r in every_round if (r.system, r.concurrency) == (result.system, result.concurrency)]
    return same_cell.index(result) + 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per load run")
    parser.add_argument("--workers", type=int, default=1, help="also run our server with this many workers (>1)")
    parser.add_argument(
        "--competitors",
        default=",".join(PEERS),
        help=f"comma-separated peers to run ({', '.join(PEERS)}; '' for none); each needs its virtualenv "
        "from bench/competitors/setup_envs.sh, else its column says 'not run'",
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds, alternating the systems' order (>= 3)")
    parser.add_argument("--server-cpus", default="0", help="CPUs of the server under test (taskset list; '' unpinned)")
    parser.add_argument("--client-cpus", default="1", help="CPUs of the wrk load client (taskset list; '' unpinned)")
    parser.add_argument(
        "--max-load", type=float, default=2.0, help="a round waits until the 1-minute load average is at most this"
    )
    parser.add_argument(
        "--allow-loaded", action="store_true", help="run on a busier machine anyway; the page is marked LOADED"
    )
    parser.add_argument(
        "--no-profile", dest="profile", action="store_false", help="skip the py-spy profile of where the CPU goes"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "bench" / "serving.md", help="markdown output")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    pinning = Pinning(args.server_cpus or None, args.client_cpus or None, args.max_load, args.allow_loaded)
    competitors = [name.strip() for name in args.competitors.split(",") if name.strip()]
    if unknown := sorted(set(competitors) - set(PEERS)):
        parser.error(f"unknown competitors {unknown}; choose from {sorted(PEERS)}")
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
    every_round, systems, not_run, notes, loads = http_benchmarks(
        repository, work / "fp32-opt.onnx", args.duration, args.workers, competitors, work, args.rounds, pinning
    )
    results = combine_rounds(every_round)
    profiled, profile_problem = (
        profiles(repository, work / "fp32-opt.onnx", args.duration, pinning, work)
        if args.profile
        else ([], "--no-profile")
    )
    if profiled:
        profile_section = profile_table(profiled)
        if profile_problem:
            profile_section += f"\n\nThe other profile did not run: {profile_problem}"
    else:
        profile_section = f"Not profiled: {profile_problem}"
    peers = list(PEERS.values())
    checks = goal_checks(results, not_run, OURS, BASELINE, peers, CONCURRENCY, OURS_UNBATCHED, grpc=OURS_GRPC)
    cpu = cpu_table(systems, results, not_run, BASELINE, CONCURRENCY)
    throughput, latency = per_concurrency_tables(systems, results, not_run, notes, BASELINE, CONCURRENCY)
    floor = "in-process ONNX Runtime (floor, 1 row, no HTTP)"
    throughput += f"\n| {floor} | {1e6 / floor_us:,.0f} | - | - | - | one session.run per row, one thread |"
    latency += f"\n| {floor} | {floor_us / 1000:.3f} / - | - | - | - |"
    http_rows = [
        [
            r.system,
            r.concurrency,
            round_of(r, every_round),
            f"{r.report.requests_per_s:,.0f}",
            f"{r.report.p50_ms:.2f}",
            f"{r.report.p99_ms:.2f}",
            f"{r.cpu_us_per_request:.0f}",
            r.report.non_2xx,
            r.report.socket_errors,
        ]
        for r in every_round
    ]
    not_run_lines = "".join(f"\n- {system}: not run: {reason}" for system, reason in not_run.items())
    not_run_lines += "\n" if not_run else ""
    when = time.strftime("%Y-%m-%d %H:%M")
    loaded = any(before > pinning.max_load for before, _ in loads)
    load_line = ", ".join(
        f"round {i + 1}: {before:.2f} before / {after:.2f} after" for i, (before, after) in enumerate(loads)
    )
    warning = (
        f"**LOADED MACHINE: a round started above load average {pinning.max_load:g} (--allow-loaded); a descheduled"
        " batching server gathers larger batches, so these figures flatter it. Do not quote them.**\n\n"
        if loaded
        else ""
    )
    flags = f"--duration {args.duration} --rounds {args.rounds}"
    flags += f" --workers {args.workers}" if args.workers > 1 else ""
    server_cpus = f"CPU {pinning.server}" if pinning.server else "unpinned"
    client_cpus = f"CPU {pinning.client}" if pinning.client else "unpinned"
    text = f"""# Serving benchmark

{warning}Generated by `bench/serving_bench.py {flags}` on {when}
({platform.node()}, {os.cpu_count()} CPUs). Load average (1 minute) {load_line}; a round starts only below
{pinning.max_load:g}.
Pinning: every server's whole process tree on {server_cpus} (a multi-worker server: every CPU), the load client (`wrk`,
`ghz`) on {client_cpus} (`taskset`).
Every cell is the **median of {args.rounds} rounds** (each round starts every server afresh, and alternate rounds
reverse the systems' order); the line under it is the spread over the rounds (min-max).

Model: ReferenceMLP (20 numeric + 6 categorical inputs, hidden 128-64), the same optimised ONNX file for every
system, ONNX Runtime with 1 intra-op thread everywhere. Requests: the same single-row OIP v2 JSON infer body to
`/v2/models/fraud/infer`, `wrk -t1 -cN -d{args.duration}s` on loopback after a {WARMUP_S} s warm-up; before the load,
each server must answer it with 200 and the in-process ONNX Runtime score. Servers run one process for HTTP and
inference unless the row says otherwise (PyTriton: a Python proxy, tritonserver and the Python-backend stub, all on
the server's CPU).

Reproduce on a quiet machine: `bench/competitors/setup_envs.sh` once (the PyTriton and MLServer virtualenvs under
`.flywheel/bench-venvs/`, from the hash-pinned `bench/competitors/requirements-*.lock`), then
`PYTHONPATH=. .venv/bin/python bench/serving_bench.py {flags}` (`setup_envs.sh ghz` builds the gRPC load client).

## Goal: {verdict(checks)}

Issue 20's goals, judged on the medians: batching off, server CPU per request at most
{UNBATCHED_CPU_RATIO:g}x FastAPI's at every concurrency; at c=1 a p50 of at most {SINGLE_P50_MS:g} ms and at most
FastAPI's; at c=32 at least 3x the FastAPI + uvicorn throughput with a lower p99, and OIP over gRPC at least
{GRPC_RATIO:g}x HTTP/JSON; more req/s than PyTriton and MLServer at every concurrency (p99 shown beside). A check
against a system that did not run, or that answered anything but 2xx, is "not checked", never met.

{goal_table(checks)}

## Server CPU per request (us, ratio to FastAPI + uvicorn at the same concurrency)

The headline: what one request costs the server's whole process tree, whatever the machine's weather.

{cpu}

## Throughput (req/s, ratio to FastAPI + uvicorn at the same concurrency)

{throughput}

## Latency (p50 / p99 ms)

{latency}
{not_run_lines}
## Where the time goes (py-spy)

Our server (batching on, one worker) profiled under the loads of the goals it misses, in a run of its own after the
rounds: the event-loop thread's CPU per request (from /proc) split by the share of py-spy's samples (250 per second,
non-blocking) in each stage, and the other threads' CPU per request from /proc. A stage holds what it calls: the
ONNX Runtime row includes the wrapper's input checks, the gRPC row the library's Python and Cython layers.

{profile_section}

## Every run

{markdown_table(RUN_COLUMNS, http_rows)}

Server CPU us/req is the CPU time of the server's whole process tree over the run divided by the answers: steadier
than req/s on a shared machine. Socket errors are mostly wrk's 2 s timeouts (not in the latency percentiles).

## ONNX Runtime vs torch eager (in process, one thread)

{markdown_table(["batch", "ORT us/run", "ORT us/row", "torch us/run", "torch / ORT"], per_batch)}

## INT8 and pruned engines vs FP32 (in process)

{markdown_table(["engine", "holdout ROC AUC", "us @ 1 row", "us @ 64 rows", "us @ 256 rows"], variants)}
"""
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    if any(system in not_run or "stopped after" in notes.get(system, "") for system in systems):
        print(f"some systems did not run or stopped: their logs are in {work / 'logs'}", file=sys.stderr)
    else:
        shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
