"""The champion/challenger gate: a pure decision from two models' holdout reports and the gate's configuration."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import torch

from features.spec import FeatureSpec
from training.behaviour import BehaviourExpectations, BehaviourResult, behaviour_tests, holdout_metrics

FIRST = "first_champion"
PROMOTE = "promote"
REJECT = "reject"
UNCHANGED = "unchanged"
LOWER_IS_BETTER = {"ece"}


@dataclass(frozen=True)
class GateConfig:
    """When a challenger replaces the champion."""

    primary_metric: str = "pr_auc"
    """Metric the challenger must improve on (higher is better)."""
    min_improvement: float = 0.005
    """Margin: challenger primary metric must be >= champion's + this (absolute)."""
    max_fpr: float = 0.01
    """False-positive rate for the recall_at_fpr metric of the comparison."""
    expectations: BehaviourExpectations = field(default_factory=BehaviourExpectations)
    """Behavioural tests (invariance, direction, minimum quality) the challenger must pass."""


@dataclass(frozen=True)
class ModelReport:
    """One model scored on the holdout: its metrics and behavioural test results."""

    label: str
    """e.g. 'challenger v3'."""
    version: str
    metrics: dict[str, float]
    behaviour: list[BehaviourResult]

    @property
    def behaviour_passed(self) -> bool:
        return all(r.passed for r in self.behaviour)

    @property
    def failures(self) -> list[BehaviourResult]:
        return [r for r in self.behaviour if not r.passed]


@dataclass(frozen=True)
class GateDecision:
    """The outcome and every reason for it."""

    outcome: str
    """FIRST, PROMOTE, REJECT or UNCHANGED (the challenger already is the champion)."""
    reasons: list[str]
    challenger_version: str
    champion_version: str | None

    @property
    def promote(self) -> bool:
        return self.outcome in (FIRST, PROMOTE)

    def summary(self) -> str:
        return f"{self.outcome}: " + "; ".join(self.reasons)


def evaluate(
    net: torch.nn.Module, spec: FeatureSpec, holdout: pd.DataFrame, label: str, version: str, config: GateConfig
) -> ModelReport:
    """Scores one model on the holdout and runs its behavioural tests."""
    metrics = holdout_metrics(net, spec, holdout, config.max_fpr)
    return ModelReport(label, version, metrics, behaviour_tests(net, spec, holdout, config.expectations, metrics))


def decide(challenger: ModelReport, champion: ModelReport | None, config: GateConfig) -> GateDecision:
    """Promote only a challenger that passes every behavioural test and beats the champion by the margin.

    Without a champion, a challenger passing the behavioural tests (minimum quality included) becomes the first.
    """
    reasons = [f"failed {r.name} ({r.detail})" for r in challenger.failures]
    if champion is None:
        outcome = REJECT if reasons else FIRST
        if not reasons:
            reasons.append("no champion yet and the challenger passes minimum quality and behavioural tests")
        return GateDecision(outcome, reasons, challenger.version, None)
    metric = config.primary_metric
    new, old = challenger.metrics[metric], champion.metrics[metric]
    needed = old + config.min_improvement
    if new >= needed:
        comparison = f"{metric} {new:.4f} >= champion {old:.4f} + margin {config.min_improvement}"
    else:
        comparison = f"{metric} {new:.4f} < champion {old:.4f} + margin {config.min_improvement}"
        reasons.append(f"does not beat the champion: {comparison}")
    if reasons:
        return GateDecision(REJECT, reasons, challenger.version, champion.version)
    return GateDecision(PROMOTE, [comparison, "all behavioural tests pass"], challenger.version, champion.version)


def comparison_table(challenger: ModelReport, champion: ModelReport | None) -> pd.DataFrame:
    """Metric rows with champion, challenger and the change (improvement positive whichever way is better)."""
    rows = []
    for name, value in challenger.metrics.items():
        old = champion.metrics.get(name) if champion else None
        change = None
        if old is not None:
            change = (old - value) if name in LOWER_IS_BETTER else (value - old)
        rows.append({"metric": name, "champion": old, "challenger": value, "improvement": change})
    for result in challenger.behaviour:
        old = next((r for r in champion.behaviour if r.name == result.name), None) if champion else None
        rows.append(
            {
                "metric": result.name,
                "champion": None if old is None else ("pass" if old.passed else "FAIL"),
                "challenger": "pass" if result.passed else "FAIL",
                "improvement": None,
            }
        )
    return pd.DataFrame(rows, columns=["metric", "champion", "challenger", "improvement"])


def comparison_markdown(table: pd.DataFrame, decision: GateDecision) -> str:
    """The comparison table and the decision as Markdown (Dagster metadata, MLflow artifact)."""

    def cell(value) -> str:
        if value is None or (isinstance(value, float) and pd.isna(value)):
            return "-"
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    champion = f"champion v{decision.champion_version}" if decision.champion_version else "champion (none)"
    lines = [
        f"**Decision: {decision.outcome}** (challenger v{decision.challenger_version} vs {champion})",
        "",
        *[f"- {reason}" for reason in decision.reasons],
        "",
        "| metric | champion | challenger | improvement |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r.metric} | {cell(r.champion)} | {cell(r.challenger)} | {cell(r.improvement)} |"
        for r in table.itertuples()
    ]
    return "\n".join(lines)
