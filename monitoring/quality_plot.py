"""Labeled quality over time, per model version: the table and the picture the feedback asset shows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import average_precision_score

from monitoring.feedback_join import PENDING


def quality_timeline(joined: pd.DataFrame, buckets: int = 12, time_column: str = "time") -> pd.DataFrame:
    """PR-AUC of each model version in `buckets` equal slices of prediction time (labeled rows only).

    Columns: bucket_start (UTC), model_version, labeled, positives, pr_auc (NaN where a slice has only one class).
    """
    labeled = joined[joined["status"] != PENDING]
    columns = ["bucket_start", "model_version", "labeled", "positives", "pr_auc"]
    if labeled.empty:
        return pd.DataFrame(columns=columns)
    times = pd.to_datetime(labeled[time_column], unit="s", utc=True)
    edges = pd.date_range(times.min(), times.max() + pd.Timedelta(microseconds=1), periods=buckets + 1)
    slices = pd.cut(times, edges, right=False, labels=edges[:-1])
    rows = []
    for (start, version), group in labeled.groupby([slices, labeled["model_version"]], observed=True):
        labels = group["label"].to_numpy(dtype=np.int64)
        both = 0 < labels.sum() < len(labels)
        pr_auc = float(average_precision_score(labels, group["score"])) if both else float("nan")
        rows.append((start, int(version), len(group), int(labels.sum()), pr_auc))
    return pd.DataFrame(rows, columns=columns)


def plot_quality_timeline(timeline: pd.DataFrame, path: str | Path) -> Path:
    """PR-AUC against time, one line per model version (no pyplot: no global state)."""
    drawable = timeline.dropna(subset=["pr_auc"])
    if drawable.empty:
        raise ValueError("no time slice has both classes labeled: nothing to plot")
    figure = Figure(figsize=(8, 3.2), dpi=100)
    FigureCanvasAgg(figure)
    axis = figure.subplots()
    for version, rows in drawable.groupby("model_version"):
        axis.plot(rows["bucket_start"], rows["pr_auc"], marker="o", label=f"v{version}")
    axis.set_ylim(0, 1.02)
    axis.set_ylabel("PR-AUC (labeled)")
    axis.set_title("quality over time by served version")
    axis.legend()
    figure.autofmt_xdate()
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, format="png")
    return path
