"""Labeled quality over time, per model version: the table and the picture the feedback asset shows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from monitoring.feedback_join import PENDING, score_metric


def quality_timeline(
    joined: pd.DataFrame, buckets: int = 12, time_column: str = "time", metric: str = "pr_auc"
) -> pd.DataFrame:
    """`metric` (a model's gate metric: pr_auc, roc_auc, recall_at_fpr) of each model version in `buckets` equal
    slices of prediction time (labeled rows only).

    Columns: bucket_start (UTC), model_version, labeled, positives, the metric (NaN where a slice has one class).
    """
    labeled = joined[joined["status"] != PENDING]
    columns = ["bucket_start", "model_version", "labeled", "positives", metric]
    if labeled.empty:
        return pd.DataFrame(columns=columns)
    times = pd.to_datetime(labeled[time_column], unit="s", utc=True)
    edges = pd.date_range(times.min(), times.max() + pd.Timedelta(microseconds=1), periods=buckets + 1)
    slices = pd.cut(times, edges, right=False, labels=edges[:-1])
    rows = []
    for (start, version), group in labeled.groupby([slices, labeled["model_version"]], observed=True):
        labels = group["label"].to_numpy(dtype=np.int64)
        value = score_metric(metric, labels, group["score"].to_numpy())
        rows.append((start, int(version), len(group), int(labels.sum()), value))
    return pd.DataFrame(rows, columns=columns)


def plot_quality_timeline(timeline: pd.DataFrame, path: str | Path) -> Path:
    """The timeline's metric against time, one line per model version (no pyplot: no global state)."""
    metric = timeline.columns[-1]
    drawable = timeline.dropna(subset=[metric])
    if drawable.empty:
        raise ValueError("no time slice has both classes labeled: nothing to plot")
    figure = Figure(figsize=(8, 3.2), dpi=100)
    FigureCanvasAgg(figure)
    axis = figure.subplots()
    for version, rows in drawable.groupby("model_version"):
        axis.plot(rows["bucket_start"], rows[metric], marker="o", label=f"v{version}")
    axis.set_ylim(0, 1.02)
    axis.set_ylabel(f"{metric} (labeled)")
    axis.set_title("quality over time by served version")
    axis.legend()
    figure.autofmt_xdate()
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, format="png")
    return path
