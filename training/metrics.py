"""Binary-classification metrics from labels and scores: PR-AUC, ROC-AUC, recall at a fixed FPR, calibration error."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

METRIC_NAMES = ("pr_auc", "roc_auc", "recall_at_fpr", "ece", "positive_rate", "mean_score")


def _checked(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels, dtype=np.float64).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if labels.shape != scores.shape:
        raise ValueError(f"{len(labels)} labels but {len(scores)} scores")
    if len(np.unique(labels)) < 2:
        raise ValueError("metrics need both classes among the labels")
    if not np.isfinite(scores).all():
        raise ValueError("scores contain NaN or infinity")
    return labels, scores


def pr_auc(labels, scores) -> float:
    """Area under the precision-recall curve (average precision); the headline metric for rare positives."""
    labels, scores = _checked(labels, scores)
    return float(average_precision_score(labels, scores))


def roc_auc(labels, scores) -> float:
    labels, scores = _checked(labels, scores)
    return float(roc_auc_score(labels, scores))


def recall_at_fpr(labels, scores, max_fpr: float) -> float:
    """The highest recall reachable with a threshold whose false-positive rate is at most max_fpr."""
    labels, scores = _checked(labels, scores)
    fpr, tpr, _ = roc_curve(labels, scores)
    allowed = fpr <= max_fpr + 1e-12
    return float(tpr[allowed].max()) if allowed.any() else 0.0


def expected_calibration_error(labels, scores, bins: int = 10) -> float:
    """Weighted mean |observed positive rate - mean score| over equal-width score bins (0 = perfectly calibrated)."""
    labels, scores = _checked(labels, scores)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(scores, edges[1:-1], right=True), 0, bins - 1)
    error = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            error += members.mean() * abs(labels[members].mean() - scores[members].mean())
    return float(error)


def binary_metrics(labels, scores, max_fpr: float) -> dict[str, float]:
    """Every metric the registry, the gate and the reports use, keyed by METRIC_NAMES."""
    labels, scores = _checked(labels, scores)
    return {
        "pr_auc": pr_auc(labels, scores),
        "roc_auc": roc_auc(labels, scores),
        "recall_at_fpr": recall_at_fpr(labels, scores, max_fpr),
        "ece": expected_calibration_error(labels, scores),
        "positive_rate": float(labels.mean()),
        "mean_score": float(scores.mean()),
    }
