"""Evidently's default drift tests as a peer of bench/monitoring_drift.py: write a batch, run it, summarise verdicts.

Evidently runs in its own virtualenv (bench/competitors/setup_envs.sh evidently), so one subprocess of
bench/competitors/evidently_drift.py judges every window of a batch; this module is the main process's side.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from bench.competitors.peer_servers import VENVS, peer_python

VERDICT_SCRIPT = Path(__file__).with_name("evidently_drift.py")
KINDS = ("numerical", "categorical")
"""Column types a batch may declare (Evidently's ColumnType.Numerical and .Categorical)."""


@dataclass(frozen=True)
class EvidentlyVerdict:
    """Evidently's default drift verdict on one window."""

    drift: bool
    """Whether the default test flagged the window as drifted."""
    score: float
    """The test's score (a p-value for KS/chi-square, a distance for Wasserstein/Jensen-Shannon)."""
    method: str
    """The test Evidently chose, as it names it (e.g. 'Wasserstein distance (normed)')."""
    threshold: float
    """The test's default threshold."""


@dataclass(frozen=True)
class EvidentlyResult:
    """Verdicts on one batch and the Evidently version that gave them."""

    version: str
    """evidently.__version__ in the peer virtualenv."""
    verdicts: list[EvidentlyVerdict]
    """One per window, in the order the windows were given."""
    report_checks: int
    """Windows also run through Report([DataDriftPreset()]) and found to agree."""


@dataclass(frozen=True)
class EvidentlySummary:
    """Verdicts on labelled windows folded per window size."""

    detected: dict[int, float]
    """Per size, the share of drifted windows Evidently flagged."""
    false_alarms: dict[int, float]
    """Per size, the share of no-drift windows Evidently flagged."""
    methods: tuple[str, ...]
    """Every test Evidently chose, with its threshold, sorted (one unless the choice changed between windows)."""


def _as_arrow(values, kind: str) -> pa.Array:
    if kind == "numerical":
        return pa.array(np.asarray(values, dtype=np.float64), type=pa.float64(), from_pandas=True)
    return pa.array(pd.Series(values, dtype=object), type=pa.string(), from_pandas=True)


def write_batch(
    folder: Path, column: str, kind: str, reference, windows: Sequence, report_checks: Sequence[int] = ()
) -> None:
    """Write the files evidently_drift.py reads: batch.json, reference.parquet, windows.parquet (windows end to end)."""
    if kind not in KINDS:
        raise ValueError(f"column {column!r}: kind {kind!r} is not one of {KINDS}")
    if not windows:
        raise ValueError(f"column {column!r}: no windows to judge")
    lengths = [len(w) for w in windows]
    if min(lengths) == 0:
        raise ValueError(f"column {column!r}: window {lengths.index(0)} is empty")
    bad = [i for i in report_checks if not 0 <= i < len(windows)]
    if bad:
        raise ValueError(f"column {column!r}: report_checks {bad} are not window indices (0..{len(windows) - 1})")
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"value": _as_arrow(reference, kind)}), folder / "reference.parquet")
    pieces = [_as_arrow(w, kind) for w in windows]
    pq.write_table(pa.table({"value": pa.chunked_array(pieces)}), folder / "windows.parquet")
    spec = {"column": column, "kind": kind, "lengths": lengths, "report_checks": list(report_checks)}
    (folder / "batch.json").write_text(json.dumps(spec))


def parse_verdicts(text: str, windows: int) -> EvidentlyResult:
    """Read verdicts.json, checking there is one verdict per window."""
    result = json.loads(text)
    verdicts = [
        EvidentlyVerdict(bool(v["drift"]), float(v["score"]), v["method"], float(v["threshold"]))
        for v in result["verdicts"]
    ]
    if len(verdicts) != windows:
        raise ValueError(f"verdicts.json has {len(verdicts)} verdicts for {windows} windows")
    return EvidentlyResult(result["evidently"], verdicts, int(result["report_checks"]))


def run_evidently(
    column: str,
    kind: str,
    reference,
    windows: Sequence,
    report_checks: Sequence[int] = (),
    venvs: Path = VENVS,
    timeout_s: float = 3600.0,
) -> EvidentlyResult:
    """Evidently's default verdict on every window, in one subprocess of the Evidently virtualenv.

    Raises PeerUnavailable when the virtualenv is missing, RuntimeError (with Evidently's stderr) when it fails.
    """
    python = peer_python("evidently", venvs)
    with tempfile.TemporaryDirectory(prefix="evidently-batch-") as tmp:
        folder = Path(tmp)
        write_batch(folder, column, kind, reference, windows, report_checks)
        env = {**os.environ, "DO_NOT_TRACK": "1"}
        done = subprocess.run(
            [str(python), str(VERDICT_SCRIPT), str(folder)],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
        if done.returncode != 0:
            raise RuntimeError(f"Evidently failed on column {column!r} (exit {done.returncode}): {done.stderr[-2000:]}")
        return parse_verdicts((folder / "verdicts.json").read_text(), len(windows))


def summarise(sizes: Sequence[int], drifted: Sequence[bool], verdicts: Sequence[EvidentlyVerdict]) -> EvidentlySummary:
    """Per window size: share of drifted windows flagged (detection) and of no-drift windows flagged (false alarms)."""
    if not len(sizes) == len(drifted) == len(verdicts):
        raise ValueError(
            f"{len(sizes)} sizes, {len(drifted)} labels and {len(verdicts)} verdicts: expected one each per window"
        )
    detected: dict[int, float] = {}
    false_alarms: dict[int, float] = {}
    for size in sorted(set(sizes)):
        flagged = [v.drift for s, d, v in zip(sizes, drifted, verdicts, strict=True) if s == size and d]
        alarms = [v.drift for s, d, v in zip(sizes, drifted, verdicts, strict=True) if s == size and not d]
        if flagged:
            detected[size] = float(np.mean(flagged))
        if alarms:
            false_alarms[size] = float(np.mean(alarms))
    methods = tuple(sorted({f"{v.method}, threshold {v.threshold:g}" for v in verdicts}))
    return EvidentlySummary(detected, false_alarms, methods)


def rows_needed(detected: Mapping[int, float], power: float) -> int | None:
    """The smallest window size whose detection share reaches `power`, or None if no size does."""
    return min((size for size, share in detected.items() if share >= power), default=None)
