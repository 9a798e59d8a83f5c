"""Drift detection against the fraud generator: calibrated to <= 1% false alarms, and every scenario is caught.

A reference profile from 28 days, thresholds calibrated on the next 60 days, then: ~200 held-out no-drift windows
(at most 1% may alarm), each covariate-drift and data-quality scenario (every window alarms on the feature it
touches), and concept drift (invisible to the stand-in model's features, caught by labeled quality).
"""

import numpy as np
import pytest

from domain.generator import GeneratorConfig, with_scenario
from monitoring.drift_report import OK, evaluate_drift
from monitoring.labeled_quality import DEGRADED, evaluate_labeled_quality, quality_reference
from monitoring.reference_profile import build_reference_profile
from monitoring.threshold_calibration import calibrate_thresholds, consecutive_windows
from tests.monitoring.fraud_windows import WINDOW_SPEC, served_days

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
