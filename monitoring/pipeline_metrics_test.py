"""Unit tests of the pipeline snapshots and their collector: what pipeline runs write is what /metrics shows."""

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from monitoring.drift_report import DRIFT, INSUFFICIENT_DATA, DriftReport, FeatureDrift, StatisticResult
from monitoring.labeled_quality import DEGRADED, QualityCheck, QualityReport
from monitoring.pipeline_exporter import pipeline_registry
from monitoring.pipeline_metrics import (
    PIPELINE_METRICS,
    PipelineMetricsCollector,
    write_drift_snapshot,
    write_ingestion_lag,
    write_quality_snapshot,
    write_retraining_snapshot,
)
from monitoring.retrain_decision import RetrainPolicy, RetrainState

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def _samples(directory) -> dict[tuple, float]:
    text = generate_latest(pipeline_registry(directory)).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _drift_report() -> DriftReport:
    amount = FeatureDrift(
        "amount",
        "numeric",
        (StatisticResult("psi", 0.4, 0.1, True), StatisticResult("wasserstein", 0.2, 0.3, False)),
        0.0,
        0.0,
    )
    return DriftReport(DRIFT, 600, 500, (amount,), "h")


def test_every_metric_is_described_up_front(tmp_path):
    names = {family.name for family in PipelineMetricsCollector(tmp_path).describe()}
    assert names == set(PIPELINE_METRICS)


def test_drift_quality_retraining_and_lag_snapshots_become_samples(tmp_path):
    write_drift_snapshot(tmp_path, "scorer", _drift_report(), NOW)
    quality = QualityReport(
        DEGRADED,
        900,
        (
            QualityCheck("recall", 0.2, 0.3, 120, 0.001, DEGRADED),
            QualityCheck("precision", float("nan"), 0.1, 5, float("nan"), INSUFFICIENT_DATA),
        ),
    )
    write_quality_snapshot(tmp_path, "scorer", quality, NOW)
    state = RetrainState(budget_day="2025-03-01", retrains_on_day=1, budget_alerts=3, episode_start=NOW.isoformat())
    write_retraining_snapshot(tmp_path, "scorer", state, RetrainPolicy(daily_budget=2, cooldown=timedelta(0)), NOW)
    write_ingestion_lag(tmp_path, "transactions", 42.5, NOW)
    samples = _samples(tmp_path)
    labels = (("feature", "amount"), ("kind", "numeric"), ("model", "scorer"), ("statistic", "psi"))
    assert samples[("flywheel_drift_statistic", labels)] == 0.4
    assert samples[("flywheel_drift_threshold", labels)] == 0.1
    assert samples[("flywheel_drift_alarm", (("model", "scorer"),))] == 1.0
    assert samples[("flywheel_drift_window_rows", (("model", "scorer"),))] == 600
    assert samples[("flywheel_labeled_quality", (("metric", "recall"), ("model", "scorer")))] == 0.2
    assert samples[("flywheel_labeled_quality_degraded", (("metric", "recall"), ("model", "scorer")))] == 1.0
    assert ("flywheel_labeled_quality", (("metric", "precision"), ("model", "scorer"))) not in samples
    assert samples[("flywheel_retraining_budget_remaining", (("model", "scorer"),))] == 1
    assert samples[("flywheel_retraining_episode_open", (("model", "scorer"),))] == 1.0
    assert samples[("flywheel_retraining_budget_alerts_total", (("model", "scorer"),))] == 3
    assert samples[("flywheel_ingestion_lag_seconds", (("source", "transactions"),))] == 42.5
    stamp = (("key", "scorer"), ("kind", "drift"))
    assert samples[("flywheel_monitoring_snapshot_timestamp_seconds", stamp)] == NOW.timestamp()
    assert samples[("flywheel_monitoring_snapshot_errors", ())] == 0


def test_insufficient_data_replaces_the_statistics_so_nothing_stale_can_fire(tmp_path):
    write_drift_snapshot(tmp_path, "scorer", _drift_report(), NOW)
    write_drift_snapshot(tmp_path, "scorer", DriftReport(INSUFFICIENT_DATA, 10, 500, (), "h"), NOW)
    samples = _samples(tmp_path)
    assert not any(name == "flywheel_drift_statistic" for name, _ in samples)
    assert samples[("flywheel_drift_window_sufficient", (("model", "scorer"),))] == 0.0
    assert samples[("flywheel_drift_alarm", (("model", "scorer"),))] == 0.0


def test_an_unreadable_snapshot_is_counted_and_named(tmp_path):
    write_ingestion_lag(tmp_path, "labels", 1.0, NOW)
    (tmp_path / "drift--broken.json").write_text("{not json")
    collector = PipelineMetricsCollector(tmp_path)
    errors = next(f for f in collector.collect() if f.name == "flywheel_monitoring_snapshot_errors")
    assert errors.samples[0].value == 1 and "drift--broken.json" in collector.unreadable


def test_bad_keys_and_values_are_refused(tmp_path):
    with pytest.raises(ValueError, match="may hold only"):
        write_ingestion_lag(tmp_path, "../escape", 1.0, NOW)
    with pytest.raises(ValueError, match="negative"):
        write_ingestion_lag(tmp_path, "labels", -1.0, NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        write_ingestion_lag(tmp_path, "labels", 1.0, datetime(2025, 1, 1))
