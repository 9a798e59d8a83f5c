"""Distribution-shift statistics between a reference profile and a window: PSI, Wasserstein, Jensen-Shannon.

Every function takes plain numpy arrays so it can be tested alone; scipy does the arithmetic
(`rel_entr`, `wasserstein_distance`, `jensenshannon`) rather than hand-rolled formulas.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon
from scipy.special import rel_entr
from scipy.stats import wasserstein_distance

PSI = "psi"
WASSERSTEIN = "wasserstein"
JENSEN_SHANNON = "jensen_shannon"
NUMERIC_STATISTICS = (PSI, WASSERSTEIN)
"""Statistics computed for every numeric feature and for the score."""
CATEGORICAL_STATISTICS = (PSI, JENSEN_SHANNON)
"""Statistics computed for every categorical feature."""

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
