"""Safe rollout in the graph: the `rollout_sensor` advances, holds or rolls back each model's rollout from the
server's live evidence (serving/rollout_controller.py), and makes serving follow a champion alias moved by hand
(`python -m training.registry rollback`) within one tick.

Every decision is recorded with its evidence: an observation of `<model>_deployment` (the asset's page in the
Dagster UI), an event in the MLflow promotion history, and for a rollback the `flywheel_rollout_rollbacks` gauge
that the FlywheelAutomaticRollback alert watches. A rolled-back version is tagged `rollout_rejected`, which the
gate refuses, so the same episode cannot promote it again.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import dagster as dg
import pandas as pd
from pydantic import Field

from assets.deployment import DEFAULT_SERVED_REPOSITORY, deployment_key
from assets.mlflow_tracking import MlflowTracking
from assets.serving_engine import DEFAULT_BUILD_REPOSITORY
from assets.stack_environment import STACK
from features.model_declaration import ModelDeclaration
from serving.deployment_plan import served_deployment
from serving.rollout_controller import (
    COMPLETE,
    NONE,
    RolloutStep,
    RolloutTarget,
    advance_rollout,
    available,
    server_metrics,
    start_rollout,
    switch,
)
from serving.rollout_policy import HOLD, PROMOTE, ROLLBACK
from training.registry import (
    CHAMPION,
    REJECTED_TAG,
    alias_version,
    promotion_history,
    record_event,
    set_champion,
)


def _labeled(model: ModelDeclaration, lake_root: Path | None):
    """The model's labeled predictions (the feedback join's output), or None before the first join."""
    if lake_root is None:
        return None
    path = Path(lake_root) / "feedback" / model.name / "labeled_predictions.parquet"
    return pd.read_parquet(path) if path.is_file() else None


def rollout_tick(
    model: ModelDeclaration,
    client,
    target: RolloutTarget,
    now: float | None = None,
    lake_root: Path | None = None,
) -> RolloutStep:
    """One controller step for `model`: advance its rollout and record the decision in the registry, or make
    serving follow the champion alias when it points elsewhere and no rollout of it runs."""
    now = time.time() if now is None else now
    name, registered = model.served_name, model.registered_model
    current = served_deployment(target.served_repository, name)
    version = alias_version(client, registered, CHAMPION)
    champion = int(version.version) if version is not None else None
    if champion is None:
        return RolloutStep(name, NONE, ("no champion",), current)
    state = current.rollout if current is not None else {}
    if state and champion == int(state["challenger"]):
        step = advance_rollout(model, target, server_metrics(target.server_url), now, _labeled(model, lake_root))
        _record(client, registered, step)
        return step
    serving = int(state["stable"]) if state else (current.primary if current is not None else None)
    if champion == serving and not state:
        return RolloutStep(name, NONE, (), current)
    if not available(target, name, champion):
        return RolloutStep(name, HOLD, (f"champion v{champion} has no engine built yet",), current)
    arrivals = [e for e in promotion_history(client, registered) if e.to_version == str(champion)]
    arrival = arrivals[-1] if arrivals else None
    if arrival is not None and arrival.action in ("promote", "first") and (serving is None or champion > serving):
        return start_rollout(model, target, champion, (arrival.evidence or {}).get("divergence_limit"), now)
    why = arrival.action if arrival is not None else "an unrecorded change"
    return switch(model, target, champion, f"the champion alias points at v{champion} ({why}); serving follows")


def _record(client, registered: str, step: RolloutStep) -> None:
    evidence = json.loads(json.dumps(step.evidence, default=str))
    reason = "; ".join(step.reasons)
    if step.action == ROLLBACK:
        set_champion(client, registered, str(step.stable), "rollback", f"automatic: {reason}", evidence)
        client.set_model_version_tag(registered, str(step.challenger), REJECTED_TAG, reason[:4000])
    elif step.action in (PROMOTE, COMPLETE):
        action = "rollout" if step.action == COMPLETE else "canary"
        record_event(client, registered, action, str(step.challenger), str(step.stable), reason, evidence)


class RolloutResource(dg.ConfigurableResource):
    """Where the rollout controller works (the same places the deployment asset uses)."""

    served_repository: str = Field(default=DEFAULT_SERVED_REPOSITORY, description="Repository the server watches")
    build_repository: str = Field(default=DEFAULT_BUILD_REPOSITORY, description="Repository engines are built into")
    server_url: str = Field(default=STACK.server_url, description="Inference server whose /metrics is the evidence")
    lake_root: str = Field(default=STACK.path("lake"), description="Lake holding the feedback join's output")

    def target(self) -> RolloutTarget:
        return RolloutTarget(Path(self.served_repository), Path(self.build_repository), self.server_url)


def observation(model: ModelDeclaration, step: RolloutStep) -> dg.AssetObservation:
    """A decision as an observation of `<model>_deployment`, readable on the asset's page in the Dagster UI."""
    deployment = step.deployment
    metadata = {
        "decision": step.action,
        "reasons": dg.MetadataValue.md("\n".join(f"- {r}" for r in step.reasons) or "-"),
    }
    if deployment is not None:
        metadata["weights"] = dg.MetadataValue.json({str(v): w for v, w in deployment.weights.items() if w > 0})
        metadata["shadow"] = ", ".join(f"v{v}" for v in deployment.shadow) or "none"
        metadata["sequence"] = deployment.sequence
        metadata["rollbacks"] = deployment.rollbacks
    if step.evidence:
        metadata["evidence"] = dg.MetadataValue.json(json.loads(json.dumps(step.evidence, default=str)))
    return dg.AssetObservation(asset_key=deployment_key(model), metadata=metadata)


def rollout_sensor_for(models: list[ModelDeclaration]) -> dg.SensorDefinition:
    """The rollout controller of every declared model, one step each per tick."""

    @dg.sensor(
        name="rollout_sensor",
        description="Advances, holds or rolls back each model's rollout from the server's live evidence, and makes "
        "serving follow a champion alias moved by hand.",
        minimum_interval_seconds=max(5, STACK.sensor_interval_seconds // 3),
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def rollout_sensor(context: dg.SensorEvaluationContext, rollout: RolloutResource, mlflow_tracking: MlflowTracking):
        client = mlflow_tracking.client()
        target = rollout.target()
        events, said = [], []
        for model in models:
            try:
                step = rollout_tick(model, client, target, lake_root=Path(rollout.lake_root))
            except Exception as error:  # noqa: BLE001 - one model's problem must not stop the others' rollouts
                said.append(f"{model.name}: {type(error).__name__}: {error}")
                continue
            if step.action != NONE:
                said.append(step.describe())
            if step.changed:
                events.append(observation(model, step))
                context.log.info(step.describe())
        skip = None if events else ("; ".join(said) or "no rollout in progress")
        return dg.SensorResult(asset_events=events, skip_reason=skip)

    return rollout_sensor


def rollout_resources(server_url: str = STACK.server_url, lake_root: str = STACK.path("lake")) -> dict:
    return {"rollout": RolloutResource(server_url=server_url, lake_root=lake_root)}
