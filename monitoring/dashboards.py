"""Grafana dashboards as code (grafana-foundation-sdk): serving, model quality, data and drift, pipeline.

`build_dashboards()` returns each dashboard's JSON model; `python -m monitoring.dashboards DIR` writes them as
DIR/<uid>.json for Grafana's file provisioning (monitoring/grafana/ holds the committed copies, which a test keeps
equal to what this module generates). Queries use the recorded series of prometheus/flywheel_rules.yml where one
exists, so dashboards and alerts agree on what "error rate" or "p99" means.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

from grafana_foundation_sdk.builders import dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef, GridPos, Threshold, ThresholdsMode

DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
PANEL_WIDTH, PANEL_HEIGHT = 12, 8


@dataclass(frozen=True)
class Query:
    """One PromQL target of a panel and its legend."""

    expr: str
    legend: str = ""


@dataclass(frozen=True)
class PanelSpec:
    """A panel: title, queries, unit, and a red threshold (None for none); stat panels show the last value."""

    title: str
    queries: tuple[Query, ...]
    unit: str = "short"
    threshold: float | None = None
    kind: str = "timeseries"
    description: str = ""


def _histogram_quantile(q: float, metric: str) -> str:
    return f"histogram_quantile({q}, sum by (model, le) (rate({metric}_bucket[5m])))"


SERVING = (
    PanelSpec("Requests per second", (Query("flywheel:inference_requests:rate5m", "{{model}}"),), "reqps"),
    PanelSpec(
        "Error ratio (5xx)",
        (Query("flywheel:inference_errors:ratio_rate5m", "{{model}}"),),
        "percentunit",
        0.01,
        description="Alert FlywheelServingErrorRateHigh above 1% for 5 minutes.",
    ),
    PanelSpec(
        "Latency p50 / p99 against the 50 ms SLO",
        (
            Query("flywheel:inference_latency_seconds:p99_5m", "p99 {{model}}"),
            Query(_histogram_quantile(0.5, "flywheel_inference_request_duration_seconds"), "p50 {{model}}"),
        ),
        "s",
        0.05,
    ),
    PanelSpec(
        "Refused with 503 (queue full or timed out)",
        (Query("flywheel:inference_rejections:ratio_rate5m", "{{model}}"),),
        "percentunit",
        0.001,
    ),
    PanelSpec("Queued rows", (Query("flywheel_inference_queue_rows", "{{model}}"),), "short", 3276),
    PanelSpec(
        "Rows and requests per batch (p50)",
        (
            Query(_histogram_quantile(0.5, "flywheel_inference_batch_size"), "rows {{model}}"),
            Query(_histogram_quantile(0.5, "flywheel_inference_batch_requests"), "requests {{model}}"),
        ),
    ),
    PanelSpec(
        "Model run time p99",
        (Query(_histogram_quantile(0.99, "flywheel_inference_model_run_seconds"), "{{model}}"),),
        "s",
    ),
    PanelSpec("Loaded version", (Query("flywheel_model_loaded_version", "{{model}}"),), kind="stat"),
    PanelSpec("Workers per version", (Query("flywheel_model_version_workers", "{{model}} v{{version}}"),)),
    PanelSpec(
        "Version loads (1h)",
        (
            Query(
                "sum by (model, version, outcome) (increase(flywheel_model_reloads_total[1h]))",
                "{{model}} v{{version}} {{outcome}}",
            ),
        ),
    ),
    PanelSpec(
        "Rollout: traffic per version (%) and shadows",
        (
            Query("max by (model, version) (flywheel_rollout_weight_percent) > 0", "{{model}} v{{version}}"),
            Query("max by (model, version) (flywheel_rollout_shadow) == 1", "{{model}} v{{version}} shadow"),
        ),
        description="Weights of the deployment each model serves; a shadow scores a mirror of the traffic.",
    ),
    PanelSpec(
        "Rollout evidence: failed or invalid answers per version (5m)",
        (
            Query(
                "sum by (model, version, role) "
                '(increase(flywheel_rollout_requests_total{outcome=~"error|invalid"}[5m]))',
                "{{model}} v{{version}} {{role}}",
            ),
        ),
    ),
    PanelSpec(
        "Rollout evidence: mean |shadow - served| score",
        (
            Query(
                "sum by (model, version) (rate(flywheel_rollout_score_difference_sum[5m]))"
                " / sum by (model, version) (rate(flywheel_rollout_score_difference_count[5m]))",
                "{{model}} v{{version}}",
            ),
        ),
    ),
    PanelSpec(
        "Automatic rollbacks (1d)",
        (Query("max by (model) (delta(flywheel_rollout_rollbacks[1d]))", "{{model}}"),),
        threshold=1,
        kind="stat",
    ),
)

MODEL_QUALITY = (
    PanelSpec(
        "Labeled recall and precision against the reference",
        (
            Query("flywheel_labeled_quality", "{{model}} {{metric}}"),
            Query("flywheel_labeled_quality_reference", "{{model}} {{metric}} (reference)"),
        ),
        "percentunit",
    ),
    PanelSpec(
        "Quality degraded (1 = significant drop)",
        (Query("flywheel_labeled_quality_degraded", "{{model}} {{metric}}"),),
        threshold=1,
        kind="stat",
    ),
    PanelSpec("Labeled rows behind each metric", (Query("flywheel_labeled_quality_trials", "{{model}} {{metric}}"),)),
    PanelSpec(
        "Mean served score",
        (
            Query(
                "sum by (model) (rate(flywheel_inference_score_sum[5m]))"
                " / sum by (model) (rate(flywheel_inference_score_count[5m]))",
                "{{model}}",
            ),
        ),
        "percentunit",
    ),
    PanelSpec(
        "Served score distribution (share per bucket upper bound)",
        (
            Query(
                "sum by (le) (rate(flywheel_inference_score_bucket[15m]))"
                " / ignoring (le) group_left sum(rate(flywheel_inference_score_count[15m]))",
                "<= {{le}}",
            ),
        ),
        "percentunit",
    ),
)

DATA_AND_DRIFT = (
    PanelSpec(
        "Drift statistic / calibrated limit (above 1 fires)",
        (Query("flywheel:drift_statistic:ratio_to_threshold", "{{model}} {{feature}} {{statistic}}"),),
        threshold=1,
    ),
    PanelSpec(
        "Drift statistics",
        (Query("flywheel_drift_statistic", "{{feature}} {{statistic}}"),),
        description="Raw values; compare with flywheel_drift_threshold.",
    ),
    PanelSpec("Drift limits", (Query("flywheel_drift_threshold", "{{feature}} {{statistic}}"),)),
    PanelSpec("Drift verdict (1 = drift)", (Query("flywheel_drift_alarm", "{{model}}"),), threshold=1, kind="stat"),
    PanelSpec(
        "Drift window",
        (
            Query("flywheel_drift_window_rows", "rows {{model}}"),
            Query("flywheel_drift_window_sufficient", "sufficient {{model}}"),
        ),
    ),
    PanelSpec("Ingestion lag", (Query("flywheel_ingestion_lag_seconds", "{{source}}"),), "s", 900),
)

PIPELINE = (
    PanelSpec(
        "Retraining budget left today", (Query("flywheel_retraining_budget_remaining", "{{model}}"),), kind="stat"
    ),
    PanelSpec("Drift episode open", (Query("flywheel_retraining_episode_open", "{{model}}"),), kind="stat"),
    PanelSpec(
        "Episodes refused for budget (24h)",
        (Query("increase(flywheel_retraining_budget_alerts_total[1d])", "{{model}}"),),
        threshold=1,
    ),
    PanelSpec(
        "Age of each monitoring snapshot",
        (Query("time() - flywheel_monitoring_snapshot_timestamp_seconds", "{{kind}} {{key}}"),),
        "s",
        7200,
    ),
    PanelSpec("Unreadable snapshots", (Query("flywheel_monitoring_snapshot_errors"),), threshold=1, kind="stat"),
    PanelSpec(
        "Prediction log records per second",
        (Query("sum by (outcome) (rate(flywheel_prediction_log_records_total[5m]))", "{{outcome}}"),),
        "ops",
    ),
    PanelSpec("Prediction log pending", (Query("flywheel_prediction_log_pending"),)),
    PanelSpec("Ingestion lag", (Query("flywheel_ingestion_lag_seconds", "{{source}}"),), "s", 900),
)

DASHBOARDS: dict[str, tuple[str, tuple[PanelSpec, ...]]] = {
    "flywheel-serving": ("Flywheel / Serving", SERVING),
    "flywheel-model-quality": ("Flywheel / Model quality", MODEL_QUALITY),
    "flywheel-data-drift": ("Flywheel / Data and drift", DATA_AND_DRIFT),
    "flywheel-pipeline": ("Flywheel / Pipeline", PIPELINE),
}
"""uid -> (title, panels) of every dashboard."""


def _thresholds(limit: float | None) -> dashboard.ThresholdsConfig:
    steps = [Threshold(value=None, color="green")]
    if limit is not None:
        steps.append(Threshold(value=limit, color="red"))
    return dashboard.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(steps)


def _panel(spec: PanelSpec, panel_id: int, position: GridPos):
    builder = stat.Panel() if spec.kind == "stat" else timeseries.Panel()
    builder = (
        builder.id(panel_id)
        .title(spec.title)
        .datasource(DATASOURCE)
        .unit(spec.unit)
        .thresholds(_thresholds(spec.threshold))
        .grid_pos(position)
    )
    if spec.description:
        builder = builder.description(spec.description)
    for ref, query in zip("ABCDEFGH", spec.queries, strict=False):
        builder = builder.with_target(prometheus.Dataquery().expr(query.expr).legend_format(query.legend).ref_id(ref))
    return builder


def build_dashboard(uid: str, title: str, panels: tuple[PanelSpec, ...]) -> dict:
    """One dashboard's JSON model: a data-source variable and the panels two to a row."""
    builder = (
        dashboard.Dashboard(title)
        .uid(uid)
        .tags(["flywheel"])
        .refresh("30s")
        .time("now-6h", "now")
        .with_variable(dashboard.DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
    )
    for index, spec in enumerate(panels):
        position = GridPos(h=PANEL_HEIGHT, w=PANEL_WIDTH, x=(index % 2) * PANEL_WIDTH, y=(index // 2) * PANEL_HEIGHT)
        builder = builder.with_panel(_panel(spec, index + 1, position))
    return json.loads(json.dumps(builder.build(), cls=JSONEncoder))


def build_dashboards() -> dict[str, dict]:
    """uid -> JSON model of every Flywheel dashboard."""
    return {uid: build_dashboard(uid, title, panels) for uid, (title, panels) in DASHBOARDS.items()}


def dashboard_text(model: dict) -> str:
    """The file form of a dashboard: indented, keys sorted, trailing newline (stable diffs)."""
    return json.dumps(model, indent=2, sort_keys=True) + "\n"


def write_dashboards(directory) -> list[Path]:
    """Writes every dashboard as <directory>/<uid>.json and returns the paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for uid, model in build_dashboards().items():
        path = directory / f"{uid}.json"
        path.write_text(dashboard_text(model))
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Writes the Flywheel Grafana dashboards as JSON files.")
    parser.add_argument("directory", type=Path, help="where to write <uid>.json (monitoring/grafana in the repo)")
    for path in write_dashboards(parser.parse_args(argv).directory):
        print(path)


if __name__ == "__main__":
    main()
