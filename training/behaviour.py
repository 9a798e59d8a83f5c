"""Behavioural tests of a model on a holdout: invariance to irrelevant fields, expected direction, minimum quality."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from features.spec import FeatureSpec
from training.metrics import binary_metrics
from training.scoring import score_frame

HOLD_TOLERANCE = 1e-3
"""Score changes smaller than this (probability units, i.e. a tenth of a percentage point) count as holding still
in the direction tests: a retrained model that learned a new pattern may move a risk signal's effect by a hair
without turning it against the expectation."""


@dataclass(frozen=True)
class BehaviourExpectations:
    """What any acceptable model must do, independent of how well it ranks."""

    invariant_columns: tuple[str, ...] = ()
    """Columns that must not change a score (ids, free text); the spec's entity id is always included."""
    increasing: tuple[str, ...] = ()
    """Numeric features whose increase must not lower the score (known risk signals)."""
    decreasing: tuple[str, ...] = ()
    """Numeric features whose increase must not raise the score."""
    shift_in_std: float = 1.0
    """Direction tests shift the feature by this many training standard deviations."""
    min_direction_share: float = 0.8
    """Share of holdout rows whose score must move the expected way (or not move)."""
    min_quality: dict[str, float] = field(default_factory=lambda: {"pr_auc": 0.05, "roc_auc": 0.6})
    """Metric -> lowest acceptable value on the holdout (higher is better for each)."""
    max_ece: float = 0.2
    """Highest acceptable expected calibration error on the holdout."""

    def check_against(self, spec: FeatureSpec) -> None:
        """Raises ValueError when an expectation names a feature the spec does not have as numeric."""
        unknown = [c for c in (*self.increasing, *self.decreasing) if c not in spec.numeric]
        if unknown:
            raise ValueError(f"direction expectations name {unknown}, which are not numeric features of the spec")


@dataclass(frozen=True)
class BehaviourResult:
    """One behavioural test: what was tested, whether it passed and the measured value."""

    name: str
    passed: bool
    value: float
    detail: str


def invariance_test(net: torch.nn.Module, spec: FeatureSpec, frame: pd.DataFrame, column: str) -> BehaviourResult:
    """Scores change by at most 1e-6 when the column's values are replaced (shuffled, or fresh strings)."""
    if column not in frame.columns:
        return BehaviourResult(f"invariance:{column}", False, float("nan"), f"column '{column}' is not in the holdout")
    changed = frame.copy()
    values = frame[column]
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        changed[column] = values.to_numpy()[::-1]
    else:
        changed[column] = [f"perturbed-{i}" for i in range(len(frame))]
    difference = float(np.abs(score_frame(net, spec, changed) - score_frame(net, spec, frame)).max())
    passed = difference <= 1e-6
    return BehaviourResult(f"invariance:{column}", passed, difference, f"max score change {difference:.2g}")


def direction_test(
    net: torch.nn.Module, spec: FeatureSpec, frame: pd.DataFrame, feature: str, sign: int, expectations
) -> BehaviourResult:
    """Shifting `feature` up must move scores the `sign` way (+1 up, -1 down) or hold them, for most rows and on
    average: a model that never moves against the expectation passes, one that does on average fails."""
    shift = expectations.shift_in_std * float(frame[feature].std() or 1.0)
    shifted = frame.copy()
    shifted[feature] = frame[feature] + shift
    delta = (score_frame(net, spec, shifted) - score_frame(net, spec, frame)) * sign
    share = float((delta >= -HOLD_TOLERANCE).mean())
    passed = share >= expectations.min_direction_share and float(delta.mean()) >= -HOLD_TOLERANCE
    word = "increase" if sign > 0 else "decrease"
    return BehaviourResult(
        f"direction:{feature}:{word}",
        passed,
        share,
        f"{share:.1%} of rows {word} or hold (need {expectations.min_direction_share:.0%}); mean {delta.mean():+.3g}",
    )


def quality_tests(metrics: dict[str, float], expectations: BehaviourExpectations) -> list[BehaviourResult]:
    """Minimum quality on the holdout: each metric at or above its floor, calibration error at or below its cap."""
    results = [
        BehaviourResult(f"quality:{name}", metrics[name] >= floor, metrics[name], f"{metrics[name]:.4f} >= {floor}")
        for name, floor in expectations.min_quality.items()
    ]
    ece = metrics["ece"]
    results.append(
        BehaviourResult("quality:ece", ece <= expectations.max_ece, ece, f"{ece:.4f} <= {expectations.max_ece}")
    )
    return results


def behaviour_tests(
    net: torch.nn.Module,
    spec: FeatureSpec,
    holdout: pd.DataFrame,
    expectations: BehaviourExpectations,
    metrics: dict[str, float],
) -> list[BehaviourResult]:
    """Every behavioural test of one model on one holdout."""
    expectations.check_against(spec)
    columns = dict.fromkeys((spec.entity_id, *expectations.invariant_columns))
    results = [invariance_test(net, spec, holdout, column) for column in columns]
    results += [direction_test(net, spec, holdout, f, +1, expectations) for f in expectations.increasing]
    results += [direction_test(net, spec, holdout, f, -1, expectations) for f in expectations.decreasing]
    return results + quality_tests(metrics, expectations)


def holdout_metrics(net: torch.nn.Module, spec: FeatureSpec, holdout: pd.DataFrame, max_fpr: float) -> dict[str, float]:
    """Binary-classification metrics of the model on the holdout's labels."""
    return binary_metrics(holdout[spec.label].to_numpy(), score_frame(net, spec, holdout), max_fpr)
