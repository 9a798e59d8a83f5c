"""`<model>_model_evaluation` assets: the champion/challenger gate on the most recent holdout, with promotion history.

`evaluation_asset(declaration)` builds one per declared model; the gate's metric, margin, floors and risk
directions come from the declaration (`GateDeclaration`), overridable per run.
"""

import dagster as dg
import pandas as pd
from pydantic import Field

from assets.mlflow_tracking import MlflowTracking
from assets.model_training import locate_training_set, model_key, spec_of
from features.model_declaration import GateDeclaration, ModelDeclaration
from serving.rollout_policy import divergence_limit
from training.behaviour import BehaviourExpectations
from training.config import config_from_dict
from training.gate import (
    FIRST,
    REJECT,
    UNCHANGED,
    GateConfig,
    GateDecision,
    comparison_markdown,
    comparison_table,
    decide,
    evaluate,
)
from training.registry import (
    CHALLENGER,
    CHAMPION,
    CONFIG_ARTIFACT,
    REJECTED_TAG,
    alias_version,
    load_registered_model,
    load_run_dict,
    set_champion,
)
from training.scoring import score_frame
from training.training_data import read_training_set, split_by_time


class ModelEvaluationConfig(dg.Config):
    """Overrides of the declared gate (None: the declaration's `GateDeclaration`); for one-off runs and tests."""

    registered_model_name: str | None = Field(default=None, description="MLflow registered model name")
    feature_spec: str | None = Field(default=None, description="Override of the declared FeatureSpec")
    training_set_path: str | None = Field(default=None, description="Override of the training set location")
    primary_metric: str | None = Field(default=None, description="Metric the challenger must improve (higher = better)")
    min_improvement: float | None = Field(default=None, description="Absolute margin over the champion's metric")
    increasing: list[str] | None = Field(default=None, description="Features that must raise the score")
    decreasing: list[str] | None = Field(default=None, description="Features that must lower the score")
    invariant_columns: list[str] = Field(default_factory=list, description="Non-feature columns that must not matter")
    min_direction_share: float = Field(default=0.7, description="Share of rows that must move the expected way")
    min_quality: dict[str, float] | None = Field(default=None, description="Floors on holdout metrics")
    max_ece: float | None = Field(default=None, description="Maximum holdout expected calibration error")

    def gate(self, declared: GateDeclaration, max_fpr: float) -> GateConfig:
        """The declared gate with this run's overrides applied."""

        def pick(value, default):
            return default if value is None else value

        expectations = BehaviourExpectations(
            invariant_columns=tuple(self.invariant_columns),
            increasing=tuple(pick(self.increasing, declared.increasing)),
            decreasing=tuple(pick(self.decreasing, declared.decreasing)),
            min_direction_share=self.min_direction_share,
            min_quality=dict(pick(self.min_quality, declared.min_quality)),
            max_ece=pick(self.max_ece, declared.max_ece),
        )
        return GateConfig(
            pick(self.primary_metric, declared.primary_metric),
            pick(self.min_improvement, declared.min_improvement),
            max_fpr,
            expectations,
        )


def table_metadata(table: pd.DataFrame) -> dg.MetadataValue:
    """The comparison as a Dagster table (text cells, so numbers and pass/FAIL share columns)."""

    def text(value) -> str:
        if value is None or (isinstance(value, float) and pd.isna(value)):
            return "-"
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    schema = dg.TableSchema(columns=[dg.TableColumn(c, "string") for c in table.columns])
    records = [dg.TableRecord({c: text(v) for c, v in row.items()}) for row in table.to_dict("records")]
    return dg.MetadataValue.table(records, schema=schema)


def evaluation_key(model: ModelDeclaration) -> dg.AssetKey:
    return dg.AssetKey(f"{model.name}_model_evaluation")


def evaluation_asset(model: ModelDeclaration) -> dg.AssetsDefinition:
    """`<model>_model_evaluation`: the declared model's gate, after each training."""

    @dg.asset(
        name=evaluation_key(model).path[-1],
        group_name=model.name,
        deps=[model_key(model)],
        code_version="1",
        kinds={"mlflow"},
    )
    def model_evaluation(
        context: dg.AssetExecutionContext, config: ModelEvaluationConfig, mlflow_tracking: MlflowTracking
    ) -> dg.MaterializeResult:
        """Challenger vs champion on the same recent holdout; moves the champion alias only if the gate passes."""
        return evaluate_challenger(context, model, config, mlflow_tracking)

    return model_evaluation


def evaluate_challenger(
    context: dg.AssetExecutionContext, model: ModelDeclaration, config: ModelEvaluationConfig, mlflow_tracking
) -> dg.MaterializeResult:
    """Scores challenger and champion on the same holdout, decides, and records the decision and its evidence."""
    mlflow_tracking.check_reachable()
    client = mlflow_tracking.client()
    name = config.registered_model_name or model.registered_model
    challenger_version = alias_version(client, name, CHALLENGER)
    if challenger_version is None:
        raise dg.Failure(
            f"registered model '{name}' has no '{CHALLENGER}' alias: "
            f"materialize {model_key(model).to_user_string()} first"
        )
    champion_version = alias_version(client, name, CHAMPION)
    training_config = config_from_dict(
        load_run_dict(challenger_version.run_id, CONFIG_ARTIFACT, mlflow_tracking.tracking_uri)
    )
    spec = spec_of(model, config.feature_spec)
    source = locate_training_set(context.instance, model, config.training_set_path)
    holdout = split_by_time(read_training_set(source.path, spec), spec, training_config.split).test
    gate = config.gate(model.gate, training_config.recall_at_fpr)

    challenger = load_registered_model(name, challenger_version.version, mlflow_tracking.tracking_uri)
    challenger_report = evaluate(challenger.net, challenger.spec, holdout, "challenger", challenger.version, gate)
    champion_report = champion = None
    rejected = challenger_version.tags.get(REJECTED_TAG)
    if champion_version is not None and champion_version.version == challenger.version:
        decision = GateDecision(UNCHANGED, ["the challenger is already the champion"], challenger.version, None)
    else:
        if champion_version is not None:
            champion = load_registered_model(name, champion_version.version, mlflow_tracking.tracking_uri)
            champion_report = evaluate(champion.net, champion.spec, holdout, "champion", champion.version, gate)
        decision = decide(challenger_report, champion_report, gate)
        if rejected:
            reasons = [f"rolled back live before: {rejected}", *decision.reasons]
            decision = GateDecision(REJECT, reasons, challenger.version, decision.champion_version)
    table = comparison_table(challenger_report, champion_report)
    markdown = comparison_markdown(table, decision)

    tags = {"model_name": name, "challenger_version": challenger.version, "decision": decision.outcome}
    with mlflow_tracking.start_run(context, f"gate v{challenger.version}", f"{name}-evaluation", tags) as tracker:
        tracker.log_metrics({f"challenger_{k}": v for k, v in challenger_report.metrics.items()})
        if champion_report:
            tracker.log_metrics({f"champion_{k}": v for k, v in champion_report.metrics.items()})
        tracker.log_text(markdown, "comparison.md")
        tracker.log_table(table.astype(str), "comparison.json")
        client.set_model_version_tag(name, challenger.version, "gate_decision", decision.outcome)
        client.set_model_version_tag(name, challenger.version, "gate_reasons", "; ".join(decision.reasons)[:4000])
        if decision.promote:
            action = "first" if decision.outcome == FIRST else "promote"
            evidence = {
                "holdout_rows": len(holdout),
                "data_version": source.data_version,
                "challenger": challenger_report.metrics,
                "champion": champion_report.metrics if champion_report else None,
            }
            if champion is not None:
                # the limit the rollout holds the live score divergence to, from these same holdout pairs
                rollout = model.rollout
                evidence["divergence_limit"] = rollout.divergence_tolerance * divergence_limit(
                    score_frame(champion.net, champion.spec, holdout),
                    score_frame(challenger.net, challenger.spec, holdout),
                    rollout.divergence_window,
                    rollout.divergence_false_alarm,
                )
            set_champion(client, name, challenger.version, action, decision.summary(), evidence)
    current = alias_version(client, name, CHAMPION)
    context.log.info(markdown)
    return dg.MaterializeResult(
        metadata={
            "decision": decision.outcome,
            "reasons": dg.MetadataValue.md("\n".join(f"- {r}" for r in decision.reasons)),
            "challenger_version": challenger.version,
            "champion_version_before": champion_version.version if champion_version else "none",
            "champion_version": current.version if current else "none",
            "comparison": dg.MetadataValue.md(markdown),
            "comparison_table": table_metadata(table),
            "holdout_rows": len(holdout),
        },
        # Changes only when the champion does, so the redeploy automation downstream fires on a new champion
        # and never on a refused challenger.
        data_version=dg.DataVersion(f"{name}-champion-v{current.version if current else 'none'}"),
    )


def model_resources(tracking_uri: str = "http://127.0.0.1:5000") -> dict:
    """The resources the model assets need, for one environment (local default: `tools.services.cli up mlflow`)."""
    return {"mlflow_tracking": MlflowTracking(tracking_uri=tracking_uri, experiment_name="flywheel")}
