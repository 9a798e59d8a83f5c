"""Model quality on served rows whose labels have arrived, compared with the quality the version had at training.

Concept drift (a new pattern of positives the model never saw) need not move the features or the score; it shows when
labels arrive as falling recall or precision at the operating threshold. Each is checked with a one-sided
quasi-binomial test against the reference rate (Bonferroni over the two), so the false-alarm rate is set by `alpha`
rather than by a hand-picked tolerance. Quasi-binomial because positives come in bursts (one card tested twenty
times is caught or missed twenty times), which makes a plain binomial test alarm several times too often: the
reference estimates the over-dispersion from the spread of the rates across its windows (the 95% upper confidence
bound of the Pearson chi-square per degree of freedom) and widens the test by it. The test is two-sample: the
reference rate is itself an estimate, and its error counts too. Too few trials means insufficient data, never an
alarm.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.stats import chi2, norm

from monitoring.drift_report import INSUFFICIENT_DATA, OK

DEGRADED = "degraded"
RECALL = "recall"
PRECISION = "precision"


@dataclass(frozen=True)
class QualityReference:
    """A model version's quality at its operating threshold on held-out labeled data."""

    threshold: float
    """Scores at or above this are flagged positive."""
    recall: float
    """Share of positives flagged."""
    precision: float
    """Share of flagged rows that are positive."""
    positives: int
    """Labeled positives the reference was measured on (recall's denominator)."""
    flagged: int
    """Rows flagged at the threshold in the reference (precision's denominator)."""
    recall_dispersion: float = 1.0
    """Variance of per-window recall over its binomial variance (1 = independent rows; at least 1)."""
    precision_dispersion: float = 1.0
    """The same for precision."""


@dataclass(frozen=True)
class QualityCheck:
    """One metric on the labeled window: value, reference, exact test, verdict."""

    metric: str
    value: float
    reference: float
    trials: int
    """Denominator: positives for recall, flagged rows for precision."""
    p_value: float
    status: str
    """ok, degraded or insufficient_data."""


@dataclass(frozen=True)
class QualityReport:
    """Recall and precision checks on one labeled window; degraded when either fell significantly."""

    status: str
    rows: int
    checks: tuple[QualityCheck, ...]

    @property
    def alarm(self) -> bool:
        return self.status == DEGRADED

    def explain(self) -> str:
        parts = [
            f"{c.metric}={c.value:.3f} (reference {c.reference:.3f}, n={c.trials}, p={c.p_value:.2g}, {c.status})"
            for c in self.checks
        ]
        return f"{self.status}: " + "; ".join(parts)

    def to_dict(self) -> dict:
        return {**asdict(self), "alarm": self.alarm}


def _arrays(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels).reshape(-1)
    if scores.shape != labels.shape:
        raise ValueError(f"scores ({scores.shape[0]}) and labels ({labels.shape[0]}) differ in length")
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN; every labeled row needs the score it was served")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError(f"labels must be 0 or 1, found {sorted(set(np.unique(labels).tolist()) - {0, 1})}")
    return scores, labels.astype(bool)


def _dispersion(hits: pd.Series, trials: pd.Series, rate: float) -> float:
    """Upper 95% bound of the Pearson chi-square dispersion of per-window hit counts around `rate`, at least 1."""
    used = trials > 0
    degrees = int(used.sum()) - 1
    if degrees < 1 or rate in (0.0, 1.0):
        return 1.0
    expected = trials[used] * rate
    chi_square = float((((hits[used] - expected) ** 2) / (expected * (1 - rate))).sum())
    return max(1.0, chi_square / float(chi2.ppf(0.05, degrees)))


def quality_reference(scores, labels, threshold: float, windows=None) -> QualityReference:
    """Recall and precision at `threshold` on held-out labeled rows, and their over-dispersion across `windows`.

    `windows` gives each row's window id (e.g. its day); without it rows are taken as independent (dispersion 1),
    which under-states the noise of clustered positives.
    """
    scores, labels = _arrays(scores, labels)
    flagged = scores >= threshold
    if labels.sum() == 0 or flagged.sum() == 0:
        raise ValueError("the reference needs at least one positive and one flagged row")
    true_positives = int((flagged & labels).sum())
    recall = true_positives / int(labels.sum())
    precision = true_positives / int(flagged.sum())
    recall_dispersion = precision_dispersion = 1.0
    if windows is not None:
        window_ids = np.asarray(windows).reshape(-1)
        if window_ids.shape != scores.shape:
            raise ValueError(f"windows ({window_ids.shape[0]}) and scores ({scores.shape[0]}) differ in length")
        per_window = pd.DataFrame({"w": window_ids, "tp": flagged & labels, "pos": labels, "flag": flagged})
        per_window = per_window.groupby("w").sum()
        recall_dispersion = _dispersion(per_window["tp"], per_window["pos"], recall)
        precision_dispersion = _dispersion(per_window["tp"], per_window["flag"], precision)
    return QualityReference(
        threshold=threshold,
        recall=recall,
        precision=precision,
        positives=int(labels.sum()),
        flagged=int(flagged.sum()),
        recall_dispersion=recall_dispersion,
        precision_dispersion=precision_dispersion,
    )


def evaluate_labeled_quality(
    reference: QualityReference, scores, labels, alpha: float = 0.01, min_trials: int = 30
) -> QualityReport:
    """Tests whether recall or precision on labeled served rows fell below the reference (one-sided, level alpha).

    The normal approximation needs `min_trials` positives (recall) or flagged rows (precision); fewer is
    insufficient data for that metric.
    """
    scores, labels = _arrays(scores, labels)
    flagged = scores >= reference.threshold
    true_positives = int((flagged & labels).sum())
    checks = []
    for metric, trials, expected, reference_trials, dispersion in (
        (RECALL, int(labels.sum()), reference.recall, reference.positives, reference.recall_dispersion),
        (PRECISION, int(flagged.sum()), reference.precision, reference.flagged, reference.precision_dispersion),
    ):
        if trials < min_trials:
            checks.append(QualityCheck(metric, float("nan"), expected, trials, float("nan"), INSUFFICIENT_DATA))
            continue
        spread = np.sqrt(dispersion * expected * (1 - expected) * (1 / trials + 1 / reference_trials))
        observed = true_positives / trials
        # A perfect (or empty) reference has no spread: then any shortfall is a drop.
        shortfall = 0.0 if observed < expected else 1.0
        p_value = float(norm.cdf((observed - expected) / spread)) if spread > 0 else shortfall
        status = DEGRADED if p_value < alpha / 2 else OK
        checks.append(QualityCheck(metric, observed, expected, trials, p_value, status))
    statuses = {c.status for c in checks}
    if DEGRADED in statuses:
        status = DEGRADED
    elif statuses == {INSUFFICIENT_DATA}:
        status = INSUFFICIENT_DATA
    else:
        status = OK
    return QualityReport(status, len(scores), tuple(checks))
