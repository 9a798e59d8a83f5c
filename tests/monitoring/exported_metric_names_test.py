"""Every dashboard query and every rule reads a series that the code really exports (or a rule records).

Exported names come from the real prometheus-client definitions: the inference server's registry
(serving/metrics.py) and the pipeline collector's description (monitoring/pipeline_metrics.py).
"""

from pathlib import Path

import pytest
import yaml

from monitoring.dashboards import build_dashboards
from monitoring.pipeline_metrics import PipelineMetricsCollector
from monitoring.promql_metric_names import promql_metric_names
from serving.metrics import ServingMetrics

RULES = Path(__file__).resolve().parents[2] / "monitoring" / "prometheus" / "flywheel_rules.yml"
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
}


def _sample_names(families) -> set[str]:
    return {family.name + suffix for family in families for suffix in _SUFFIXES[family.type]}


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> set[str]:
    serving = _sample_names(ServingMetrics().registry.collect())
    pipeline = _sample_names(PipelineMetricsCollector(tmp_path_factory.mktemp("snapshots")).describe())
    assert "flywheel_inference_requests_total" in serving and "flywheel_drift_statistic" in pipeline
    return serving | pipeline


def _rules() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def _recorded() -> set[str]:
    return {rule["record"] for rule in _rules() if "record" in rule}


def test_every_rule_reads_exported_or_recorded_series(exported):
    known = exported | _recorded()
    for rule in _rules():
        names = promql_metric_names(rule["expr"])
        assert names, f"rule {rule.get('record') or rule.get('alert')} reads no series"
        assert names <= known, f"rule {rule.get('record') or rule.get('alert')} reads unknown {sorted(names - known)}"


def test_every_dashboard_query_reads_exported_or_recorded_series(exported):
    known = exported | _recorded()
    for uid, model in build_dashboards().items():
        for panel in model["panels"]:
            for target in panel["targets"]:
                names = promql_metric_names(target["expr"])
                assert names, f"{uid} / {panel['title']}: {target['expr']!r} reads no series"
                unknown = names - known
                assert not unknown, f"{uid} / {panel['title']} reads {sorted(unknown)}, which nothing exports"


def test_every_pipeline_metric_is_on_a_dashboard_or_in_a_rule(tmp_path):
    read = {
        name
        for model in build_dashboards().values()
        for panel in model["panels"]
        for target in panel["targets"]
        for name in promql_metric_names(target["expr"])
    }
    read |= {name for rule in _rules() for name in promql_metric_names(rule["expr"])}
    unused = [
        family.name for family in PipelineMetricsCollector(tmp_path).describe() if not _sample_names([family]) & read
    ]
    assert not unused, f"pipeline metrics nobody looks at: {unused}"
