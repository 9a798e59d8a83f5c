"""Model quality estimated before labels arrive, from the served scores alone (confidence-based performance
estimation, the idea of NannyML's CBPE).

Labels come late (chargebacks within days, disputes within weeks), so labeled quality says how a model did a week
ago. If the scores are calibrated probabilities (training/calibration.py fits them on the newest held-out rows),
each row is a positive with probability equal to its score, and the expected confusion counts at every threshold
follow from the scores: expected true positives above a threshold are the sum of the scores above it, expected
false positives the sum of one minus them. The estimated PR-AUC, ROC-AUC and recall at a false-positive rate are the
metrics of those expected counts.

What it sees and what it cannot: a covariate shift that moves rows to where the model is less sure (scores nearer
the middle) lowers the estimate at once, before any label. A concept drift (the same inputs now mean something
else) leaves the scores, and so the estimate, where they were; only labels show it (monitoring/labeled_quality.py).
The two are complementary, which is why the timeline shows both.

A window's estimate varies with its rows like any statistic, so its limit is calibrated the way the drift limits are,
on consecutive reference windows of the same size: the lower of their `false_alarm_rate` quantile and the normal
quantile from their mean and spread.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from monitoring.drift_report import INSUFFICIENT_DATA, OK

DEGRADED = "degraded"
ESTIMABLE = ("pr_auc", "roc_auc", "recall_at_fpr")
MIN_CALIBRATION_WINDOWS = 20
"""Fewer reference windows than this cannot place a 1% lower quantile; the reference is refused, naming the sizes."""
_EPSILON = 1e-9


def _valid_scores(scores) -> tuple[np.ndarray, int]:
    """The finite scores within [0, 1], and how many others there were."""
    values = np.asarray(scores, dtype=np.float64).ravel()
    keep = np.isfinite(values) & (values >= 0.0) & (values <= 1.0)
    return values[keep], int((~keep).sum())


def estimate_metric(name: str, scores, max_fpr: float = 0.01) -> float:
    """The expected `name` (pr_auc, roc_auc or recall_at_fpr) of calibrated `scores`; NaN when the scores expect
    (almost) no positives or no negatives, or there are none. Scores outside [0, 1] or not finite are left out."""
    if name not in ESTIMABLE:
        raise ValueError(f"unknown metric {name!r}; estimable are {', '.join(ESTIMABLE)}")
    return _estimate(name, _valid_scores(scores)[0], max_fpr)


def _estimate(name: str, values: np.ndarray, max_fpr: float) -> float:
    """estimate_metric on scores already checked to be finite and within [0, 1]."""
    ordered = np.sort(values)[::-1]
    positives, negatives = ordered.sum(), (1.0 - ordered).sum()
    if len(ordered) == 0 or positives < _EPSILON or negatives < _EPSILON:
        return float("nan")
    true_positives = np.cumsum(ordered)
    false_positives = np.cumsum(1.0 - ordered)
    # one point per distinct score: the last row of each run of equal scores (ties share a threshold)
    last = np.flatnonzero(np.r_[ordered[1:] != ordered[:-1], True])
    tpr = true_positives[last] / positives
    if name == "pr_auc":
        precision = true_positives[last] / (last + 1)
        return float(np.sum(np.diff(np.r_[0.0, tpr]) * precision))
    fpr = false_positives[last] / negatives
    if name == "roc_auc":
        return float(np.trapezoid(np.r_[0.0, tpr], np.r_[0.0, fpr]))
    within = fpr <= max_fpr
    return float(tpr[within].max()) if within.any() else 0.0


@dataclass(frozen=True)
class EstimateReference:
    """A model version's estimated metric on its reference scores, and the lower limit for a window of its size."""

    metric: str
    reference: float
    """The estimate on all the reference scores."""
    limit: float
    """The estimate's lower limit for a window of `window_rows` rows (see _lower_limit)."""
    window_rows: int
    windows: int
    false_alarm_rate: float


def estimate_reference(
    metric: str, scores, window_rows: int, false_alarm_rate: float = 0.01, max_fpr: float = 0.01
) -> EstimateReference:
    """Calibrates the lower limit of `metric`'s estimate on consecutive windows of the (time-ordered) scores."""
    if metric not in ESTIMABLE:
        raise ValueError(f"unknown metric {metric!r}; estimable are {', '.join(ESTIMABLE)}")
    if window_rows < 1 or not 0.0 < false_alarm_rate < 1.0:
        raise ValueError(
            f"window_rows must be >= 1 and false_alarm_rate in (0, 1), not {window_rows} and {false_alarm_rate}"
        )
    values, _ = _valid_scores(scores)
    count = len(values) // window_rows
    if count < MIN_CALIBRATION_WINDOWS:
        raise ValueError(
            f"{len(values)} valid reference scores make {count} windows of {window_rows} rows; at least "
            f"{MIN_CALIBRATION_WINDOWS} are needed to calibrate the estimate's limit"
        )
    estimates = np.array(
        [_estimate(metric, values[i * window_rows : (i + 1) * window_rows], max_fpr) for i in range(count)]
    )
    estimates = estimates[np.isfinite(estimates)]
    if len(estimates) < MIN_CALIBRATION_WINDOWS:
        raise ValueError(
            f"only {len(estimates)} of {count} reference windows expect both classes; the estimate of {metric} "
            "cannot be calibrated on these scores"
        )
    return EstimateReference(
        metric=metric,
        reference=_estimate(metric, values, max_fpr),
        limit=_lower_limit(estimates, false_alarm_rate),
        window_rows=window_rows,
        windows=len(estimates),
        false_alarm_rate=false_alarm_rate,
    )


def _lower_limit(estimates: np.ndarray, false_alarm_rate: float) -> float:
    """The lower of the empirical quantile and the normal one (mean - z * sd): with tens of windows the empirical 1%
    quantile is about the smallest window, itself a noisy number; the window estimate is close to normal, and its
    mean and spread are well measured by the same windows."""
    normal = estimates.mean() - norm.ppf(1.0 - false_alarm_rate) * estimates.std(ddof=1)
    return float(min(np.quantile(estimates, false_alarm_rate), normal))


@dataclass(frozen=True)
class EstimatedQuality:
    """The estimate on the newest window of served scores against its calibrated limit."""

    metric: str
    value: float
    reference: float
    limit: float
    rows: int
    status: str
    """ok, degraded or insufficient_data."""
    reason: str

    @property
    def alarm(self) -> bool:
        return self.status == DEGRADED


def evaluate_estimated_quality(reference: EstimateReference, scores, max_fpr: float = 0.01) -> EstimatedQuality:
    """Estimated `reference.metric` of the newest `reference.window_rows` valid scores: degraded below the limit;
    too few valid rows (scores not finite or outside [0, 1] are left out and counted) is insufficient data."""
    values, invalid = _valid_scores(scores)
    dropped = f"; {invalid} scores not finite or outside [0, 1] left out" if invalid else ""
    name, limit = reference.metric, reference.limit
    if len(values) < reference.window_rows:
        reason = f"{len(values)} valid scores, {reference.window_rows} needed{dropped}"
        return EstimatedQuality(name, float("nan"), reference.reference, limit, len(values), INSUFFICIENT_DATA, reason)
    window = values[-reference.window_rows :]
    value = _estimate(name, window, max_fpr)
    if not np.isfinite(value):
        reason = f"the window's scores expect no positives or no negatives: {name} cannot be estimated{dropped}"
        return EstimatedQuality(name, value, reference.reference, limit, len(window), INSUFFICIENT_DATA, reason)
    status = DEGRADED if value < limit else OK
    relation = "below" if status == DEGRADED else "at or above"
    reason = f"estimated {name} {value:.4f} {relation} its limit {limit:.4f} (reference {reference.reference:.4f})"
    return EstimatedQuality(name, value, reference.reference, limit, len(window), status, reason + dropped)
