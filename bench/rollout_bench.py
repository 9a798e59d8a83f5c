"""Safe rollout's costs: what shadow scoring takes from server throughput at c=32, and how fast bad challengers are
rolled back (time from the first mirrored request to full rollback, and the requests the bad version answered).

    PYTHONPATH=. .venv/bin/python bench/rollout_bench.py --out docs/bench/rollout.md

The server (one worker) is pinned to core 0 and `wrk` to core 1; the page records the load average before and after.
Throughput: rounds alternate plain serving and serving with a shadow version, and the table gives medians and
spread. Rollback: the controller (serving/rollout_controller.py, as the rollout sensor runs it) ticks every
`--tick-s` seconds while wrk sends traffic; the clock runs from writing the shadow deployment to the server
reporting the old version alone again.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.report_sections import machine_description
from bench.wrk_load import run_wrk
from domain.models import FRAUD
from features.model_declaration import RolloutDeclaration
from serving.deployment_plan import Deployment, write_deployment
from serving.rollout_controller import RolloutTarget, advance_rollout, server_metrics, start_rollout
from serving.tiny_onnx_models import logistic_model, nan_slice_model, slow_twin_model
from tests.serving.serving_harness import CONFIG, add_version, infer_body, wait_until
from tools.services.process import free_port

CHALLENGERS = {
    "NaN on a slice of inputs": nan_slice_model(CONFIG, seed=1, category=3),
    "slower (same scores, ~90x the model time)": slow_twin_model(CONFIG, seed=1),
    "scores shifted far from the champion": logistic_model(CONFIG, seed=1, output_offset=3.0),
}
POLICY = RolloutDeclaration(stages=(0, 10, 50, 100), min_requests=150, min_stage_seconds=20.0)
LIMIT = 0.02
"""Divergence limit for the rollback runs (the gate's calibration for a challenger that behaved like the champion
on the holdout gives ~0.016 on these inputs, see tests/serving/rollout_test.py)."""


def _metadata(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/v2/models/fraud", timeout=5) as reply:
        return json.loads(reply.read())


class Server:
    def __init__(self, repository: Path, log: Path, core: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = ["taskset", "-c", str(core), sys.executable, "-m", "serving.server", "--repository", str(repository)]
        command += ["--port", str(self.port), "--reload-interval-s", "0.5", "--log-level", "WARNING"]
        self.process = subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT)
        if not wait_until(self._ready, timeout=60):
            raise RuntimeError(f"the server did not start; see {log}")

    def _ready(self) -> bool:
        try:
            return urllib.request.urlopen(f"{self.url}/v2/health/ready", timeout=2).status == 200
        except OSError:
            return False

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(20)


def wrk_pinned(url: str, concurrency: int, seconds: int, pid: int):
    """run_wrk with wrk on core 1 (the server is on core 0)."""
    os.sched_setaffinity(0, {1})
    try:
        return run_wrk(f"{url}/v2/models/fraud/infer", infer_body(1).decode(), concurrency, seconds, "flywheel", pid)
    finally:
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))


def shadow_overhead(root: Path, rounds: int, seconds: int) -> dict:
    repository = root / "served"
    add_version(repository, 1, logistic_model(CONFIG, seed=1))
    add_version(repository, 2, logistic_model(CONFIG, seed=2))
    configurations = {
        "plain": Deployment({1: 100}),
        "shadow": Deployment({1: 100}, shadow=(2,)),
        "shadow 25%": Deployment({1: 100}, shadow=(2,), shadow_percent=POLICY.shadow_percent),
    }
    write_deployment(repository, "fraud", Deployment({1: 100}, sequence=1))
    server = Server(repository, root / "server-shadow.log", core=0)
    results: dict[str, list] = {name: [] for name in configurations}
    sequence = 2
    try:
        wrk_pinned(server.url, 32, 3, server.process.pid)  # warm-up
        for round_ in range(rounds):
            order = list(configurations) if round_ % 2 == 0 else list(reversed(configurations))
            for name in order:
                sequence += 1
                deployment = dataclasses.replace(configurations[name], sequence=sequence)
                write_deployment(repository, "fraud", deployment)
                wanted = name != "plain"
                if not wait_until(lambda w=wanted: ("deployment" in _metadata(server.url)) == w, timeout=10):
                    raise RuntimeError(f"the server did not apply the {name} deployment")
                results[name].append(wrk_pinned(server.url, 32, seconds, server.process.pid))
                print(f"round {round_ + 1} {name}: {results[name][-1].report.requests_per_s:,.0f} req/s", flush=True)
        shadowed = server_metrics(server.url)
    finally:
        server.stop()
    return {"results": results, "shadow_scored": _shadow_count(shadowed)}


def _shadow_count(metrics: str | None) -> int:
    total = 0
    for line in (metrics or "").splitlines():
        if line.startswith("flywheel_rollout_requests_total{") and 'role="shadow"' in line and 'outcome="ok"' in line:
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


def rollback_time(root: Path, name: str, model, tick_s: float) -> dict:
    work = root / name.split()[0].lower()
    served, built = work / "served", work / "built"
    for repository in (served, built):
        add_version(repository, 1, logistic_model(CONFIG, seed=1))
    add_version(built, 2, model)
    write_deployment(served, "fraud", Deployment({1: 100}, sequence=1))
    server = Server(served, work / "server.log", core=0)
    declaration = dataclasses.replace(FRAUD, rollout=POLICY)
    target = RolloutTarget(served, built, server.url)
    wrk = ["taskset", "-c", "1", "wrk", "-t1", "-c8", "-d120s", "-s", str(_post_script(work))]
    load = subprocess.Popen(
        [*wrk, f"{server.url}/v2/models/fraud/infer"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(2)
        started = time.monotonic()
        start_rollout(declaration, target, 2, LIMIT, time.time())
        ticks, step = 0, None
        while time.monotonic() - started < 110:
            time.sleep(tick_s)
            ticks += 1
            step = advance_rollout(declaration, target, server_metrics(server.url))
            if step.action in ("rollback", "complete"):
                break
        if step is None or step.action != "rollback":
            return {"outcome": step.action if step else "none", "seconds": None}
        wait_until(lambda: "deployment" not in _metadata(server.url), timeout=10, interval=0.05)
        seconds = time.monotonic() - started
        answered = _answered_by(server_metrics(server.url), 2)
        stage = step.evidence.get("stage", "?")
        return {
            "outcome": "rollback",
            "seconds": seconds,
            "ticks": ticks,
            "answered": answered,
            "stage": stage,
            "reason": step.reasons[1] if len(step.reasons) > 1 else "",
        }
    finally:
        load.terminate()
        load.wait(10)
        server.stop()


def _post_script(directory: Path) -> Path:
    """A wrk script cycling through four request bodies whose categories cover every value (so a challenger broken
    on one category meets it on a quarter of the traffic)."""
    bodies = [infer_body(1, seed=seed).decode() for seed in range(4)]
    script = directory / "post.lua"
    entries = ",\n".join(f"  [[{body}]]" for body in bodies)
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"bodies = {{\n{entries}\n}}\ncounter = 0\n"
        "request = function()\n  counter = counter % #bodies + 1\n"
        "  return wrk.format(nil, nil, nil, bodies[counter])\nend\n"
    )
    return script


def _answered_by(metrics: str | None, version: int) -> int:
    total = 0
    for line in (metrics or "").splitlines():
        if line.startswith("flywheel_inference_requests_total{") and f'version="{version}"' in line:
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


def report(overhead: dict, rollbacks: dict, load: tuple, load_after: tuple, args) -> str:
    plain = overhead["results"]["plain"]
    shadow = overhead["results"]["shadow"]
    sampled = overhead["results"]["shadow 25%"]

    def row(name: str, runs: list) -> str:
        rps = [r.report.requests_per_s for r in runs]
        p99 = [r.report.p99_ms for r in runs]
        cpu = [r.cpu_us_per_request for r in runs]
        return (
            f"| {name} | {statistics.median(rps):,.0f} ({min(rps):,.0f}-{max(rps):,.0f}) | "
            f"{statistics.median(p99):.2f} ({min(p99):.2f}-{max(p99):.2f}) | {statistics.median(cpu):.0f} "
            f"({min(cpu):.0f}-{max(cpu):.0f}) |"
        )

    def cost(runs: list) -> float:
        return 1 - statistics.median(r.report.requests_per_s for r in runs) / statistics.median(
            r.report.requests_per_s for r in plain
        )

    lines = [
        "# Safe rollout: shadow cost and rollback speed",
        "",
        f"Written by `bench/rollout_bench.py` ({machine_description()}; load average before the runs "
        f"{', '.join(f'{x:.2f}' for x in load)}, after {', '.join(f'{x:.2f}' for x in load_after)}). The server (one "
        "worker, the tiny contract model of the serving tests) is pinned to core 0 and `wrk` to core 1.",
        "",
        f"## Shadow scoring at c=32 ({args.rounds} alternating rounds of {args.seconds} s; median (min-max))",
        "",
        "| serving | req/s | p99 ms | server CPU us/request |",
        "|---|---|---|---|",
        row("one version", plain),
        row("one version + a shadow scoring every request", shadow),
        row(f"one version + a shadow scoring {POLICY.shadow_percent}% of the requests (the declared default)", sampled),
        "",
        f"**Throughput cost of shadowing: {cost(sampled):.1%} at the default {POLICY.shadow_percent}% mirror** "
        f"(goal: at most 15%), {cost(shadow):.1%} when every request is mirrored "
        f"({overhead['shadow_scored']:,} shadow scores in the shadow rounds). The mirror is queued on the shadow's "
        "own batcher (which waits up to 2 ms for fuller batches) and never delays the answer, so what it costs is "
        "CPU on the server's one core: the shadow's model runs, its queueing, and the per-version evidence (outcome "
        "counters, run times, score differences). The shadow stage needs 150 requests and 200 paired rows: at a "
        "quarter of the traffic they arrive within seconds at these rates.",
        "",
        f"## Rollback of a bad challenger (controller tick every {args.tick_s:g} s, wrk c=8 throughout)",
        "",
        "Traffic cycles through four request bodies, one of which carries the category the first challenger breaks on.",
        "",
        "| challenger | rolled back in | time from the first mirrored request to v1 alone again | ticks | "
        "requests the bad version answered | evidence |",
        "|---|---|---|---|---|---|",
    ]
    for name, result in rollbacks.items():
        if result["outcome"] != "rollback":
            lines.append(f"| {name} | NOT rolled back ({result['outcome']}) | - | - | - | - |")
            continue
        lines.append(
            f"| {name} | {result['stage']} | {result['seconds']:.1f} s | {result['ticks']} | {result['answered']} | "
            f"{result['reason']} |"
        )
    lines += [
        "",
        "The time is bounded below by the tick (the rollout sensor runs every `max(5, FLYWHEEL_SENSOR_INTERVAL_S "
        "// 3)` seconds in the stack) and by the evidence each rule needs: 5 failed answers for the error rate, 50 "
        "runs of each version for the median model time, a 200-row window for the score divergence.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/bench/rollout.md"), help="page to write")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per configuration")
    parser.add_argument("--seconds", type=int, default=8, help="seconds per wrk run")
    parser.add_argument("--tick-s", type=float, default=2.0, help="controller tick during the rollback runs")
    args = parser.parse_args(argv)
    if (os.cpu_count() or 1) < 2:
        print("needs two cores (server and load generator pinned apart)", file=sys.stderr)
        return 2
    load = os.getloadavg()
    if load[0] > 2:
        print(f"warning: load average {load[0]:.2f} > 2; the numbers will say so", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="rollout-bench-") as scratch:
        root = Path(scratch)
        overhead = shadow_overhead(root, args.rounds, args.seconds)
        rollbacks = {name: rollback_time(root, name, model, args.tick_s) for name, model in CHALLENGERS.items()}
    text = report(overhead, rollbacks, load, os.getloadavg(), args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
