"""Calibrates drift thresholds on no-drift windows so that at most a chosen share of such windows alarm.

Each statistic is computed on every calibration window. Its no-drift distribution is fitted as log-normal (drift
statistics are positive and right-skewed; the log-normal's upper tail is heavier than that of PSI's scaled
chi-square, so the fit errs on the quiet side) and its limit is the quantile at 1 - rate / m, m being the number
of statistics: the Bonferroni bound keeps the chance that *any* statistic of a no-drift window fires at or below
`rate`. A fitted tail, not the raw empirical quantile, because a 1% family-wise rate over dozens of statistics
asks for quantiles far beyond what a few hundred windows can show.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import pandas as pd
from scipy.stats import norm

from features.spec import FeatureSpec
from monitoring.drift_report import DriftThresholds, statistics_of_kind, window_statistics
from monitoring.reference_profile import ReferenceProfile

MIN_CALIBRATION_WINDOWS = 30
"""Fewer no-drift windows than this cannot pin a tail; calibration refuses."""
LOG_FLOOR = 1e-9
"""Added before taking logs so that a statistic that is exactly 0 (a constant feature) stays finite."""


def consecutive_windows(frame: pd.DataFrame, window_rows: int, step: int | None = None) -> Iterator[pd.DataFrame]:
    """Windows of `window_rows` consecutive rows, every `step` rows (default: no overlap), of a time-ordered frame."""
    if window_rows < 1:
        raise ValueError(f"window_rows must be positive, got {window_rows}")
    step = step or window_rows
    for start in range(0, len(frame) - window_rows + 1, step):
        yield frame.iloc[start : start + window_rows]


def calibrate_thresholds(
    profile: ReferenceProfile,
    windows: Iterable[pd.DataFrame],
    spec: FeatureSpec,
    false_alarm_rate: float = 0.01,
) -> DriftThresholds:
    """Limits for every statistic of `profile` such that at most `false_alarm_rate` of no-drift windows alarm.

    `windows` are no-drift windows of one size (held-out rows of the training period, cut like production windows
    are cut, e.g. with consecutive_windows); that size becomes the thresholds' window_rows.
    """
    if not 0 < false_alarm_rate < 1:
        raise ValueError(f"false_alarm_rate must be in (0, 1), got {false_alarm_rate}")
    observed: dict[tuple[str, str], list[float]] = {}
    sizes = set()
    count = 0
    for window in windows:
        sizes.add(len(window))
        count += 1
        for name, kind, values in window_statistics(profile, window, spec):
            for statistic in statistics_of_kind(kind):
                observed.setdefault((name, statistic), []).append(values[statistic])
    if count < MIN_CALIBRATION_WINDOWS:
        raise ValueError(f"calibration needs at least {MIN_CALIBRATION_WINDOWS} no-drift windows, got {count}")
    if len(sizes) != 1:
        raise ValueError(f"calibration windows must all have the same number of rows, got sizes {sorted(sizes)}")
    z = float(norm.ppf(1.0 - false_alarm_rate / len(observed)))
    limits: dict[str, dict[str, float]] = {}
    for (name, statistic), values in observed.items():
        logs = np.log(np.asarray(values) + LOG_FLOOR)
        fitted = float(np.exp(logs.mean() + z * logs.std(ddof=1)) - LOG_FLOOR)
        # Never below the worst no-drift window seen: where the fit's tail is too light (a heavy-tailed feature's
        # Wasserstein distance is right-skewed even in logs), the calibration windows themselves say so.
        limits.setdefault(name, {})[statistic] = max(fitted, float(np.max(values)), 0.0)
    return DriftThresholds(
        window_rows=sizes.pop(),
        limits=limits,
        false_alarm_rate=false_alarm_rate,
        calibration_windows=count,
    )
