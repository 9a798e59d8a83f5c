"""Where a request's server CPU goes: per-thread CPU from /proc and py-spy samples of the event-loop thread, grouped
by stage and charged per request (bench/serving_bench.py --profile writes the table into docs/bench/serving.md).

The event-loop thread's CPU per request is split by the share of py-spy's samples in each stage; the other threads
(the batcher's thread, gRPC's poller and completion queue, the Kafka client) are charged from /proc as one row, since
their time is mostly in C code py-spy cannot name without --native.
"""

from __future__ import annotations

import collections
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

STAGES: tuple[tuple[str, Callable[[str], bool]], ...] = (
    ("ONNX Runtime run (through its Python wrapper)", lambda stack: "onnxruntime" in stack),
    ("metrics (prometheus_client)", lambda stack: "prometheus_client" in stack or "serving/metrics.py" in stack),
    (
        "response encoding",
        lambda stack: "encode_infer_response" in stack or "encode_grpc_response" in stack or "encode_response" in stack,
    ),
    (
        "request decoding and validation",
        lambda stack: "decode_infer_request" in stack or "decode_grpc_request" in stack or "parse_json_object" in stack,
    ),
    ("gRPC library (grpc.aio, Cython)", lambda stack: "grpc/" in stack or "cygrpc" in stack),
    ("HTTP parsing and socket writes (httptools)", lambda stack: "http_protocol.py" in stack and "handle" not in stack),
    ("routing, batcher, rollout bookkeeping", lambda stack: "serving/" in stack),
)
"""(stage, test on a sample's folded stack): the first matching stage takes the sample."""
EVENT_LOOP = "event loop, socket I/O and C code with no Python frame (uvloop; gRPC's Cython core)"
OTHER = "other Python"


@dataclass(frozen=True)
class Profile:
    """One profiled run: CPU per request on the event-loop thread split by stage, and on the other threads."""

    system: str
    concurrency: int
    requests: int
    loop_us_per_request: float
    other_threads_us_per_request: float
    stage_shares: dict[str, float]
    """Stage -> share of the event-loop thread's samples."""
    samples: int


def classify(stack: str) -> str:
    """The stage a folded stack (frames joined by ';', root first) belongs to: what it runs below the event loop's
    entry (Runner.run), or the loop itself when it runs nothing in Python."""
    frames = stack.split(";")
    entry = max((i for i, frame in enumerate(frames) if frame.startswith("Runner.run")), default=-1)
    work = ";".join(frames[entry + 1 :])
    if not work:
        return EVENT_LOOP
    for stage, matches in STAGES:
        if matches(work):
            return stage
    return OTHER


def stage_shares(folded: str, main_marker: str = "run_worker") -> tuple[dict[str, float], int]:
    """Share of the event-loop thread's samples in each stage, from py-spy's raw (folded) output; stacks without
    `main_marker` belong to other threads and are left out."""
    counts: collections.Counter[str] = collections.Counter()
    for line in folded.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or main_marker not in stack or not count.isdigit():
            continue
        counts[classify(stack)] += int(count)
    total = sum(counts.values())
    return ({stage: count / total for stage, count in counts.most_common()} if total else {}), total


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """User + system CPU seconds of each thread of `pid` (from /proc/PID/task)."""
    ticks = os.sysconf("SC_CLK_TCK")
    seconds = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        seconds[int(task.name)] = (int(fields[11]) + int(fields[12])) / ticks
    return seconds


def py_spy() -> str | None:
    """The py-spy executable beside this interpreter, else on PATH (None: not installed)."""
    beside = Path(os.sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def profile_load(system: str, pid: int, concurrency: int, duration_s: int, load) -> Profile:
    """Runs `load()` (returning a LoadResult) while py-spy samples the server `pid`; charges CPU per answer."""
    spy = py_spy()
    if spy is None:
        raise RuntimeError("py-spy is not installed (it is in tools/python/requirements.lock: tools/setup.sh)")
    before = thread_cpu_seconds(pid)
    with tempfile.TemporaryDirectory(prefix="py-spy-") as work:
        output = Path(work) / "samples.txt"
        argv = [spy, "record", "--pid", str(pid), "--duration", str(duration_s), "--rate", "250", "--format", "raw"]
        argv += ["--nonblocking", "--output", str(output)]
        recorder = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        result = load()
        _, errors = recorder.communicate(timeout=duration_s + 60)
        if recorder.returncode != 0 or not output.exists():
            raise RuntimeError(f"py-spy failed (exit {recorder.returncode}): {errors.strip()[:300]}")
        folded = output.read_text()
    after = thread_cpu_seconds(pid)
    answered = max(result.report.requests, 1)
    loop_seconds = after.get(pid, 0.0) - before.get(pid, 0.0)
    others = sum(after[t] - before.get(t, 0.0) for t in after if t != pid)
    shares, samples = stage_shares(folded)
    return Profile(
        system, concurrency, answered, loop_seconds / answered * 1e6, others / answered * 1e6, shares, samples
    )


def profile_table(profiles: list[Profile]) -> str:
    """Markdown: one column per profiled run, one row per stage (us per request and share of the loop thread)."""
    stages = [stage for stage, _ in STAGES] + [EVENT_LOOP, OTHER]
    header = "| where the server's CPU goes, per request | " + " | ".join(
        f"{p.system}, c={p.concurrency}" for p in profiles
    )
    lines = [header + " |", "|---|" + "---|" * len(profiles)]
    for stage in stages:
        if not any(p.stage_shares.get(stage) for p in profiles):
            continue
        cells = []
        for p in profiles:
            share = p.stage_shares.get(stage, 0.0)
            cells.append(f"{share * p.loop_us_per_request:.0f} us ({share:.0%})")
        lines.append(f"| event-loop thread: {stage} | " + " | ".join(cells) + " |")
    lines.append(
        "| other threads (batcher thread, gRPC poller, Kafka client) | "
        + " | ".join(f"{p.other_threads_us_per_request:.0f} us" for p in profiles)
        + " |"
    )
    lines.append(
        "| **total** | "
        + " | ".join(f"**{p.loop_us_per_request + p.other_threads_us_per_request:.0f} us**" for p in profiles)
        + " |"
    )
    lines.append("| py-spy samples of the event-loop thread | " + " | ".join(str(p.samples) for p in profiles) + " |")
    return "\n".join(lines)
