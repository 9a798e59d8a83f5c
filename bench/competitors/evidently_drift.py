"""Evidently's default column-drift verdict for every window of one batch; runs in the Evidently virtualenv.

    .flywheel/bench-venvs/evidently/bin/python bench/competitors/evidently_drift.py BATCH_DIR

BATCH_DIR is written by bench/competitors/evidently_peer.py: `batch.json` (column, kind, window lengths, which windows
to cross-check), `reference.parquet` and `windows.parquet` (one `value` column each; the windows end to end). Writes
`verdicts.json`: per window, drift detected, score, the test Evidently chose and its threshold.

Each window goes through what Evidently's DataDriftPreset does for one column (`get_one_column_drift`): drop
missing and infinite values, let `get_stattest` pick the default test for the column type and reference size, run it
at its default threshold. The full `Report([DataDriftPreset(columns=[column])])` costs 0.4-1 s a window on a
170k-row reference (it also renders plots), so it runs only on the `report_checks` windows, and any disagreement
with the direct call (test, score or verdict) fails the batch.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

KINDS = ("numerical", "categorical")
"""Column types the batch may declare."""


def read_batch(folder: Path) -> tuple[dict, pd.Series, list[pd.Series]]:
    """The batch description, the reference column and the windows, as written by evidently_peer.write_batch."""
    spec = json.loads((folder / "batch.json").read_text())
    if spec.get("kind") not in KINDS:
        raise ValueError(f"{folder / 'batch.json'}: kind {spec.get('kind')!r} is not one of {KINDS}")
    reference = pd.read_parquet(folder / "reference.parquet")["value"]
    values = pd.read_parquet(folder / "windows.parquet")["value"]
    lengths = [int(n) for n in spec["lengths"]]
    if sum(lengths) != len(values):
        raise ValueError(
            f"{folder / 'windows.parquet'} holds {len(values)} values; batch.json's lengths add to {sum(lengths)}"
        )
    ends = np.cumsum(lengths)
    windows = [values.iloc[end - n : end].reset_index(drop=True) for n, end in zip(lengths, ends, strict=True)]
    return spec, reference, windows


def _clean(values: pd.Series) -> pd.Series:
    """What get_one_column_drift tests: the column without missing and infinite values."""
    return values.replace([-np.inf, np.inf], np.nan).dropna()


def default_verdict(reference: pd.Series, current: pd.Series, kind: str) -> dict:
    """Evidently's default test for this column type and reference size, at its default threshold."""
    from evidently.legacy.calculations.stattests.registry import get_stattest
    from evidently.legacy.core import ColumnType

    column_type = ColumnType.Numerical if kind == "numerical" else ColumnType.Categorical
    reference, current = _clean(reference), _clean(current)
    test = get_stattest(reference, current, column_type, None)
    result = test(reference, current, column_type, None)
    return {
        "drift": bool(result.drifted),
        "score": float(result.drift_score),
        "method": test.display_name,
        "threshold": float(result.actual_threshold),
    }


def report_verdict(reference: pd.Series, current: pd.Series, kind: str, column: str) -> dict:
    """The same verdict through the public API: Report([DataDriftPreset(columns=[column])]).run(current, reference)."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(
        numerical_columns=[column] if kind == "numerical" else [],
        categorical_columns=[column] if kind == "categorical" else [],
    )
    snapshot = Report([DataDriftPreset(columns=[column])], include_tests=True).run(
        Dataset.from_pandas(current.to_frame(column), data_definition=definition),
        Dataset.from_pandas(reference.to_frame(column), data_definition=definition),
    )
    result = snapshot.dict()
    metric = next(m for m in result["metrics"] if m["config"]["type"] == "evidently:metric_v2:ValueDrift")
    test = next(t for t in result["tests"] if t["metric_config"]["metric_id"] == metric["id"])
    return {
        "drift": test["status"] == "FAIL",
        "score": float(metric["value"]),
        "method": metric["config"]["method"],
        "threshold": float(metric["config"]["threshold"]),
    }


def _same(direct: dict, report: dict) -> bool:
    return (
        direct["drift"] == report["drift"]
        and direct["method"] == report["method"]
        and direct["threshold"] == report["threshold"]
        and math.isclose(direct["score"], report["score"], rel_tol=1e-9, abs_tol=1e-12)
    )


def main(argv: list[str]) -> int:
    """Write BATCH_DIR/verdicts.json; exit 1 if the Report disagrees with the direct call on a checked window."""
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    import evidently

    folder = Path(argv[0])
    spec, reference, windows = read_batch(folder)
    verdicts = [default_verdict(reference, window, spec["kind"]) for window in windows]
    for index in spec.get("report_checks", []):
        report = report_verdict(reference, windows[index], spec["kind"], spec["column"])
        if not _same(verdicts[index], report):
            print(f"window {index}: Report says {report}, the direct call says {verdicts[index]}", file=sys.stderr)
            return 1
    result = {
        "evidently": evidently.__version__,
        "verdicts": verdicts,
        "report_checks": len(spec.get("report_checks", [])),
    }
    (folder / "verdicts.json").write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
