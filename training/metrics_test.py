"""Binary-classification metrics on hand-checkable inputs."""

import numpy as np
import pytest

from features.model_declaration import GATE_METRICS
from training.metrics import binary_metrics, expected_calibration_error, pr_auc, recall_at_fpr, roc_auc


def test_perfect_ranking_scores_one():
    labels = [0, 0, 0, 1, 1]
    scores = [0.1, 0.2, 0.3, 0.8, 0.9]
    assert pr_auc(labels, scores) == pytest.approx(1.0)
    assert roc_auc(labels, scores) == pytest.approx(1.0)
    assert recall_at_fpr(labels, scores, 0.0) == pytest.approx(1.0)


def test_recall_at_fpr_respects_the_false_positive_budget():
    # Negatives at 0.9 and 0.5 outrank one positive at 0.4; the other positive is top.
    labels = [1, 0, 0, 1, 0, 0, 0, 0, 0, 0]
    scores = [0.95, 0.9, 0.5, 0.4, 0.3, 0.2, 0.2, 0.1, 0.1, 0.05]
    assert recall_at_fpr(labels, scores, 0.0) == pytest.approx(0.5)
    assert recall_at_fpr(labels, scores, 0.125) == pytest.approx(0.5)  # 1 of 8 negatives allowed
    assert recall_at_fpr(labels, scores, 0.25) == pytest.approx(1.0)  # 2 of 8


def test_calibration_error_is_zero_when_calibrated_and_large_when_not():
    rng = np.random.default_rng(0)
    scores = rng.uniform(0, 1, 200_000)
    labels = rng.uniform(0, 1, scores.size) < scores
    assert expected_calibration_error(labels, scores) < 0.01
    assert expected_calibration_error(labels, np.clip(scores + 0.3, 0, 1)) > 0.2


def test_binary_metrics_has_every_metric():
    metrics = binary_metrics([0, 1, 0, 1], [0.2, 0.7, 0.4, 0.6], max_fpr=0.5)
    assert set(metrics) == {"pr_auc", "roc_auc", "recall_at_fpr", "ece", "positive_rate", "mean_score"}
    assert metrics["positive_rate"] == 0.5
    assert set(GATE_METRICS) <= set(metrics), "every metric a declaration may gate on is computed"


@pytest.mark.parametrize(
    ("labels", "scores", "message"),
    [([1, 1], [0.1, 0.2], "both classes"), ([0, 1], [0.1], "2 labels but 1 scores"), ([0, 1], [0.1, np.nan], "NaN")],
)
def test_bad_inputs_are_refused(labels, scores, message):
    with pytest.raises(ValueError, match=message):
        pr_auc(labels, scores)
