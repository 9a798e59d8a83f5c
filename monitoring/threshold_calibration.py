"""Calibrates drift thresholds on no-drift windows so that at most a chosen share of such windows alarm.

Each statistic is computed on every calibration window. Its no-drift distribution is fitted as log-normal (drift
statistics are positive and right-skewed; the log-normal's upper tail is heavier than that of PSI's scaled
chi-square, so the fit errs on the quiet side) and its limit is the upper prediction bound at 1 - rate / m, m being
the number of statistics: the Bonferroni bound keeps the chance that *any* statistic of a no-drift window fires at
or below `rate` (weighted: a rate statistic gets RATE_WEIGHT of a divergence's share). A prediction bound
(Student's t with the independent windows' degrees of freedom, times sqrt(1 + 1/n)) rather than the normal
quantile, because the mean and spread are estimated from a few dozen windows: with 23 windows of 8,000 rows the
normal quantile let 2.3% of held-out windows alarm in bench/monitoring_drift.py. A fitted tail, not the raw
empirical quantile, because a 1% family-wise rate over dozens of statistics asks for quantiles far beyond what a
few hundred windows can show.

The missing and unknown-category shares are counts, not divergences: their limit is the binomial quantile at
the statistic's level for the window's rows and the larger of the reference's and the calibration windows' shares
(at least half a row of the reference, so a column that was never missing tolerates one stray gap but not a run),
or the share plus the same prediction bound on the calibration windows' spread where rows come in bursts and the
share varies more than a binomial count (quasi-binomial), whichever is higher.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import pandas as pd
from scipy.stats import binom, t

from features.spec import FeatureSpec
from monitoring.drift_report import DriftThresholds, reference_missing_fraction, statistics_of_kind, window_statistics
from monitoring.drift_statistics import MISSING_RATE, RATE_STATISTICS
from monitoring.reference_profile import ReferenceProfile

MIN_CALIBRATION_WINDOWS = 30
"""Fewer no-drift windows than this cannot pin a tail; calibration refuses."""
RATE_WEIGHT = 0.1
"""Share of the false-alarm budget a rate statistic (missing or unknown share) gets relative to a divergence
(weighted Bonferroni, weights fixed before looking at any drift). A rate's binomial bound hardly moves with its
budget (a column never missing fires at two gaps in 2,000 rows at 1/20 or 1/200 of 1%), while every divergence
loses power with each test added: with equal weights the sensor needed 4,000 rows for amounts creeping up 1% a day
where the classical tests on every feature needed 2,000 (bench/monitoring_drift.py)."""
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
    sizes: set[int] = set()
    statistics = []
    for window in windows:
        sizes.add(len(window))
        statistics.append(window_statistics(profile, window, spec))
    if len(sizes) > 1:
        raise ValueError(f"calibration windows must all have the same number of rows, got sizes {sorted(sizes)}")
    return calibrate_statistics(profile, statistics, sizes.pop() if sizes else 0, false_alarm_rate)


def calibrate_statistics(
    profile: ReferenceProfile,
    statistics: list[list[tuple[str, str, dict]]],
    window_rows: int,
    false_alarm_rate: float = 0.01,
    independent_windows: int | None = None,
    family: dict[str, tuple[str, ...]] | None = None,
) -> DriftThresholds:
    """calibrate_thresholds on windows' already computed `window_statistics` (each of `window_rows` rows).

    `independent_windows`: how many non-overlapping windows the statistics amount to, when they come from
    overlapping windows (the rows they cover over `window_rows`); default, every window is independent.
    `family`: kind -> statistics to calibrate (default: the sensors', drift_report.SENSOR_FAMILY).
    """
    if not 0 < false_alarm_rate < 1:
        raise ValueError(f"false_alarm_rate must be in (0, 1), got {false_alarm_rate}")
    count = len(statistics)
    if count < MIN_CALIBRATION_WINDOWS:
        raise ValueError(f"calibration needs at least {MIN_CALIBRATION_WINDOWS} no-drift windows, got {count}")
    observed: dict[tuple[str, str], list[float]] = {}
    kinds: dict[str, str] = {}
    for window in statistics:
        for name, kind, values in window:
            kinds[name] = kind
            for statistic in statistics_of_kind(kind, family):
                observed.setdefault((name, statistic), []).append(values[statistic])
    independent = min(count, independent_windows or count)
    if independent < 2:
        raise ValueError(f"calibration needs at least 2 independent windows, got {independent}")
    total_weight = sum(RATE_WEIGHT if statistic in RATE_STATISTICS else 1.0 for _, statistic in observed)
    limits: dict[str, dict[str, float]] = {}
    for (name, statistic), values in observed.items():
        weight = RATE_WEIGHT if statistic in RATE_STATISTICS else 1.0
        level = 1.0 - false_alarm_rate * weight / total_weight
        z = float(t.ppf(level, independent - 1)) * float(np.sqrt(1.0 + 1.0 / independent))
        if statistic in RATE_STATISTICS:
            if statistic == MISSING_RATE:
                reference = reference_missing_fraction(profile, name, kinds[name])
            else:
                reference = profile.categorical[name].unknown_fraction
            share = max(reference, float(np.mean(values)))
            share = min(max(share, 0.5 / profile.rows), 1.0)
            binomial = float(binom.ppf(level, window_rows, share)) / window_rows
            # Rows come in bursts, so a share can spread more across windows than a binomial count does: the
            # calibration windows' own spread bounds it too (quasi-binomial).
            spread = share + z * float(np.std(values, ddof=1))
            limits.setdefault(name, {})[statistic] = max(binomial, spread, float(np.max(values)))
            continue
        logs = np.log(np.asarray(values) + LOG_FLOOR)
        fitted = float(np.exp(logs.mean() + z * logs.std(ddof=1)) - LOG_FLOOR)
        # Never below the worst no-drift window seen: where the fit's tail is too light (a heavy-tailed feature's
        # Wasserstein distance is right-skewed even in logs), the calibration windows themselves say so.
        limits.setdefault(name, {})[statistic] = max(fitted, float(np.max(values)), 0.0)
    return DriftThresholds(
        window_rows=window_rows,
        limits=limits,
        false_alarm_rate=false_alarm_rate,
        calibration_windows=count,
    )
