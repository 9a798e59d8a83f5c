"""The feedback join: arrived labels are positives, old unlabeled predictions negatives, the rest pending."""

import numpy as np
import pandas as pd
import pytest

from monitoring.feedback_join import join_labels, quality_by_version

NOW = pd.Timestamp("2026-11-20T00:00:00Z")
DAY = 86400.0


def _predictions():
    base = NOW.timestamp()
    return pd.DataFrame(
        {
            "transaction_id": ["a", "b", "c", "d", "a"],
            "model": ["m"] * 5,
            "model_version": [1, 1, 1, 2, 1],
            "score": [0.9, 0.2, 0.4, 0.7, 0.1],
            "time": [base - 10 * DAY, base - 10 * DAY, base - 1 * DAY, base - 10 * DAY, base],
        }
    )


def _labels():
    return pd.DataFrame(
        {
            "transaction_id": ["a", "zzz", "c", "d"],
            "label_time": pd.to_datetime(
                ["2026-11-15T00:00:00Z", "2026-11-16T00:00:00Z", "2026-11-25T00:00:00Z", "2026-11-19T00:00:00Z"]
            ),
            "is_positive": [1, 1, 1, 1],
        }
    )


def test_status_of_each_prediction_and_unknown_labels_are_counted():
    joined = join_labels(_predictions(), _labels(), NOW, pd.Timedelta(days=7))
    status = dict(zip(joined.frame["transaction_id"], joined.frame["status"], strict=True))
    # a: labeled; b: 10 days old, no label -> negative; c: its label arrives after now -> pending; d: labeled
    assert status == {"a": "positive", "b": "matured_negative", "c": "pending", "d": "positive"}
    assert joined.frame.loc[joined.frame["transaction_id"] == "a", "score"].item() == 0.9, "first prediction wins"
    assert joined.unknown_labels == 1
    assert joined.counts() == {
        "predictions": 4,
        "positive": 2,
        "matured_negative": 1,
        "pending": 1,
        "unknown_labels": 1,
    }


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match="predictions lack column 'score'"):
        join_labels(_predictions().drop(columns="score"), _labels(), NOW, pd.Timedelta(days=7))


def test_quality_by_version_on_a_perfect_and_a_single_class_version():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    frame = pd.DataFrame(
        {
            "model": "m",
            "model_version": [1] * 200 + [2] * 10,
            "score": np.concatenate([labels * 0.8 + 0.1, np.full(10, 0.5)]),
            "label": np.concatenate([labels, np.zeros(10)]).astype(float),
            "status": ["positive"] * 210,
        }
    )
    quality = quality_by_version(frame, max_fpr=0.01, top_k=50).set_index("model_version")
    assert quality.loc[1, "pr_auc"] == pytest.approx(1.0)
    assert quality.loc[1, "recall_at_fpr"] == pytest.approx(1.0)
    assert quality.loc[1, "precision_at_k"] == pytest.approx(1.0)
    assert np.isnan(quality.loc[2, "pr_auc"]), "one class only: undefined, not a fake number"
    assert quality.loc[2, "labeled"] == 10


def test_a_label_column_keeps_only_that_kind_of_label():
    labels = _labels().assign(other=[0, 0, 0, 1])
    labels.loc[0, "is_positive"] = 0  # 'a' was labelled, but as the other kind: for this task it is a negative
    joined = join_labels(_predictions(), labels, NOW, pd.Timedelta(days=7), label_column="is_positive")
    status = dict(zip(joined.frame["transaction_id"], joined.frame["status"], strict=True))
    assert status["a"] == "matured_negative" and status["d"] == "positive"
    with pytest.raises(ValueError, match="'is_dispute'"):
        join_labels(_predictions(), labels, NOW, pd.Timedelta(days=7), label_column="is_dispute")


def test_a_shadow_versions_prediction_of_the_same_transaction_is_joined_beside_the_served_one():
    predictions = _predictions()
    shadow = predictions.iloc[[0, 1]].assign(model_version=3, score=[0.3, 0.8])
    joined = join_labels(pd.concat([predictions, shadow]), _labels(), NOW, pd.Timedelta(days=7)).frame
    both = joined[joined["transaction_id"] == "a"].set_index("model_version")["score"].to_dict()
    assert both == {1: 0.9, 3: 0.3}, "one prediction per transaction and version: both are judged on it"
    quality = quality_by_version(joined).set_index("model_version")
    assert quality.loc[3, "labeled"] == 2 and quality.loc[3, "positives"] == 1
