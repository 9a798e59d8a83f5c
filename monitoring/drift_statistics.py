"""Distribution-shift statistics between a reference profile and a window.

Numeric columns: Kolmogorov-Smirnov and Anderson-Darling distances to the reference's quantile grid, PSI on decile
bins, a scaled Wasserstein distance. Categorical columns: Pearson's chi-square and the G statistic over the
vocabulary (unknown and missing values each a cell of their own), PSI, Jensen-Shannon. Every column: the share of
missing values. Which of them the sensors use is `NUMERIC_STATISTICS` / `CATEGORICAL_STATISTICS`, chosen by their
measured power (docs/bench/monitoring.md); the others stay here for the benchmark and for comparison.

Every function takes plain numpy arrays so it can be tested alone; scipy does the arithmetic
(`rel_entr`, `wasserstein_distance`, `jensenshannon`) rather than hand-rolled formulas.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon
from scipy.special import rel_entr
from scipy.stats import norm, wasserstein_distance

PSI = "psi"
WASSERSTEIN = "wasserstein"
JENSEN_SHANNON = "jensen_shannon"
KOLMOGOROV_SMIRNOV = "ks"
ANDERSON_DARLING = "anderson_darling"
CHI_SQUARE = "chi_square"
G_TEST = "g_test"
MISSING_RATE = "missing_rate"
UNKNOWN_RATE = "unknown_rate"
NORMAL_SCORE_SHIFT = "normal_score_shift"
TAIL_RATE = "tail_rate"
RATE_STATISTICS = (MISSING_RATE, UNKNOWN_RATE)
"""Shares of rows calibrated as counts (a binomial bound) rather than with a fitted tail. The tail share is not one
of them: values beyond the reference's extremes come in bursts (card testing: many tiny amounts at once), so its
no-drift spread is right-skewed and a count's bound let 2-3% of held-out windows alarm."""
NUMERIC_STATISTICS = (ANDERSON_DARLING, TAIL_RATE, MISSING_RATE)
"""Statistics the sensors judge every numeric feature and the score by, chosen by measured power
(docs/bench/monitoring.md): Anderson-Darling, as strong as KS on a shifted body and stronger toward the tails; the
share beyond the reference's extremes, which catches a small share of values moving far out (amounts in cents) in
fewer rows than Wasserstein and without its heavy no-drift tail (Wasserstein on the score and the hour of day made
1.3-1.7% of held-out windows of 250-500 rows alarm); the missing share for quality breaks. KS, PSI, Wasserstein and
the normal-score shift added no detection on top, and each statistic added costs the others power (the family-wise
bound divides the false-alarm rate)."""
CATEGORICAL_STATISTICS = (G_TEST, MISSING_RATE, UNKNOWN_RATE)
"""Statistics the sensors judge every categorical feature by: the G statistic over the vocabulary, unknown and
missing cells, and the missing and unknown shares on their own (one cell's change, tested alone as a count, needs
fewer rows: 2% null countries at 250 rows against chi-square's 1,000). G rather than Pearson's chi-square although
chi-square alone catches renamed categories in fewer rows (its floored empty cells make an unseen value count
heavily): the unknown share now does that, and chi-square's (o - e)^2 / e explodes on a burst in a rare category
(card testing from one risky country: 22,411 against a limit of 3,001 on a segment model's normal traffic in the
main job), where G grows as o * ln(o / e). Both needed the same rows within the family in the benchmark."""
ALL_NUMERIC_STATISTICS = (
    KOLMOGOROV_SMIRNOV,
    ANDERSON_DARLING,
    NORMAL_SCORE_SHIFT,
    PSI,
    WASSERSTEIN,
    TAIL_RATE,
    MISSING_RATE,
)
"""Every numeric statistic this module computes (the benchmark measures each)."""
ALL_CATEGORICAL_STATISTICS = (CHI_SQUARE, G_TEST, PSI, JENSEN_SHANNON, MISSING_RATE, UNKNOWN_RATE)
"""Every categorical statistic this module computes."""

FRACTION_FLOOR = 1e-4
"""Empty bins count as this fraction in PSI, which is infinite otherwise (a common convention)."""


def numeric_bin_fractions(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Share of `values` in each right-closed bin (-inf, e0], (e0, e1], ..., (e_last, inf), then the missing share.

    NaN counts as missing; the result has len(edges) + 2 entries and sums to 1 (all zeros for an empty input).
    """
    values = np.asarray(values, dtype=np.float64)
    missing = np.isnan(values)
    index = np.searchsorted(np.asarray(edges, dtype=np.float64), values[~missing], side="left")
    counts = np.bincount(index, minlength=len(edges) + 1).astype(np.float64)
    counts = np.append(counts, missing.sum())
    return counts / max(len(values), 1)


def category_fractions(values, vocabulary: tuple[str, ...]) -> np.ndarray:
    """Share of each vocabulary value, then of values outside the vocabulary, then of missing values (None/NaN)."""
    series = pd.Series(values, dtype=object)
    missing = series.isna().to_numpy()
    codes = pd.Categorical(series, categories=list(vocabulary)).codes
    index = np.where(codes >= 0, codes, len(vocabulary))[~missing]
    counts = np.bincount(index, minlength=len(vocabulary) + 1).astype(np.float64)
    counts = np.append(counts, missing.sum())
    return counts / max(len(series), 1)


def population_stability_index(expected: np.ndarray, observed: np.ndarray) -> float:
    """PSI = sum((o - e) * ln(o / e)) over bins, i.e. KL(o||e) + KL(e||o), with empty bins floored."""
    expected = np.maximum(np.asarray(expected, dtype=np.float64), FRACTION_FLOOR)
    observed = np.maximum(np.asarray(observed, dtype=np.float64), FRACTION_FLOOR)
    expected, observed = expected / expected.sum(), observed / observed.sum()
    return float(np.sum(rel_entr(observed, expected) + rel_entr(expected, observed)))


WASSERSTEIN_TRIM = 0.005
"""Share of the reference cut off each tail before the Wasserstein distance: values beyond are set to the cut."""


def scaled_wasserstein(
    values: np.ndarray, reference_quantiles: np.ndarray, scale: float, trim: float = WASSERSTEIN_TRIM
) -> float:
    """Earth mover's distance between the window's values and the reference quantile grid, divided by `scale`.

    The reference is kept as a midpoint quantile grid (each point an equal share of the rows), which is its
    empirical distribution up to the grid's resolution, tails weighted as in the data; dividing by the reference
    spread makes one threshold meaningful for features of any unit. Both sides are winsorised at the reference's
    `trim` and 1 - `trim` quantiles: on a heavy-tailed feature one huge value would otherwise move a whole window's
    distance (a 20,000 payment in 2,000 rows is 10 units of mean), while a share of values moving beyond the cut
    (amounts in cents) still moves it by that share times the cut's distance.
    Missing values are ignored here (the PSI's missing bin sees them); an all-missing window scores 0.
    """
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return 0.0
    grid = np.asarray(reference_quantiles, dtype=np.float64)
    if trim > 0:
        low, high = np.quantile(grid, [trim, 1.0 - trim])
        values, grid = np.clip(values, low, high), np.clip(grid, low, high)
    return float(wasserstein_distance(values, grid) / scale)


def jensen_shannon_distance(expected: np.ndarray, observed: np.ndarray) -> float:
    """Jensen-Shannon distance (base 2, so in [0, 1]) between two category distributions."""
    expected = np.asarray(expected, dtype=np.float64)
    observed = np.asarray(observed, dtype=np.float64)
    if observed.sum() == 0:
        return 0.0
    return float(jensenshannon(expected, observed, base=2))


def grid_cdfs(values: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(window CDF, reference CDF) at each point of the reference's midpoint quantile grid, missing values ignored.

    Both are mid-CDFs (the share below a point plus half the share at it), so a tied block of a discrete feature
    gets one value on each side and a window equal to the reference scores 0; the reference's lies within (0, 1).
    None for an all-missing window.
    """
    grid = np.asarray(grid, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    values = np.sort(values[~np.isnan(values)])
    if len(values) == 0:
        return None
    return mid_cdf(values, grid), mid_cdf(grid, grid)


def mid_cdf(sorted_values: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Share of `sorted_values` below each point plus half the share at it (ties count half)."""
    below = np.searchsorted(sorted_values, points, side="left")
    at_or_below = np.searchsorted(sorted_values, points, side="right")
    return (below + at_or_below) / (2.0 * len(sorted_values))


def kolmogorov_smirnov_distance(values: np.ndarray, grid: np.ndarray) -> float:
    """Largest gap between the window's CDF and the reference's, at the reference grid (0 for no present value)."""
    cdfs = grid_cdfs(values, grid)
    if cdfs is None:
        return 0.0
    window, reference = cdfs
    return float(np.max(np.abs(window - reference)))


def anderson_darling_distance(values: np.ndarray, grid: np.ndarray) -> float:
    """Anderson-Darling's tail-weighted distance: the mean over the reference grid of (F_w - F)^2 / (F (1 - F)).

    Times the window's rows this is the one-sample A^2 statistic against the reference distribution; kept per row
    here (a calibrated limit is per window size anyway). Its weight grows toward both tails, where KS sees little:
    2% of values moving below the reference's smallest percentile add 0.02^2 / 0.001 at that end.
    """
    cdfs = grid_cdfs(values, grid)
    if cdfs is None:
        return 0.0
    window, reference = cdfs
    return float(np.mean((window - reference) ** 2 / (reference * (1.0 - reference))))


def normal_scores(values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Each value's mid-rank in the reference grid (clipped half a grid step from 0 and 1) as a standard normal
    score; NaN for a missing value."""
    values = np.asarray(values, dtype=np.float64)
    grid = np.asarray(grid, dtype=np.float64)
    step = 0.5 / len(grid)
    return np.where(np.isnan(values), np.nan, norm.ppf(np.clip(mid_cdf(grid, values), step, 1.0 - step)))


def normal_score_shift(values: np.ndarray, grid: np.ndarray) -> float:
    """|mean normal score| of the window's present values, each scored by its mid-rank in the reference grid (the van
    der Waerden statistic, per row): the most powerful rank test for a shift of location, which is what inflation
    is; about 0 when nothing moved, whatever the feature's shape. 0 for no present value."""
    scores = normal_scores(values, grid)
    scores = scores[~np.isnan(scores)]
    return float(abs(np.mean(scores))) if len(scores) else 0.0


TAIL = 0.005
"""The reference quantiles beyond which a value counts toward the tail share (each side)."""


def tail_share(values: np.ndarray, grid: np.ndarray, tail: float = TAIL) -> float:
    """Share of the window's present values strictly beyond the reference's `tail` and 1 - `tail` quantiles: about
    2 * `tail` when nothing moved; a share of values moving far out (amounts in cents) raises it by that share."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return 0.0
    low, high = np.quantile(np.asarray(grid, dtype=np.float64), [tail, 1.0 - tail])
    return float(np.mean((values < low) | (values > high)))


def _counts(expected: np.ndarray, observed: np.ndarray, rows: int) -> tuple[np.ndarray, np.ndarray]:
    expected = np.maximum(np.asarray(expected, dtype=np.float64), FRACTION_FLOOR)
    return expected / expected.sum() * rows, np.asarray(observed, dtype=np.float64) * rows


def pearson_chi_square(expected: np.ndarray, observed: np.ndarray, rows: int) -> float:
    """Pearson's chi-square statistic of `rows` observed shares against expected ones (empty expected cells floored,
    so a category the reference never had counts heavily rather than infinitely)."""
    expected_counts, observed_counts = _counts(expected, observed, rows)
    return float(np.sum((observed_counts - expected_counts) ** 2 / expected_counts))


def g_statistic(expected: np.ndarray, observed: np.ndarray, rows: int) -> float:
    """The likelihood-ratio (G) statistic, 2 * sum(o * ln(o / e)) over counts, of `rows` observed shares."""
    expected_counts, observed_counts = _counts(expected, observed, rows)
    return float(2.0 * np.sum(rel_entr(observed_counts, expected_counts)))
