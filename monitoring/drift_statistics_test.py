"""Unit tests of the drift statistics on small hand-checkable arrays."""

import numpy as np
import pytest
from scipy.stats import chisquare, ks_2samp

from monitoring.drift_statistics import (
    anderson_darling_distance,
    category_fractions,
    g_statistic,
    jensen_shannon_distance,
    kolmogorov_smirnov_distance,
    normal_score_shift,
    numeric_bin_fractions,
    pearson_chi_square,
    population_stability_index,
    scaled_wasserstein,
    tail_share,
)


def test_numeric_bins_are_right_closed_with_a_missing_bin():
    fractions = numeric_bin_fractions(np.array([0.0, 1.0, 1.5, 2.0, 9.0, np.nan]), np.array([1.0, 2.0]))
    assert fractions.tolist() == pytest.approx([2 / 6, 2 / 6, 1 / 6, 1 / 6])


def test_category_fractions_separate_unknown_and_missing():
    fractions = category_fractions(["a", "b", "a", "zz", None, float("nan")], ("a", "b", "c"))
    assert fractions.tolist() == pytest.approx([2 / 6, 1 / 6, 0.0, 1 / 6, 2 / 6])


def test_psi_is_zero_for_equal_distributions_and_symmetric():
    p, q = np.array([0.2, 0.3, 0.5]), np.array([0.3, 0.3, 0.4])
    assert population_stability_index(p, p) == pytest.approx(0.0)
    expected = sum((b - a) * np.log(b / a) for a, b in zip(p, q, strict=True))
    assert population_stability_index(p, q) == pytest.approx(expected)
    assert population_stability_index(q, p) == pytest.approx(expected)


def test_psi_stays_finite_when_a_bin_empties():
    assert np.isfinite(population_stability_index(np.array([0.5, 0.5, 0.0]), np.array([0.0, 0.5, 0.5])))


def test_scaled_wasserstein_of_a_shift_is_shift_over_scale():
    grid = np.linspace(0.0, 1.0, 101)
    assert scaled_wasserstein(grid + 0.3, grid, scale=0.5, trim=0.0) == pytest.approx(0.6)
    assert scaled_wasserstein(np.array([np.nan]), grid, scale=1.0) == 0.0


def test_scaled_wasserstein_winsorises_at_the_reference_tails():
    grid = np.linspace(0.0, 1.0, 201)
    inside = np.linspace(0.1, 0.9, 1000)
    # a shift within the cuts counts whole; everything beyond the top cut counts as sitting on it
    assert scaled_wasserstein(inside + 0.05, grid, scale=1.0) == pytest.approx(
        scaled_wasserstein(inside + 0.05, grid, scale=1.0, trim=0.0) - 0.0, abs=0.01
    )
    outlier = np.append(inside, 1e6)
    assert scaled_wasserstein(outlier, grid, scale=1.0) - scaled_wasserstein(inside, grid, scale=1.0) < 0.01
    assert scaled_wasserstein(outlier, grid, scale=1.0, trim=0.0) > 900, "untrimmed, one value moves the window"


def test_jensen_shannon_is_bounded_by_one():
    assert jensen_shannon_distance(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(1.0)
    assert jensen_shannon_distance(np.array([0.5, 0.5]), np.array([0.5, 0.5])) == pytest.approx(0.0)


def test_ks_distance_to_the_grid_matches_scipy_against_the_grid_as_a_sample():
    rng = np.random.default_rng(0)
    grid = np.quantile(rng.normal(0, 1, 50_000), (np.arange(500) + 0.5) / 500)
    window = rng.normal(0.3, 1, 2000)
    assert kolmogorov_smirnov_distance(window, grid) == pytest.approx(ks_2samp(window, grid).statistic, abs=2 / 500)
    assert kolmogorov_smirnov_distance(np.array([np.nan]), grid) == 0.0


def test_anderson_darling_weighs_the_tails():
    grid = (np.arange(500) + 0.5) / 500  # a uniform reference
    body = np.concatenate([np.full(20, 0.5), np.linspace(0.0005, 0.9995, 980)])  # 2% moved into the middle
    tail = np.concatenate([np.full(20, -1.0), np.linspace(0.0005, 0.9995, 980)])  # 2% moved below everything
    assert kolmogorov_smirnov_distance(tail, grid) == pytest.approx(kolmogorov_smirnov_distance(body, grid), abs=0.01)
    assert anderson_darling_distance(tail, grid) > 5 * anderson_darling_distance(body, grid)
    assert anderson_darling_distance(grid, grid) == pytest.approx(0.0, abs=1e-6)


def test_anderson_darling_of_a_discrete_feature_is_zero_when_its_shares_hold():
    grid = np.sort(np.repeat([0.0, 1.0], [450, 50]))
    same = np.repeat([0.0, 1.0], [900, 100])
    assert anderson_darling_distance(same, grid) == pytest.approx(0.0, abs=1e-9)
    assert anderson_darling_distance(np.repeat([0.0, 1.0], [800, 200]), grid) > 0.01


def test_chi_square_and_g_match_scipy_and_floor_empty_cells():
    expected, observed = np.array([0.5, 0.3, 0.2]), np.array([0.45, 0.35, 0.2])
    reference = chisquare(observed * 1000, expected * 1000)
    assert pearson_chi_square(expected, observed, 1000) == pytest.approx(reference.statistic)
    g = 2 * sum(o * np.log(o / e) for o, e in zip(observed * 1000, expected * 1000, strict=True))
    assert g_statistic(expected, observed, 1000) == pytest.approx(g)
    unseen = pearson_chi_square(np.array([1.0, 0.0]), np.array([0.99, 0.01]), 1000)
    assert np.isfinite(unseen) and unseen > 50, "a value the reference never had counts heavily, not infinitely"


def test_the_normal_score_shift_sees_a_location_shift_whatever_the_shape():
    rng = np.random.default_rng(1)
    reference = rng.lognormal(3.0, 1.0, 100_000)
    grid = np.quantile(reference, (np.arange(500) + 0.5) / 500)
    assert normal_score_shift(rng.lognormal(3.0, 1.0, 4000), grid) < 0.05
    inflated = rng.lognormal(3.0, 1.0, 4000) * 1.1  # +10%: log-amounts move by 0.095 of their spread
    assert normal_score_shift(inflated, grid) == pytest.approx(0.095, abs=0.04)
    assert normal_score_shift(np.array([np.nan]), grid) == 0.0


def test_the_tail_share_counts_values_beyond_the_reference_extremes():
    grid = (np.arange(500) + 0.5) / 500  # uniform on (0, 1): 0.5% and 99.5% quantiles ~0.005 and ~0.995
    inside = np.linspace(0.01, 0.99, 980)
    assert tail_share(inside, grid) == 0.0
    assert tail_share(np.concatenate([inside, np.full(20, 100.0)]), grid) == pytest.approx(0.02)
    assert tail_share(np.array([np.nan, np.nan]), grid) == 0.0
