"""Drift detection against the fraud generator: calibrated to <= 1% false alarms, and every scenario is caught.

A reference profile from 28 days, thresholds calibrated on the next 60 days, then: ~200 held-out no-drift windows
(at most 1% may alarm), each covariate-drift and data-quality scenario (every window alarms on the feature it
touches), concept drift (invisible to the stand-in model's features, caught by labeled quality), and the benchmark's
goal on a reduced size: the sensor's detector needs no more rows than the classical tests watching the same
features under the same family-wise correction (bench/monitoring_drift.py measures it at full size).
"""

from functools import partial

import numpy as np
import pytest

from domain.generator import GeneratorConfig, with_scenario
from monitoring.drift_report import CATEGORICAL, NUMERIC, OK, SCORE, evaluate_drift, judge_statistics, window_statistics
from monitoring.drift_statistics import CHI_SQUARE, KOLMOGOROV_SMIRNOV
from monitoring.labeled_quality import DEGRADED, evaluate_labeled_quality, quality_reference
from monitoring.reference_profile import build_reference_profile
from monitoring.threshold_calibration import calibrate_statistics, calibrate_thresholds, consecutive_windows
from tests.monitoring.fraud_windows import WINDOW_SPEC, amounts_follow_channel, served_days

CONFIG = GeneratorConfig(n_cards=2000, n_merchants=200, days=400)
WINDOW = 2000  # about 20 hours of traffic at this size
SCENARIO_DAY = 300


@pytest.fixture(scope="module")
def calibrated():
    reference = served_days(CONFIG, 0, 28)
    profile = build_reference_profile(reference, WINDOW_SPEC)
    windows = consecutive_windows(served_days(CONFIG, 28, 60), WINDOW, step=WINDOW // 2)
    return reference, profile, calibrate_thresholds(profile, windows, WINDOW_SPEC, false_alarm_rate=0.01)


def test_no_drift_stream_alarms_in_at_most_one_percent_of_windows(calibrated):
    _, profile, thresholds = calibrated
    reports = [
        evaluate_drift(profile, w, WINDOW_SPEC, thresholds)
        for w in consecutive_windows(served_days(CONFIG, 90, 170), WINDOW)
    ]
    assert len(reports) >= 200
    alarms = [r.explain() for r in reports if r.alarm]
    assert len(alarms) <= 0.01 * len(reports), alarms


@pytest.mark.parametrize(
    ("knobs", "feature"),
    [
        ({"amount_inflation": 1.2}, "amount"),
        ({"new_merchant_share": 0.05}, "merchant_is_new"),
        ({"quality_break": "null_field", "quality_break_share": 0.05}, "country"),
        ({"quality_break": "amount_cents", "quality_break_share": 0.05}, "amount"),
        ({"quality_break": "renamed_category", "quality_break_share": 0.05}, "merchant_category"),
    ],
    ids=["inflation", "new_merchants", "null_country", "amount_cents", "renamed_category"],
)
def test_each_drift_scenario_alarms_on_the_feature_it_touches(calibrated, knobs, feature):
    _, profile, thresholds = calibrated
    drifted = served_days(with_scenario(CONFIG, start_day=SCENARIO_DAY, **knobs), SCENARIO_DAY, 4)
    reports = [evaluate_drift(profile, w, WINDOW_SPEC, thresholds) for w in consecutive_windows(drifted, WINDOW)]
    assert reports and all(r.alarm and feature in r.fired_features for r in reports), [r.explain() for r in reports]


def test_concept_drift_is_caught_by_labeled_quality_not_by_the_features(calibrated):
    reference, profile, thresholds = calibrated
    quality = quality_reference(reference["score"], reference["is_fraud"], 0.1, reference["event_time"].dt.floor("D"))
    config = with_scenario(CONFIG, start_day=SCENARIO_DAY, new_fraud_pattern_rate=0.005)
    drifted = served_days(config, SCENARIO_DAY, 14)
    report = evaluate_labeled_quality(quality, drifted["score"], drifted["is_fraud"])
    assert report.status == DEGRADED and report.checks[0].metric == "recall", report.explain()
    unchanged = served_days(CONFIG, SCENARIO_DAY, 14)
    assert evaluate_labeled_quality(quality, unchanged["score"], unchanged["is_fraud"]).status == OK
    feature_alarms = [
        evaluate_drift(profile, w, WINDOW_SPEC, thresholds).alarm for w in consecutive_windows(drifted, WINDOW)
    ]
    assert np.mean(feature_alarms) < 0.5  # the new pattern hides in the features: labels are what show it


CLASSICAL = {NUMERIC: (KOLMOGOROV_SMIRNOV,), SCORE: (KOLMOGOROV_SMIRNOV,), CATEGORICAL: (CHI_SQUARE,)}
"""The classical tests in the sensor's place: KS for numeric features and the score, chi-square for categories."""
GOAL_SIZES = (500, 1000, 2000, 4000, 8000)
GOAL_WINDOWS = 40


def _random_windows(frame, size: int, count: int, rng: np.random.Generator):
    return [frame.iloc[start : start + size] for start in rng.integers(0, len(frame) - size, count)]


@pytest.fixture(scope="module")
def family_limits(calibrated):
    """Per window size: the sensor's and the classical family's limits from the same 120 no-drift windows."""
    _, profile, _ = calibrated
    pool = served_days(CONFIG, 28, 60)
    rng = np.random.default_rng(1)
    limits = {}
    for size in GOAL_SIZES:
        statistics = [window_statistics(profile, w, WINDOW_SPEC) for w in _random_windows(pool, size, 120, rng)]
        independent = len(pool) // size  # random starts overlap
        limits[size] = {
            name: calibrate_statistics(profile, statistics, size, 0.01, independent, family)
            for name, family in (("sensor", None), ("classical", CLASSICAL))
        }
    return limits


def _rows_needed(profile, drifted, limits, family_name, family) -> int | None:
    rng = np.random.default_rng(2)
    for size in GOAL_SIZES:
        windows = _random_windows(drifted, size, GOAL_WINDOWS, rng)
        alarms = [
            judge_statistics(
                profile, window_statistics(profile, w, WINDOW_SPEC), limits[size][family_name], size, family
            ).alarm
            for w in windows
        ]
        if np.mean(alarms) >= 0.9:
            return size
    return None


@pytest.mark.parametrize(
    ("knobs", "reshape"),
    [
        ({"quality_break": "amount_cents", "quality_break_share": 0.02}, None),
        ({"quality_break": "null_field", "quality_break_share": 0.02}, None),
        ({}, partial(amounts_follow_channel, share=0.3)),
    ],
    ids=["2pct_amount_cents", "2pct_null_country", "joint_amount_channel"],
)
def test_the_sensor_needs_no_more_rows_than_the_classical_tests_on_every_feature(
    calibrated, family_limits, knobs, reshape
):
    _, profile, _ = calibrated
    if reshape is None:
        drifted = served_days(with_scenario(CONFIG, start_day=SCENARIO_DAY, **knobs), SCENARIO_DAY, 21)
    else:
        drifted = reshape(served_days(CONFIG, SCENARIO_DAY, 21))
    ours = _rows_needed(profile, drifted, family_limits, "sensor", None)
    classical = _rows_needed(profile, drifted, family_limits, "classical", CLASSICAL)
    assert ours is not None and (classical is None or ours <= classical), (ours, classical)
