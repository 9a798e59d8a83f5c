"""Quality over time, per model version: labeled, and estimated from the scores before labels arrive; the tables
and the picture the feedback asset shows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from monitoring.feedback_join import PENDING, score_metric
from monitoring.performance_estimation import estimate_metric


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


def estimated_quality_timeline(
    joined: pd.DataFrame, buckets: int = 12, time_column: str = "time", metric: str = "pr_auc"
) -> pd.DataFrame:
    """`metric` of each model version in `buckets` equal slices of prediction time, estimated from every served
    row's score (labeled or not; monitoring/performance_estimation.py): what the labels are expected to say.

    Columns: bucket_start (UTC), model_version, rows, `estimated_<metric>` (NaN where the scores expect one class).
    """
    column = f"estimated_{metric}"
    if joined.empty:
        return pd.DataFrame(columns=["bucket_start", "model_version", "rows", column])
    times = pd.to_datetime(joined[time_column], unit="s", utc=True)
    edges = pd.date_range(times.min(), times.max() + pd.Timedelta(microseconds=1), periods=buckets + 1)
    slices = pd.cut(times, edges, right=False, labels=edges[:-1])
    rows = [
        (start, int(version), len(group), estimate_metric(metric, group["score"].to_numpy()))
        for (start, version), group in joined.groupby([slices, joined["model_version"]], observed=True)
    ]
    return pd.DataFrame(rows, columns=["bucket_start", "model_version", "rows", column])


def plot_quality_timeline(timeline: pd.DataFrame, path: str | Path, estimated: pd.DataFrame | None = None) -> Path:
    """The timeline's metric against time, one line per model version, and dashed, where given, each version's
    estimate from its scores (no pyplot: no global state)."""
    metric = timeline.columns[-1]
    drawable = timeline.dropna(subset=[metric])
    if drawable.empty:
        raise ValueError("no time slice has both classes labeled: nothing to plot")
    figure = Figure(figsize=(8, 3.2), dpi=100)
    FigureCanvasAgg(figure)
    axis = figure.subplots()
    colors = {}
    for version, rows in drawable.groupby("model_version"):
        (line,) = axis.plot(rows["bucket_start"], rows[metric], marker="o", label=f"v{version} labeled")
        colors[version] = line.get_color()
    if estimated is not None and not estimated.empty:
        column = estimated.columns[-1]
        for version, rows in estimated.dropna(subset=[column]).groupby("model_version"):
            axis.plot(
                rows["bucket_start"],
                rows[column],
                linestyle="--",
                color=colors.get(version),
                label=f"v{version} estimated",
            )
    axis.set_ylim(0, 1.02)
    axis.set_ylabel(metric)
    axis.set_title("quality over time by served version")
    axis.legend()
    figure.autofmt_xdate()
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, format="png")
    return path
