"""Unit tests of reference profiles: contents, JSON round trip, and errors that name the problem."""

import numpy as np
import pandas as pd
import pytest

from features.spec import FeatureSpec
from monitoring.drift_report import window_statistics
from monitoring.drift_statistics import scaled_wasserstein
from monitoring.reference_profile import (
    PROFILE_FORMAT,
    QUANTILE_POINTS,
    SCORE_RESOLUTION,
    ReferenceProfile,
    build_reference_profile,
    profile_numeric,
)

SPEC = FeatureSpec("id", "ts", "y", numeric=("x", "flag"), categorical={"c": ("a", "b")})


def _frame(rows: int = 1000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(10.0, 2.0, rows)
    x[:10] = np.nan
    return pd.DataFrame(
        {
            "x": x,
            "flag": (rng.random(rows) < 0.05).astype(float),
            "c": rng.choice(["a", "b", "new"], rows, p=[0.6, 0.3, 0.1]),
            "score": rng.random(rows),
        }
    )


def test_profile_holds_quantiles_bins_and_category_shares():
    profile = build_reference_profile(_frame(), SPEC)
    x = profile.numeric["x"]
    assert len(x.quantiles) == QUANTILE_POINTS and x.quantiles[QUANTILE_POINTS // 2] == pytest.approx(10.0, abs=0.3)
    assert x.missing_fraction == pytest.approx(0.01)
    assert sum(x.bin_fractions) == pytest.approx(1.0)
    assert profile.numeric["flag"].bin_edges == (0.0,)  # a binary feature keeps one edge
    assert profile.categorical["c"].unknown_fraction == pytest.approx(0.1, abs=0.03)
    assert profile.score is not None and profile.spec_hash == SPEC.definition_hash()


def test_profile_round_trips_through_json():
    profile = build_reference_profile(_frame(), SPEC)
    assert ReferenceProfile.from_json(profile.to_json()) == profile


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match=r"\['c', 'score'\] are missing"):
        build_reference_profile(_frame().drop(columns=["c", "score"]), SPEC)


def test_non_numeric_values_name_the_feature():
    frame = _frame().astype({"x": object})
    frame.loc[3, "x"] = "ten"
    with pytest.raises(ValueError, match="numeric feature 'x'"):
        build_reference_profile(frame, SPEC)


def test_unknown_format_is_refused():
    text = build_reference_profile(_frame(), SPEC).to_json().replace(f'"format": {PROFILE_FORMAT}', '"format": 99')
    with pytest.raises(ValueError, match="format 99"):
        ReferenceProfile.from_json(text)


def test_the_quantile_grid_weighs_a_heavy_tail_as_the_data_does():
    """A window drawn from the reference itself sits near zero Wasserstein from its grid, and 2% of values x100
    (amounts switched to cents) lands far away: the grid's top point is not the maximum with a 1% weight."""
    rng = np.random.default_rng(3)
    reference = rng.lognormal(3.5, 1.2, 200_000)
    x = profile_numeric(reference)
    same = rng.lognormal(3.5, 1.2, 4000)
    cents = same.copy()
    cents[:80] *= 100
    quiet = scaled_wasserstein(same, np.asarray(x.quantiles), x.scale)
    assert quiet < 0.1
    assert scaled_wasserstein(cents, np.asarray(x.quantiles), x.scale) > 4 * quiet


def test_scores_below_the_resolution_are_one_value_to_the_drift_statistics():
    rng = np.random.default_rng(4)
    frame = _frame()
    reference = frame.assign(score=10.0 ** rng.uniform(-12, -8, len(frame)))
    profile = build_reference_profile(reference, SPEC)
    assert profile.score.bin_edges == (SCORE_RESOLUTION,) and min(profile.score.quantiles) == SCORE_RESOLUTION
    deeper = reference.assign(score=10.0 ** rng.uniform(-20, -10, len(frame)))
    (score,) = [row for row in window_statistics(profile, deeper, SPEC) if row[0] == "score"]
    assert score[2]["psi"] < 1e-6, "scores further below the resolution are the same score"
    risky = reference.assign(score=np.where(rng.random(len(frame)) < 0.3, 0.5, reference["score"]))
    (score,) = [row for row in window_statistics(profile, risky, SPEC) if row[0] == "score"]
    assert score[2]["psi"] > 0.5, "a shift above the resolution still shows"


def test_the_joint_pca_is_saved_with_the_profile_and_leaves_exempt_features_out():
    profile = build_reference_profile(_frame(5000), SPEC)
    joint = profile.joint
    assert joint.features == ("x", "flag", "c") and joint.columns == ("x", "flag", "c=a", "c=b")
    assert 1 <= len(joint.components) < len(joint.columns)
    assert all(len(component) == len(joint.columns) for component in joint.components)
    assert ReferenceProfile.from_json(profile.to_json()) == profile
    exempt = build_reference_profile(_frame(5000), SPEC, exempt=frozenset({"x"}))
    assert exempt.joint.features == ("flag", "c")
    alone = FeatureSpec("id", "ts", "y", numeric=("x",), categorical={})
    assert build_reference_profile(_frame(), alone).joint is None, "one column has nothing to relate to"
