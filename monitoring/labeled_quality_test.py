"""Unit tests of the labeled-quality check on synthetic scores and labels."""

import numpy as np
import pytest

from monitoring.drift_report import INSUFFICIENT_DATA
from monitoring.labeled_quality import DEGRADED, evaluate_labeled_quality, quality_reference


def _labeled(rows: int, seed: int, miss_rate: float = 0.0):
    """Positives score high unless missed; `miss_rate` of positives score like negatives (a new pattern)."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(rows) < 0.05).astype(int)
    scores = np.where(labels == 1, rng.beta(5, 2, rows), rng.beta(1, 8, rows))
    missed = (labels == 1) & (rng.random(rows) < miss_rate)
    scores[missed] = rng.beta(1, 8, missed.sum())
    return scores, labels


def test_reference_measures_recall_precision_and_dispersion():
    scores, labels = _labeled(20_000, 0)
    reference = quality_reference(scores, labels, 0.5, windows=np.arange(20_000) // 1000)
    assert 0.8 < reference.recall < 0.95 and reference.precision > 0.5
    assert reference.positives == labels.sum() and reference.recall_dispersion >= 1.0


def test_unchanged_quality_rarely_alarms_and_a_missed_pattern_does():
    reference = quality_reference(*_labeled(20_000, 0), 0.5, windows=np.arange(20_000) // 1000)
    alarms = [evaluate_labeled_quality(reference, *_labeled(4000, seed)).alarm for seed in range(1, 101)]
    assert sum(alarms) <= 1
    report = evaluate_labeled_quality(reference, *_labeled(4000, 200, miss_rate=0.3))
    assert report.status == DEGRADED and report.checks[0].metric == "recall" and report.checks[0].status == DEGRADED
    assert "recall=" in report.explain()


def test_too_few_labels_is_insufficient_data():
    reference = quality_reference(*_labeled(20_000, 0), 0.5)
    scores, labels = _labeled(100, 3, miss_rate=1.0)
    report = evaluate_labeled_quality(reference, scores, labels)
    assert report.status == INSUFFICIENT_DATA and not report.alarm


def test_bad_labels_are_named():
    with pytest.raises(ValueError, match=r"labels must be 0 or 1, found \[2\]"):
        quality_reference([0.1, 0.9], [0, 2], 0.5)
    with pytest.raises(ValueError, match="differ in length"):
        evaluate_labeled_quality(quality_reference([0.1, 0.9], [0, 1], 0.5), [0.2], [0, 1])


def test_a_perfect_reference_still_detects_a_drop():
    import numpy as np

    from monitoring.labeled_quality import evaluate_labeled_quality, quality_reference

    labels = np.array([1] * 40 + [0] * 160)
    reference = quality_reference(labels * 0.9, labels, threshold=0.5)
    assert reference.recall == 1.0 and reference.precision == 1.0
    report = evaluate_labeled_quality(reference, np.r_[np.full(40, 0.1), np.full(160, 0.9)], labels)
    assert report.alarm, "zero spread must not hide a total collapse"
