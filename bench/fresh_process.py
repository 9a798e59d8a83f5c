"""Runs one benchmark step in a fresh Python process, so its time and peak memory are its own.

The step is `module:function` called with JSON keyword arguments; it returns a JSON-able dict, to which the child
adds `peak_rss_mb` (that process's own high-water mark).
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_step(target: str, timeout_s: float = 3600, **kwargs) -> dict:
    """Calls `target` ('package.module:function') with `kwargs` in a child interpreter; returns its result."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *(p for p in sys.path if p)])}
    done = subprocess.run(
        [sys.executable, "-m", "bench.fresh_process", target, json.dumps(kwargs)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=timeout_s,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"benchmark step {target} failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def peak_rss_mb() -> float:
    """This process's resident-set high-water mark (VmHWM: unlike getrusage's maxrss, not inherited over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _main() -> None:
    target, arguments = sys.argv[1], json.loads(sys.argv[2])
    module, function = target.split(":")
    result = getattr(importlib.import_module(module), function)(**arguments)
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))


if __name__ == "__main__":
    _main()
