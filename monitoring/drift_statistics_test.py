"""Unit tests of the drift statistics on small hand-checkable arrays."""

import numpy as np
import pytest

from monitoring.drift_statistics import (
    category_fractions,
    jensen_shannon_distance,
    numeric_bin_fractions,
    population_stability_index,
    scaled_wasserstein,
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
