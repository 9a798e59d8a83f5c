"""Unit tests of the PromQL metric-name lexer."""

import pytest

from monitoring.promql_metric_names import promql_metric_names


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("flywheel_drift_alarm", {"flywheel_drift_alarm"}),
        ('sum by (model) (rate(x_total{status=~"5..", model="a b"}[5m]))', {"x_total"}),
        ("histogram_quantile(0.99, sum by (model, le) (rate(lat_bucket[5m])))", {"lat_bucket"}),
        ("a / on (model, feature) b > 1e3", {"a", "b"}),
        (
            "sum(rate(s_bucket[15m])) by (le) / ignoring (le) group_left sum(rate(s_count[15m]))",
            {"s_bucket", "s_count"},
        ),
        ("time() - flywheel:x:rate5m offset 5m", {"flywheel:x:rate5m"}),
        ("increase(c_total[1h]) > 0 and on (model) g == bool 1", {"c_total", "g"}),
    ],
)
def test_names_are_the_selected_series(expr, names):
    assert promql_metric_names(expr) == names
