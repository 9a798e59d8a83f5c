"""Quality over time: the labeled metric per version per time slice from labeled rows only, the estimate from every
row's score, and their picture."""

import numpy as np
import pandas as pd
import pytest

from monitoring.quality_plot import estimated_quality_timeline, plot_quality_timeline, quality_timeline


def _joined():
    rng = np.random.default_rng(0)
    rows = 400
    label = (rng.random(rows) < 0.2).astype(float)
    version = np.where(np.arange(rows) < 200, 1, 2)
    noise = np.where(version == 1, 0.8, 0.1)  # v2 separates the classes far better
    score = np.clip(label * 0.6 + rng.random(rows) * noise, 0, 1)
    status = np.where(np.arange(rows) % 10 == 0, "pending", np.where(label == 1, "positive", "matured_negative"))
    return pd.DataFrame(
        {
            "time": 1_700_000_000 + np.arange(rows) * 60.0,
            "model_version": version,
            "score": score,
            "label": np.where(status == "pending", np.nan, label),
            "status": status,
        }
    )


def test_each_version_gets_its_slices_and_the_better_model_scores_higher():
    timeline = quality_timeline(_joined(), buckets=4)
    assert set(timeline["model_version"]) == {1, 2}
    assert timeline["labeled"].sum() == 360, "pending rows are left out"
    by_version = timeline.groupby("model_version")["pr_auc"].mean()
    assert by_version[2] > by_version[1]
    assert quality_timeline(_joined().assign(status="pending")).empty


def test_the_plot_is_a_png_and_nothing_to_draw_is_refused(tmp_path):
    path = plot_quality_timeline(quality_timeline(_joined(), buckets=4), tmp_path / "q.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="nothing to plot"):
        plot_quality_timeline(quality_timeline(_joined().assign(status="pending")), tmp_path / "none.png")


def test_the_timeline_follows_the_models_gate_metric():
    timeline = quality_timeline(_joined(), buckets=4, metric="roc_auc")
    assert "roc_auc" in timeline.columns and "pr_auc" not in timeline.columns
    by_version = timeline.groupby("model_version")["roc_auc"].mean()
    assert by_version[2] > by_version[1] and 0.5 < by_version[2] <= 1.0
    with pytest.raises(ValueError, match="unknown metric"):
        quality_timeline(_joined(), metric="accuracy")


def test_the_estimate_covers_every_served_row_and_is_drawn_beside_the_labeled_metric(tmp_path):
    joined = _joined()
    estimated = estimated_quality_timeline(joined, buckets=4)
    assert estimated["rows"].sum() == len(joined), "pending rows are estimated too: the estimate needs no label"
    assert set(estimated["model_version"]) == {1, 2}
    assert estimated["estimated_pr_auc"].between(0, 1).all()
    path = plot_quality_timeline(quality_timeline(joined, buckets=4), tmp_path / "q.png", estimated)
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert estimated_quality_timeline(joined.iloc[:0]).empty
