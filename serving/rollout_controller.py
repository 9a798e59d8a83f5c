"""The rollout controller's moves on a served repository: start a rollout, advance it from evidence, roll it back, or
switch at once. File operations only (no registry, no Dagster): `assets/rollout.py` adds the registry records and
runs it as a sensor, and the deployment asset starts rollouts with it.

A rollout's state lives in the model's deployment file (`Deployment.rollout`: stable and new version, stage index,
when the stage started, the calibrated divergence limit), which the servers apply, so restarting the controller
or a server loses nothing.
"""

from __future__ import annotations

import dataclasses
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from features.model_declaration import ModelDeclaration
from serving import model_repository
from serving.deployment_plan import Deployment, read_deployment, served_deployment, write_deployment
from serving.rollout_policy import HOLD, PROMOTE, ROLLBACK, decide, labeled_evidence, stage_evidence

START = "start"
COMPLETE = "complete"
FOLLOW = "follow"
NONE = "none"


@dataclass(frozen=True)
class RolloutTarget:
    """Where the controller reads engines, writes deployments and reads the servers' evidence."""

    served_repository: Path
    build_repository: Path
    server_url: str


@dataclass(frozen=True)
class RolloutStep:
    """What one move did for one model."""

    model: str
    action: str
    """NONE, START, PROMOTE (to the next stage), COMPLETE, HOLD, ROLLBACK or FOLLOW (switched at once)."""
    reasons: tuple[str, ...] = ()
    deployment: Deployment | None = None
    """The deployment now written (or the unchanged one)."""
    evidence: dict = field(default_factory=dict)
    stable: int | None = None
    challenger: int | None = None

    @property
    def changed(self) -> bool:
        return self.action not in (NONE, HOLD)

    def describe(self) -> str:
        return f"{self.model}: {self.action}" + (f" ({'; '.join(self.reasons)})" if self.reasons else "")


def server_metrics(server_url: str, timeout: float = 5.0) -> str | None:
    """The server's /metrics text (aggregated over its workers), or None when it does not answer."""
    try:
        with urllib.request.urlopen(f"{server_url}/metrics", timeout=timeout) as reply:
            return reply.read().decode()
    except (urllib.error.URLError, OSError):
        return None


def write(target: RolloutTarget, name: str, deployment: Deployment) -> Deployment:
    """Publishes the versions the deployment names (from the build repository) and writes it; the pin Triton
    reads follows the primary version."""
    for version in deployment.versions:
        if version not in model_repository.versions(target.served_repository, name):
            model_repository.publish_version(target.build_repository, target.served_repository, name, version)
    write_deployment(target.served_repository, name, deployment)
    model_repository.pin_version(target.served_repository, name, deployment.primary)
    return deployment


def available(target: RolloutTarget, name: str, version: int) -> bool:
    """Whether an engine of `version` exists (served already, or built)."""
    return version in model_repository.versions(target.served_repository, name) or version in (
        model_repository.versions(target.build_repository, name)
    )


def stage_name(percent: int) -> str:
    return "shadow" if percent == 0 else f"canary {percent}%"


def switch(model: ModelDeclaration, target: RolloutTarget, version: int, reason: str) -> RolloutStep:
    """All traffic to `version` at once (a rollback to a known version, a first deployment, a change by hand)."""
    name = model.served_name
    current = read_deployment(target.served_repository, name)
    if current is None:  # the model's first deployment file (it may have served its newest folder until now)
        deployment = write(target, name, Deployment({version: 100}, sequence=1))
    else:
        deployment = write(target, name, current.next(weights={version: 100}, shadow=(), rollout={}, sticky_key=None))
    return RolloutStep(name, FOLLOW if current is not None else START, (reason,), deployment, challenger=version)


def start_rollout(
    model: ModelDeclaration, target: RolloutTarget, version: int, divergence_limit: float | None, now: float
) -> RolloutStep:
    """Starts `version`'s staged rollout beside what serves. Idempotent; a first deployment, an older version or a
    model declared with `stages=(100,)` switches at once instead."""
    name, stages = model.served_name, model.rollout.stages
    current = served_deployment(target.served_repository, name)
    if current is None or read_deployment(target.served_repository, name) is None and version == current.primary:
        return switch(model, target, version, f"first deployment: v{version} takes all traffic")
    state = current.rollout
    if state and int(state["challenger"]) == version:
        return RolloutStep(name, NONE, (f"v{version} is already rolling out",), current)
    stable = int(state["stable"]) if state else current.primary
    if version == stable:
        if state:  # back to the stable version in the middle of a rollout
            return switch(model, target, version, f"v{version} is the stable version; the rollout stops")
        return RolloutStep(name, NONE, (f"v{version} serves already",), current)
    if version < stable or stages == (100,):
        why = "an older version" if version < stable else "the model is declared without stages"
        return switch(model, target, version, f"v{version} takes all traffic at once ({why})")
    state = {
        "stable": stable,
        "challenger": version,
        "stage": 0,
        "stage_started": now,
        "started": now,
        "divergence_limit": divergence_limit,
    }
    deployment = write(target, name, _stage(model, current, stable, version, stages[0], state))
    reason = f"v{version} starts its rollout: {stage_name(stages[0])} beside v{stable}"
    return RolloutStep(name, START, (reason,), deployment, stable=stable, challenger=version)


def _stage(
    model: ModelDeclaration, current: Deployment, stable: int, challenger: int, percent: int, state: dict
) -> Deployment:
    if percent == 0:
        weights, shadow = {stable: 100}, (challenger,)
    else:
        weights, shadow = {stable: 100 - percent, challenger: percent}, ()
    return current.next(
        weights=weights,
        shadow=shadow,
        shadow_percent=model.rollout.shadow_percent,
        rollout=state,
        sticky_key=model.rollout.sticky_key,
    )


def advance_rollout(
    model: ModelDeclaration,
    target: RolloutTarget,
    metrics_text: str | None,
    now: float | None = None,
    labeled_predictions=None,
) -> RolloutStep:
    """One decision on the model's rollout in progress (NONE when there is none): roll back, hold, or move to the
    next stage (COMPLETE at 100%), from the evidence of the current stage in `metrics_text` and, where given, the
    feedback join's `labeled_predictions` (quality per version on matured labels since the rollout started)."""
    now = time.time() if now is None else now
    name, policy = model.served_name, model.rollout
    current = served_deployment(target.served_repository, name)
    if current is None or not current.rollout:
        return RolloutStep(name, NONE, (), current)
    state = dict(current.rollout)
    stable, challenger, stage = int(state["stable"]), int(state["challenger"]), int(state["stage"])
    percent = policy.stages[min(stage, len(policy.stages) - 1)]
    if metrics_text is None:
        reason = f"the server at {target.server_url} does not answer /metrics"
        return RolloutStep(name, HOLD, (reason,), current, stable=stable, challenger=challenger)
    evidence = stage_evidence(metrics_text, name, current.sequence, stable, challenger)
    metric = model.gate.primary_metric
    labeled = labeled_evidence(labeled_predictions, metric, stable, challenger, float(state["started"]))
    evidence = dataclasses.replace(evidence, labeled=labeled)
    age = now - float(state["stage_started"])
    decision = decide(policy, evidence, age, state.get("divergence_limit"), shadow=percent == 0)
    record = {
        "stage": stage_name(percent),
        "stage_seconds": round(age, 1),
        "sequence": current.sequence,
        "divergence_limit": state.get("divergence_limit"),
        **evidence.as_dict(),
    }
    step = {"evidence": record, "stable": stable, "challenger": challenger}
    if decision.action == HOLD:
        return RolloutStep(name, HOLD, decision.reasons, current, **step)
    if decision.action == ROLLBACK:
        rolled_back = current.next(weights={stable: 100}, shadow=(), rollout={}, rollbacks=current.rollbacks + 1)
        deployment = write(target, name, rolled_back)
        reasons = (f"v{challenger} rolled back in its {stage_name(percent)} stage", *decision.reasons)
        return RolloutStep(name, ROLLBACK, reasons, deployment, **step)
    assert decision.action == PROMOTE
    following = policy.stages[stage + 1] if stage + 1 < len(policy.stages) else 100
    if following == 100:
        deployment = write(target, name, current.next(weights={challenger: 100}, shadow=(), rollout={}))
        reasons = (f"v{challenger} serves all traffic after {stage_name(percent)}", *decision.reasons)
        return RolloutStep(name, COMPLETE, reasons, deployment, **step)
    state.update(stage=stage + 1, stage_started=now)
    deployment = write(target, name, _stage(model, current, stable, challenger, following, state))
    reasons = (f"{stage_name(percent)} -> {stage_name(following)}", *decision.reasons)
    return RolloutStep(name, PROMOTE, reasons, deployment, **step)
