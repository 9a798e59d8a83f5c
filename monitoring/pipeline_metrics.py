"""The pipeline's monitoring metrics: snapshot files written by pipeline runs, exposed by a Prometheus collector.

Dagster runs are short-lived, so they cannot be scraped. Each run writes what it measured (a drift report, a
labeled-quality report, the retraining state, an ingestion lag) as one small JSON file per (kind, key) into a
snapshot directory, atomically (temp file + rename): no locks, and two runs never write the same file unless they
measure the same thing, when the newer one wins. `PipelineMetricsCollector` reads the directory at every scrape;
a long-running exporter (pipeline_exporter.py) serves it. Every metric name lives here, in PIPELINE_METRICS.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitoring.drift_report import DriftReport
from monitoring.labeled_quality import DEGRADED, QualityReport
from monitoring.retrain_decision import RetrainPolicy, RetrainState, budget_remaining

DRIFT = "drift"
QUALITY = "quality"
RETRAINING = "retraining"
INGESTION = "ingestion"
KINDS = (DRIFT, QUALITY, RETRAINING, INGESTION)


@dataclass(frozen=True)
class MetricDefinition:
    """One exported metric: name (without the _total a counter gets), type, help and label names."""

    name: str
    type: str
    documentation: str
    labels: tuple[str, ...]


PIPELINE_METRICS: dict[str, MetricDefinition] = {
    m.name: m
    for m in (
        MetricDefinition(
            "flywheel_drift_statistic",
            "gauge",
            "Drift statistic of a feature (or the score) on the latest full window.",
            ("model", "feature", "kind", "statistic"),
        ),
        MetricDefinition(
            "flywheel_drift_threshold",
            "gauge",
            "Calibrated limit of the drift statistic; above it the statistic fires.",
            ("model", "feature", "kind", "statistic"),
        ),
        MetricDefinition(
            "flywheel_drift_alarm", "gauge", "1 when the latest drift verdict is drift, else 0.", ("model",)
        ),
        MetricDefinition(
            "flywheel_drift_window_sufficient",
            "gauge",
            "1 when the latest window had enough rows for a verdict, 0 for insufficient data.",
            ("model",),
        ),
        MetricDefinition("flywheel_drift_window_rows", "gauge", "Rows in the latest drift window.", ("model",)),
        MetricDefinition(
            "flywheel_labeled_quality",
            "gauge",
            "Recall or precision at the operating threshold on served rows whose labels arrived.",
            ("model", "metric"),
        ),
        MetricDefinition(
            "flywheel_labeled_quality_reference",
            "gauge",
            "The same metric measured when the model version was trained.",
            ("model", "metric"),
        ),
        MetricDefinition(
            "flywheel_labeled_quality_degraded",
            "gauge",
            "1 when the metric fell significantly below its reference, else 0.",
            ("model", "metric"),
        ),
        MetricDefinition(
            "flywheel_labeled_quality_trials",
            "gauge",
            "Labeled rows behind the metric (positives for recall, flagged rows for precision).",
            ("model", "metric"),
        ),
        MetricDefinition(
            "flywheel_retraining_budget_remaining",
            "gauge",
            "Drift-triggered retraining runs still allowed today (UTC).",
            ("model",),
        ),
        MetricDefinition(
            "flywheel_retraining_episode_open",
            "gauge",
            "1 while a drift episode is open, else 0.",
            ("model",),
        ),
        MetricDefinition(
            "flywheel_retraining_budget_alerts",
            "counter",
            "Drift episodes that wanted retraining when the daily budget was spent.",
            ("model",),
        ),
        MetricDefinition(
            "flywheel_ingestion_lag_seconds",
            "gauge",
            "How far ingestion is behind: now minus the newest event time it has landed.",
            ("source",),
        ),
        MetricDefinition(
            "flywheel_monitoring_snapshot_errors",
            "gauge",
            "Snapshot files that could not be read at this scrape (their names are logged).",
            (),
        ),
        MetricDefinition(
            "flywheel_monitoring_snapshot_timestamp_seconds",
            "gauge",
            "When a pipeline run last wrote this snapshot (Unix seconds).",
            ("kind", "key"),
        ),
    )
}

_LOG = logging.getLogger(__name__)
_KEY = re.compile(r"^[A-Za-z0-9_.:-]+$")


def _write_atomic(directory: Path, kind: str, key: str, payload: dict, now: datetime) -> Path:
    if kind not in KINDS:
        raise ValueError(f"snapshot kind must be one of {KINDS}, not {kind!r}")
    if not _KEY.match(key):
        raise ValueError(f"snapshot key {key!r} may hold only letters, digits and . _ : -")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{kind}--{key}.json"
    body = json.dumps({"kind": kind, "key": key, "written_at": now.timestamp(), **payload})
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".json")
    with os.fdopen(handle, "w") as file:
        file.write(body)
    os.replace(temporary, target)
    return target


def write_drift_snapshot(directory, model: str, report: DriftReport, now: datetime) -> Path:
    """Publishes a drift report: every statistic with its limit, the verdict and the window size."""
    statistics = [
        {"feature": f.feature, "kind": f.kind, "statistic": s.statistic, "value": s.value, "threshold": s.threshold}
        for f in report.features
        for s in f.statistics
    ]
    payload = {"status": report.status, "alarm": report.alarm, "rows": report.rows, "statistics": statistics}
    return _write_atomic(directory, DRIFT, model, payload, now)


def write_quality_snapshot(directory, model: str, report: QualityReport, now: datetime) -> Path:
    """Publishes a labeled-quality report (metrics with too few trials are left out, not exported as NaN)."""
    checks = [
        {
            "metric": c.metric,
            "value": c.value,
            "reference": c.reference,
            "trials": c.trials,
            "degraded": c.status == DEGRADED,
        }
        for c in report.checks
        if c.trials > 0 and c.value == c.value
    ]
    return _write_atomic(directory, QUALITY, model, {"status": report.status, "checks": checks}, now)


def write_retraining_snapshot(directory, model: str, state: RetrainState, policy: RetrainPolicy, now: datetime) -> Path:
    """Publishes the retraining budget left today, whether an episode is open, and the budget-alert count."""
    payload = {
        "budget_remaining": budget_remaining(state, policy, now),
        "episode_open": state.episode_start is not None,
        "budget_alerts": state.budget_alerts,
    }
    return _write_atomic(directory, RETRAINING, model, payload, now)


def write_ingestion_lag(directory, source: str, lag_seconds: float, now: datetime) -> Path:
    """Publishes how far ingestion of `source` is behind (seconds)."""
    if lag_seconds < 0:
        raise ValueError(f"ingestion lag of {source!r} is negative ({lag_seconds}); check the event clock")
    return _write_atomic(directory, INGESTION, source, {"lag_seconds": float(lag_seconds)}, now)


def _family(name: str, labels: tuple[str, ...] | None = None) -> Metric:
    definition = PIPELINE_METRICS[name]
    family = CounterMetricFamily if definition.type == "counter" else GaugeMetricFamily
    return family(name, definition.documentation, labels=list(labels or definition.labels))


class PipelineMetricsCollector(Collector):
    """Reads every snapshot in `directory` at each scrape and yields PIPELINE_METRICS from them."""

    def __init__(self, directory) -> None:
        self.directory = Path(directory)
        self.unreadable: dict[str, str] = {}
        """Snapshot file name -> why it could not be read at the last scrape (also logged as a warning)."""

    def describe(self):
        """The metric families without samples, so registries (and tests) know every name up front."""
        return [_family(name) for name in PIPELINE_METRICS]

    def _snapshots(self) -> list[dict]:
        snapshots = []
        self.unreadable = {}
        for path in sorted(self.directory.glob("*--*.json")):
            try:
                snapshots.append(json.loads(path.read_text()))
            except (OSError, ValueError) as error:
                self.unreadable[path.name] = str(error)
                _LOG.warning("skipping unreadable monitoring snapshot %s: %s", path, error)
        return snapshots

    def collect(self):
        families = {name: _family(name) for name in PIPELINE_METRICS}
        for snapshot in self._snapshots():
            kind, key = snapshot["kind"], snapshot["key"]
            families["flywheel_monitoring_snapshot_timestamp_seconds"].add_metric([kind, key], snapshot["written_at"])
            if kind == DRIFT:
                for s in snapshot["statistics"]:
                    labels = [key, s["feature"], s["kind"], s["statistic"]]
                    families["flywheel_drift_statistic"].add_metric(labels, s["value"])
                    families["flywheel_drift_threshold"].add_metric(labels, s["threshold"])
                families["flywheel_drift_alarm"].add_metric([key], float(snapshot["alarm"]))
                sufficient = snapshot["status"] != "insufficient_data"
                families["flywheel_drift_window_sufficient"].add_metric([key], float(sufficient))
                families["flywheel_drift_window_rows"].add_metric([key], snapshot["rows"])
            elif kind == QUALITY:
                for c in snapshot["checks"]:
                    families["flywheel_labeled_quality"].add_metric([key, c["metric"]], c["value"])
                    families["flywheel_labeled_quality_reference"].add_metric([key, c["metric"]], c["reference"])
                    families["flywheel_labeled_quality_degraded"].add_metric([key, c["metric"]], float(c["degraded"]))
                    families["flywheel_labeled_quality_trials"].add_metric([key, c["metric"]], c["trials"])
            elif kind == RETRAINING:
                families["flywheel_retraining_budget_remaining"].add_metric([key], snapshot["budget_remaining"])
                families["flywheel_retraining_episode_open"].add_metric([key], float(snapshot["episode_open"]))
                families["flywheel_retraining_budget_alerts"].add_metric([key], snapshot["budget_alerts"])
            elif kind == INGESTION:
                families["flywheel_ingestion_lag_seconds"].add_metric([key], snapshot["lag_seconds"])
        families["flywheel_monitoring_snapshot_errors"].add_metric([], len(self.unreadable))
        return list(families.values())
