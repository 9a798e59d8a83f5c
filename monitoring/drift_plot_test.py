"""The drift picture ranks features by statistic / limit and draws a PNG; an empty report is refused."""

import pytest

from monitoring.drift_plot import limit_ratios, plot_drift_report
from monitoring.drift_report import DRIFT, INSUFFICIENT_DATA, DriftReport, FeatureDrift, StatisticResult


def _report():
    x = FeatureDrift(
        "x",
        "numeric",
        (StatisticResult("psi", 0.6, 0.2, True), StatisticResult("wasserstein", 0.1, 0.5, False)),
        0.0,
        0.0,
    )
    c = FeatureDrift("c", "categorical", (StatisticResult("psi", 0.05, 0.1, False),), 0.0, 0.0)
    return DriftReport(DRIFT, 600, 500, (c, x), "h")


def test_ratios_rank_features_by_their_strongest_statistic():
    assert limit_ratios(_report()) == [("x", pytest.approx(3.0), "psi"), ("c", pytest.approx(0.5), "psi")]


def test_the_plot_is_a_png_and_an_empty_report_is_refused(tmp_path):
    path = plot_drift_report(_report(), tmp_path / "drift.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 1000
    with pytest.raises(ValueError, match="no statistics to plot"):
        plot_drift_report(DriftReport(INSUFFICIENT_DATA, 10, 500, (), "h"), tmp_path / "none.png")
