"""A drift report as a picture: each feature's strongest statistic as a share of its calibrated limit."""

from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from monitoring.drift_report import DriftReport


def limit_ratios(report: DriftReport) -> list[tuple[str, float, str]]:
    """(feature, strongest value / limit, that statistic's name) per feature, strongest first."""
    rows = []
    for feature in report.features:
        usable = [s for s in feature.statistics if s.threshold > 0]
        if usable:
            strongest = max(usable, key=lambda s: s.value / s.threshold)
            rows.append((feature.feature, strongest.value / strongest.threshold, strongest.statistic))
    return sorted(rows, key=lambda row: row[1], reverse=True)


def plot_drift_report(report: DriftReport, path: str | Path, title: str = "drift per feature") -> Path:
    """Horizontal bars of `limit_ratios`; the line at 1.0 is the alarm limit (no pyplot: no global state)."""
    rows = limit_ratios(report)
    if not rows:
        raise ValueError(f"the report has no statistics to plot (status {report.status})")
    figure = Figure(figsize=(8, 0.28 * len(rows) + 1.2), dpi=100)
    FigureCanvasAgg(figure)
    axis = figure.subplots()
    names = [f"{name} ({statistic})" for name, _, statistic in rows][::-1]
    ratios = [ratio for _, ratio, _ in rows][::-1]
    axis.barh(names, ratios, color=["tab:red" if r > 1 else "tab:blue" for r in ratios])
    axis.axvline(1.0, color="black", linestyle="--", linewidth=1)
    axis.set_xlabel("statistic / calibrated limit (alarm above 1)")
    axis.set_title(f"{title}: {report.status} on {report.window_rows} rows")
    axis.tick_params(axis="y", labelsize=8)
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, format="png")
    return path
