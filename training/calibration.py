"""Platt scaling: the model's scores made probabilities on the newest labeled rows it did not train on.

Training weights positives (the loss's `pos_weight`) and corrects the prior afterwards (`logit_offset`), which makes
scores probabilities only when the network converged and the training split's positive rate still holds. Neither is
true of a short retraining right after a concept drift: the training split is mostly the old regime, the validation
split (newer) mostly the new one, and the gate's calibration floor (`max_ece`) refused a challenger that ranked far
better than the champion. Two numbers fitted on the validation split, score = sigmoid(scale * logit + offset), fix
that without changing the ranking (scale stays positive): Platt (1999), with his smoothed targets, which keep the fit
finite when the validation rows are separable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_CLASS_ROWS = 20
"""Fewer positives or negatives than this on the validation split: too little to fit, keep the prior correction."""
SCALE_BOUNDS = (0.05, 20.0)
"""The fitted scale is clipped to this range: positive (the ranking never flips) and never degenerate."""


@dataclass(frozen=True)
class Calibration:
    """score = sigmoid(scale * logit + offset)."""

    scale: float
    offset: float


def fit_platt(logits: np.ndarray, labels: np.ndarray, start: Calibration, iterations: int = 50) -> Calibration | None:
    """The (scale, offset) minimising the log loss of sigmoid(scale * logit + offset) on (logits, labels).

    Newton's method from `start` with step halving; None when either class has fewer than MIN_CLASS_ROWS rows.
    """
    x = np.asarray(logits, dtype=np.float64).reshape(-1)
    y = np.asarray(labels, dtype=np.float64).reshape(-1)
    positives, negatives = int((y > 0.5).sum()), int((y <= 0.5).sum())
    if positives < MIN_CLASS_ROWS or negatives < MIN_CLASS_ROWS:
        return None
    target = np.where(y > 0.5, (positives + 1.0) / (positives + 2.0), 1.0 / (negatives + 2.0))
    features = np.stack([x, np.ones_like(x)], axis=1)
    theta = np.array([start.scale, start.offset], dtype=np.float64)

    def loss(params: np.ndarray) -> float:
        z = features @ params
        return float(np.sum(np.logaddexp(0.0, z) - target * z))

    current = loss(theta)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(features @ theta)))
        gradient = features.T @ (p - target)
        hessian = features.T @ (features * (p * (1 - p))[:, None]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        size = 1.0
        while size > 1e-6:
            candidate = theta - size * step
            value = loss(candidate)
            if value <= current:
                break
            size /= 2
        else:
            break
        converged = current - value < 1e-10 * max(1.0, abs(current))
        theta, current = candidate, value
        if converged:
            break
    return Calibration(scale=float(np.clip(theta[0], *SCALE_BOUNDS)), offset=float(theta[1]))
