"""Quality estimated from calibrated scores: it matches the labeled metric on average, sees a shift that makes the
model less sure before any label, cannot see a concept drift, holds its false-alarm rate, and names bad input."""

import numpy as np
import pytest

from monitoring.drift_report import INSUFFICIENT_DATA, OK
from monitoring.feedback_join import score_metric
from monitoring.performance_estimation import (
    DEGRADED,
    ESTIMABLE,
    estimate_metric,
    estimate_reference,
    evaluate_estimated_quality,
)

WINDOW = 2000


def _scores(rows: int, seed: int, confidence: float = 1.0) -> np.ndarray:
    """Calibrated-looking scores: mostly low, a tail of likely positives; `confidence` < 1 pulls them to the middle."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(-3.0, 1.6, rows) * confidence
    return 1.0 / (1.0 + np.exp(-logits))


def _labels(scores: np.ndarray, seed: int) -> np.ndarray:
    """Labels drawn as the scores promise: the scores are calibrated by construction."""
    return (np.random.default_rng(seed).random(len(scores)) < scores).astype(np.int64)


@pytest.mark.parametrize("metric", ESTIMABLE)
def test_on_calibrated_scores_the_estimate_matches_the_labeled_metric_on_average(metric):
    estimates, realised = [], []
    for seed in range(60):
        scores = _scores(WINDOW, seed)
        estimates.append(estimate_metric(metric, scores))
        realised.append(score_metric(metric, _labels(scores, 1000 + seed), scores))
    assert np.mean(estimates) == pytest.approx(np.mean(realised), abs=0.02)
    # and window by window within the labeled metric's own sampling spread
    assert np.mean(np.abs(np.array(estimates) - realised)) < 2 * np.std(realised) + 0.01


def test_ties_share_a_threshold():
    flat = np.full(100, 0.3)
    assert estimate_metric("pr_auc", flat) == pytest.approx(0.3)
    assert estimate_metric("roc_auc", flat) == pytest.approx(0.5)


def test_a_shift_to_less_certain_scores_is_seen_before_any_label_and_normal_windows_stay_quiet():
    reference = estimate_reference("pr_auc", _scores(60 * WINDOW, seed=1), WINDOW, false_alarm_rate=0.01)
    assert reference.windows == 60 and reference.limit < reference.reference
    fresh = [evaluate_estimated_quality(reference, _scores(WINDOW, seed)) for seed in range(100, 300)]
    assert all(q.status in (OK, DEGRADED) for q in fresh)
    assert sum(q.alarm for q in fresh) <= 6, "about 1% of 200 no-shift windows, with room for the limit's own error"

    shifted_scores = _scores(WINDOW, seed=7, confidence=0.6)
    shifted = evaluate_estimated_quality(reference, shifted_scores)
    assert shifted.status == DEGRADED and "below its limit" in shifted.reason
    labeled = np.mean([score_metric("pr_auc", _labels(shifted_scores, seed), shifted_scores) for seed in range(30)])
    assert labeled < reference.reference - 0.02, "the labels, when they come, agree on average"
    assert shifted.value == pytest.approx(labeled, abs=0.03)


def test_a_concept_drift_leaves_the_estimate_where_it_was():
    reference = estimate_reference("roc_auc", _scores(40 * WINDOW, seed=2), WINDOW)
    scores = _scores(WINDOW, seed=9)
    unrelated = np.random.default_rng(10).permutation(_labels(scores, 11))  # same inputs, labels no longer follow
    assert evaluate_estimated_quality(reference, scores).status == OK
    assert score_metric("roc_auc", unrelated, scores) < 0.6, "only the labels show it (labeled_quality's job)"


def test_bad_input_gets_a_defined_verdict_with_its_reason():
    reference = estimate_reference("pr_auc", _scores(30 * WINDOW, seed=3), WINDOW)
    scores = _scores(WINDOW, seed=4)
    broken = np.r_[scores, np.nan, -0.5, 1.5, np.inf]
    report = evaluate_estimated_quality(reference, broken)
    assert report.status in (OK, DEGRADED) and np.isfinite(report.value)
    assert "4 scores not finite or outside [0, 1] left out" in report.reason

    short = evaluate_estimated_quality(reference, scores[:10])
    assert short.status == INSUFFICIENT_DATA and "10 valid scores, 2000 needed" in short.reason
    certain = evaluate_estimated_quality(reference, np.zeros(WINDOW))
    assert certain.status == INSUFFICIENT_DATA and "no positives or no negatives" in certain.reason
    assert np.isnan(estimate_metric("roc_auc", []))

    with pytest.raises(ValueError, match="unknown metric 'accuracy'"):
        estimate_metric("accuracy", scores)
    with pytest.raises(ValueError, match="unknown metric 'accuracy'"):
        estimate_reference("accuracy", _scores(30 * WINDOW, seed=3), WINDOW)
    with pytest.raises(ValueError, match="make 5 windows of 2000 rows; at least 20"):
        estimate_reference("pr_auc", _scores(5 * WINDOW, seed=5), WINDOW)
    with pytest.raises(ValueError, match="only 0 of 25 reference windows expect both classes"):
        estimate_reference("pr_auc", np.zeros(25 * WINDOW), WINDOW)
