"""Benchmark: a long run of normal traffic through the real loop (the main job with `--drift none`): alarming drift
ticks, drift episodes and retraining runs per model.

Nothing changes in the generator, so every alarm is a false one, and every retraining run is one without cause. It
runs `python -m tools.local_stack --drift none --serve-seconds S` in the `--short` sizes (real Kafka, MLflow,
Prometheus, the server and `dagster dev` with its daemon ticking the sensors), reads each model's drift and
retraining snapshots (what the drift sensor publishes every tick) while the traffic flows, and writes the counts,
with the statistics that fired, to a page. The stream's simulated clock runs far ahead of the wall clock (at 300
payments a second a card history of 2,000 cards ages by weeks in minutes), so the run also shows how the detectors
behave as entities age past their training data.

Run: PYTHONPATH=. .venv/bin/python bench/no_drift_run.py [--serve-seconds 1800] [--out docs/bench/no_drift_run.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ModelTicks:
    """What one model's drift sensor published during the run."""

    ticks: int = 0
    alarms: int = 0
    insufficient: int = 0
    episodes: int = 0
    fired: Counter = field(default_factory=Counter)
    """(feature, statistic) -> alarming ticks it fired on."""


def read_snapshots(directory: Path, seen: dict[str, float], models: dict[str, ModelTicks], open_episodes: set) -> None:
    """Counts every drift snapshot written since the last read (one per model per tick), and episode openings."""
    for path in directory.glob("*.json"):
        try:
            snapshot = json.loads(path.read_text())
        except (OSError, ValueError):  # being replaced right now: read it next time
            continue
        key, kind, written = snapshot.get("key"), snapshot.get("kind"), snapshot.get("written_at", 0.0)
        if seen.get(path.name) == written:
            continue
        seen[path.name] = written
        model = models.setdefault(key, ModelTicks())
        if kind == "drift":
            model.ticks += 1
            model.insufficient += snapshot["status"] == "insufficient_data"
            if snapshot["alarm"]:
                model.alarms += 1
                for s in snapshot["statistics"]:
                    if s["value"] > s["threshold"]:
                        model.fired[(s["feature"], s["statistic"])] += 1
        elif kind == "retraining":
            if snapshot["episode_open"] and key not in open_episodes:
                model.episodes += 1
                open_episodes.add(key)
            elif not snapshot["episode_open"]:
                open_episodes.discard(key)


def run(serve_seconds: float, out: Path) -> str:
    started = time.time()
    load_before = os.getloadavg()
    state = Path(tempfile.mkdtemp(prefix="flywheel-no-drift-"))
    summary_file = state / "summary.json"
    # The --short sizes, spelled out: --short itself fixes the normal traffic at 30 s.
    cmd = [sys.executable, "-m", "tools.local_stack", "--drift", "none", "--cards", "2000", "--days", "14"]
    cmd += ["--warmup-seconds", "5", "--sensor-interval", "10"]
    cmd += ["--serve-seconds", str(serve_seconds), "--state-dir", str(state), "--free-ports", "--stop-after"]
    cmd += ["--summary-json", str(summary_file)]
    log = (state / "main_job.log").open("w")
    process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[1])
    snapshots = state / "monitoring" / "snapshots"
    seen: dict[str, float] = {}
    models: dict[str, ModelTicks] = {}
    open_episodes: set = set()
    while process.poll() is None:
        time.sleep(2)
        if snapshots.is_dir():
            read_snapshots(snapshots, seen, models, open_episodes)
    log.close()
    if process.returncode != 0 or not summary_file.exists():
        tail = (state / "main_job.log").read_text()[-3000:]
        raise RuntimeError(f"the main job failed (exit {process.returncode}); its log ends:\n{tail}")
    summary = json.loads(summary_file.read_text())
    runs = [r for r in summary.get("runs", []) if r.get("model") and "sensor" in r.get("trigger", "")]
    retrained = Counter(r["model"] for r in runs)
    rows = []
    for name, model in sorted(models.items()):
        if model.ticks == 0:
            continue
        judged = model.ticks - model.insufficient
        fired = model.fired.most_common(4)
        top = ", ".join(f"{feature} {statistic} ({count})" for (feature, statistic), count in fired)
        registered = name.replace("-", "_").removesuffix("_model")
        rows.append(
            f"| {name} | {model.ticks} | {judged} | {model.alarms} ({model.alarms / max(judged, 1):.1%}) |"
            f" {model.episodes} | {retrained.get(registered, 0)} | {top or '-'} |"
        )
    elapsed = time.time() - started
    normal = summary.get("normal_traffic", {})
    page = "\n".join(
        [
            "# A long run of normal traffic: false drift alarms in the real loop",
            "",
            f"Generated by `bench/no_drift_run.py --serve-seconds {serve_seconds:.0f}` on {platform.node()}"
            f" ({platform.processor() or 'cpu'}), {time.strftime('%Y-%m-%d %H:%M', time.gmtime(started))} UTC,"
            f" {elapsed / 60:.0f} min in all; load average before: {load_before[0]:.1f}. The main job in its"
            f" `--short` size with `--drift none`: {serve_seconds / 60:.0f} minutes of unchanged traffic through the"
            f" server ({sum(normal.get('by_version', {}).values()):,} scored requests), every model's drift sensor"
            " ticking on its own served records against its serving version's reference. Every alarm is false;"
            " an episode opens after two alarming ticks in a row, and a retraining run follows once it has settled.",
            "",
            "| model | drift ticks | with a full window | alarming ticks | episodes opened | retraining runs |"
            " statistics that fired most (ticks) |",
            "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
            *rows,
            "",
            f"Retraining runs requested by a sensor during the run: {len(runs)}"
            + (f" ({', '.join(f'{m}: {n}' for m, n in retrained.items())})." if runs else "."),
            "",
        ]
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page)
    return page


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve-seconds", type=float, default=1800, help="minutes of normal traffic, in seconds")
    parser.add_argument("--out", type=Path, default=Path("docs/bench/no_drift_run.md"))
    args = parser.parse_args()
    print(run(args.serve_seconds, args.out))


if __name__ == "__main__":
    main()
