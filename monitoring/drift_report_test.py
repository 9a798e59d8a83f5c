"""Unit tests of drift evaluation and threshold calibration on synthetic numpy streams."""

import numpy as np
import pandas as pd
import pytest

from features.spec import FeatureSpec
from monitoring.drift_report import DRIFT, INSUFFICIENT_DATA, OK, DriftThresholds, evaluate_drift, window_statistics
from monitoring.multivariate_drift import JOINT
from monitoring.reference_profile import build_reference_profile
from monitoring.threshold_calibration import calibrate_statistics, calibrate_thresholds, consecutive_windows

SPEC = FeatureSpec("id", "ts", "y", numeric=("x", "z"), categorical={"c": ("a", "b", "c")})
WINDOW = 500


def _stream(rows: int, seed: int, x_shift: float = 0.0, c_probs=(0.5, 0.3, 0.2), score_power: float = 1.0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(x_shift, 1.0, rows),
            "z": rng.exponential(2.0, rows),
            "c": rng.choice(["a", "b", "c"], rows, p=list(c_probs)),
            "score": rng.random(rows) ** score_power,
        }
    )


@pytest.fixture(scope="module")
def calibrated():
    profile = build_reference_profile(_stream(20_000, seed=1), SPEC)
    thresholds = calibrate_thresholds(profile, consecutive_windows(_stream(100 * WINDOW, seed=2), WINDOW), SPEC)
    return profile, thresholds


def test_calibration_covers_every_statistic_and_keeps_the_window_size(calibrated):
    _, thresholds = calibrated
    assert thresholds.window_rows == WINDOW and thresholds.calibration_windows == 100
    assert thresholds.limits.keys() == {"x", "z", "c", "score", JOINT}
    assert thresholds.limits["x"].keys() == {"anderson_darling", "tail_rate", "missing_rate"}
    assert thresholds.limits["c"].keys() == {"g_test", "missing_rate", "unknown_rate"}
    assert thresholds.limits[JOINT].keys() == {"reconstruction_error"}
    assert all(limit > 0 for stats in thresholds.limits.values() for limit in stats.values())
    assert DriftThresholds.from_json(thresholds.to_json()) == thresholds


def test_no_drift_windows_rarely_alarm(calibrated):
    profile, thresholds = calibrated
    reports = [
        evaluate_drift(profile, w, SPEC, thresholds) for w in consecutive_windows(_stream(200 * WINDOW, 3), WINDOW)
    ]
    assert all(r.status in (OK, DRIFT) for r in reports)
    assert sum(r.alarm for r in reports) <= 2  # at most 1% of 200


def test_a_shifted_feature_fires_and_the_report_explains_it(calibrated):
    profile, thresholds = calibrated
    report = evaluate_drift(profile, _stream(WINDOW, seed=4, x_shift=0.5), SPEC, thresholds)
    assert report.status == DRIFT and report.fired_features == ("x",)
    x = report.features[0]
    assert x.feature == "x" and [s.statistic for s in x.statistics] == ["anderson_darling", "tail_rate", "missing_rate"]
    assert "anderson_darling" in [s.statistic for s in x.statistics if s.fired and s.value > s.threshold]
    assert "x (numeric) anderson_darling=" in report.explain()
    assert report.to_dict()["fired_features"] == ["x"]


def test_categorical_and_score_drift_fire_on_their_own_rows(calibrated):
    profile, thresholds = calibrated
    assert evaluate_drift(profile, _stream(WINDOW, 5, c_probs=(0.3, 0.3, 0.4)), SPEC, thresholds).fired_features == (
        "c",
    )
    assert evaluate_drift(profile, _stream(WINDOW, 6, score_power=2.0), SPEC, thresholds).fired_features == ("score",)


def test_too_few_rows_is_insufficient_data_and_never_alarms(calibrated):
    profile, thresholds = calibrated
    report = evaluate_drift(profile, _stream(WINDOW - 1, 7, x_shift=5.0), SPEC, thresholds)
    assert report.status == INSUFFICIENT_DATA and not report.alarm and report.features == ()
    assert "insufficient data" in report.explain()


def test_a_longer_window_is_cut_to_its_newest_rows(calibrated):
    profile, thresholds = calibrated
    window = pd.concat([_stream(WINDOW, 8, x_shift=5.0), _stream(WINDOW, 9)], ignore_index=True)
    report = evaluate_drift(profile, window, SPEC, thresholds)
    assert report.rows == 2 * WINDOW and report.status == OK


def test_missing_values_show_in_the_report(calibrated):
    profile, thresholds = calibrated
    window = _stream(WINDOW, 10)
    window.loc[: WINDOW // 5, "z"] = np.nan
    z = next(f for f in evaluate_drift(profile, window, SPEC, thresholds).features if f.feature == "z")
    assert z.fired and z.missing_fraction == pytest.approx(0.2, abs=0.01) and z.reference_missing_fraction == 0.0
    assert {s.statistic for s in z.statistics if s.fired} >= {"missing_rate"}


def test_a_few_stray_gaps_do_not_fire_but_a_run_of_them_does(calibrated):
    profile, thresholds = calibrated
    limit = thresholds.limit("z", "missing_rate")
    assert 0 < limit < 0.01, "a column never missing tolerates a stray gap, not a quality break"
    for gaps, fires in ((1, False), (int(limit * WINDOW) + 3, True)):
        window = _stream(WINDOW, 13)
        window.loc[: gaps - 1, "z"] = np.nan
        z = next(f for f in evaluate_drift(profile, window, SPEC, thresholds).features if f.feature == "z")
        missing = next(s for s in z.statistics if s.statistic == "missing_rate")
        assert missing.fired == fires, gaps


def test_a_joint_shift_that_no_marginal_shows_fires_the_multivariate_row():
    def correlated(rows, seed, sign):
        rng = np.random.default_rng(seed)
        x = rng.normal(0.0, 1.0, rows)
        return pd.DataFrame(
            {
                "x": x,
                "z": sign * 0.9 * x + np.sqrt(1 - 0.81) * rng.normal(0.0, 1.0, rows),
                "c": rng.choice(["a", "b", "c"], rows, p=[0.5, 0.3, 0.2]),
                "score": rng.random(rows),
            }
        )

    profile = build_reference_profile(correlated(20_000, 1, +1), SPEC)
    thresholds = calibrate_thresholds(profile, consecutive_windows(correlated(100 * WINDOW, 2, +1), WINDOW), SPEC)
    quiet = evaluate_drift(profile, correlated(WINDOW, 3, +1), SPEC, thresholds)
    assert quiet.status == OK, quiet.explain()
    flipped = evaluate_drift(profile, correlated(WINDOW, 4, -1), SPEC, thresholds)
    assert flipped.fired_features == (JOINT,), flipped.explain()
    assert "(joint) (multivariate) reconstruction_error=" in flipped.explain()


def test_a_profile_from_another_spec_is_refused(calibrated):
    profile, thresholds = calibrated
    other = FeatureSpec("id", "ts", "y", numeric=("x", "z", "w"), categorical={"c": ("a", "b", "c")})
    with pytest.raises(ValueError, match="built for FeatureSpec"):
        evaluate_drift(profile, _stream(WINDOW, 11).assign(w=0.0), other, thresholds)


def test_calibration_refuses_too_few_or_uneven_windows(calibrated):
    profile, _ = calibrated
    with pytest.raises(ValueError, match="false_alarm_rate"):
        calibrate_thresholds(profile, consecutive_windows(_stream(40 * WINDOW, 12), WINDOW), SPEC, 1.5)
    with pytest.raises(ValueError, match="at least 30"):
        calibrate_thresholds(profile, consecutive_windows(_stream(10 * WINDOW, 12), WINDOW), SPEC)
    uneven = [_stream(WINDOW + (i % 2), 100 + i) for i in range(30)]
    with pytest.raises(ValueError, match="same number of rows"):
        calibrate_thresholds(profile, uneven, SPEC)


def test_an_exempt_feature_is_left_out_of_the_verdict(calibrated):
    profile, thresholds = calibrated
    shifted = _stream(WINDOW, seed=4, x_shift=0.5)
    assert evaluate_drift(profile, shifted, SPEC, thresholds).fired_features == ("x",)
    report = evaluate_drift(profile, shifted, SPEC, thresholds, exempt=frozenset({"x"}))
    assert "x" not in {f.feature for f in report.features}
    # The joint PCA was built with x; a profile built with x exempt leaves it out of the joint row too.
    exempt_profile = build_reference_profile(_stream(20_000, seed=1), SPEC, exempt=frozenset({"x"}))
    assert "x" not in exempt_profile.joint.features and "z" in exempt_profile.joint.features
    windows = consecutive_windows(_stream(100 * WINDOW, seed=2), WINDOW)
    exempt_thresholds = calibrate_thresholds(exempt_profile, windows, SPEC)
    report = evaluate_drift(exempt_profile, _stream(WINDOW, 4, x_shift=2.0), SPEC, exempt_thresholds, frozenset({"x"}))
    assert report.status == OK, report.explain()


@pytest.mark.parametrize(
    ("case", "column", "value"),
    [
        ("an all-null numeric feature", "x", np.nan),
        ("an all-null category", "c", None),
        ("a category the reference never saw", "c", "zzz"),
        ("a constant numeric feature", "x", 3.0),
        ("an all-null score", "score", np.nan),
    ],
)
def test_a_broken_column_gets_a_finite_verdict_naming_it(calibrated, case, column, value):
    profile, thresholds = calibrated
    window = _stream(WINDOW, 9).assign(**{column: value})
    report = evaluate_drift(profile, window, SPEC, thresholds)
    values = [s.value for f in report.features for s in f.statistics]
    assert np.isfinite(values).all(), f"{case}: every statistic is a number"
    assert report.status == DRIFT and {f for f in report.fired_features if f != JOINT} == {column}, case
    assert column in report.explain()


def test_a_constant_reference_feature_has_finite_limits_and_fires_when_it_starts_to_vary():
    reference = _stream(20_000, seed=1).assign(z=1.0)
    profile = build_reference_profile(reference, SPEC)
    windows = consecutive_windows(_stream(100 * WINDOW, seed=2).assign(z=1.0), WINDOW)
    thresholds = calibrate_thresholds(profile, windows, SPEC)
    assert all(np.isfinite(limit) for limit in thresholds.limits["z"].values())
    assert evaluate_drift(profile, _stream(WINDOW, 9).assign(z=1.0), SPEC, thresholds).status == OK
    varying = evaluate_drift(profile, _stream(WINDOW, 9), SPEC, thresholds)
    assert varying.status == DRIFT and "z" in varying.fired_features


def test_an_all_null_reference_column_is_refused_naming_it():
    with pytest.raises(ValueError, match="numeric feature 'x'.*all missing"):
        build_reference_profile(_stream(20_000, seed=1).assign(x=np.nan), SPEC)


def test_limits_from_overlapping_windows_widen_with_fewer_independent_ones(calibrated):
    profile, thresholds = calibrated
    statistics = [window_statistics(profile, w, SPEC) for w in consecutive_windows(_stream(100 * WINDOW, 2), WINDOW)]
    assert calibrate_statistics(profile, statistics, WINDOW) == thresholds
    fewer = calibrate_statistics(profile, statistics, WINDOW, independent_windows=10)
    assert fewer.limit("x", "anderson_darling") > thresholds.limit("x", "anderson_darling")
    with pytest.raises(ValueError, match="2 independent windows"):
        calibrate_statistics(profile, statistics, WINDOW, independent_windows=1)
