"""Multivariate drift: how badly a PCA of the reference reconstructs the window's rows (NannyML's data reconstruction).

A shift in how features move together (two features' marginals unchanged, their relation changed) moves no
univariate statistic; it moves rows off the reference's principal subspace. Each row is encoded on the reference's
own terms: a numeric feature by its normal score through the reference quantile grid (mid-rank, so heavy tails and
ties behave), a categorical one as one-hot columns over the vocabulary (unknown or missing: all zero), all
standardised by the reference; the PCA keeps the components that explain `EXPLAINED_VARIANCE` of the reference's
variance, and the window's statistic is its rows' mean reconstruction distance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from monitoring.drift_statistics import normal_scores

EXPLAINED_VARIANCE = 0.65
"""Share of the reference's variance the kept components explain (NannyML's default)."""
MAX_FIT_ROWS = 50_000
"""Rows of the reference the PCA is fitted on (evenly spaced beyond that; the fit is a d x d eigenproblem)."""
RECONSTRUCTION_ERROR = "reconstruction_error"
"""The statistic's name in reports, thresholds and metrics."""
JOINT = "(joint)"
"""The report's name for the multivariate row; parentheses keep it from colliding with a feature's name."""


@dataclass(frozen=True)
class ReconstructionProfile:
    """The reference's PCA: encoding columns, their standardisation and the kept components."""

    features: tuple[str, ...]
    """Features encoded (numeric, then categorical); features exempt from drift are left out."""
    columns: tuple[str, ...]
    """Encoded columns: numeric features by name, then `feature=value` one-hots."""
    centers: tuple[float, ...]
    scales: tuple[float, ...]
    components: tuple[tuple[float, ...], ...]
    """Kept principal directions (rows), in the standardised encoded space."""


def encode(frame: pd.DataFrame, grids: dict[str, np.ndarray], vocabularies: dict[str, tuple[str, ...]]) -> np.ndarray:
    """Rows of `frame` as the encoded matrix (numeric normal scores, then one-hot categories), unstandardised."""
    parts = [
        # a missing value scores 0, the reference's median
        np.nan_to_num(normal_scores(pd.to_numeric(frame[name]).to_numpy(np.float64), grid))[:, None]
        for name, grid in grids.items()
    ]
    for name, vocabulary in vocabularies.items():
        codes = pd.Categorical(frame[name], categories=list(vocabulary)).codes
        parts.append((codes[:, None] == np.arange(len(vocabulary))[None, :]).astype(np.float64))
    return np.hstack(parts) if parts else np.zeros((len(frame), 0))


def encoded_columns(grids: dict[str, np.ndarray], vocabularies: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    return (*grids, *(f"{name}={value}" for name, vocabulary in vocabularies.items() for value in vocabulary))


def fit_reconstruction(
    frame: pd.DataFrame, grids: dict[str, np.ndarray], vocabularies: dict[str, tuple[str, ...]]
) -> ReconstructionProfile | None:
    """The reference's PCA, or None with fewer than two encoded columns (nothing to relate)."""
    columns = encoded_columns(grids, vocabularies)
    if len(columns) < 2:
        return None
    rows = frame if len(frame) <= MAX_FIT_ROWS else frame.iloc[np.linspace(0, len(frame) - 1, MAX_FIT_ROWS).astype(int)]
    matrix = encode(rows, grids, vocabularies)
    centers = matrix.mean(axis=0)
    scales = matrix.std(axis=0)
    scales = np.where(scales > 1e-12, scales, 1.0)  # a constant column stays constant: 0 after centring
    standardised = (matrix - centers) / scales
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov(standardised, rowvar=False))
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues, eigenvectors = eigenvalues[order], eigenvectors[:, order]
    explained = np.cumsum(np.maximum(eigenvalues, 0.0)) / max(float(np.maximum(eigenvalues, 0.0).sum()), 1e-12)
    kept = min(int(np.searchsorted(explained, EXPLAINED_VARIANCE) + 1), len(columns) - 1)
    return ReconstructionProfile(
        features=(*grids, *vocabularies),
        columns=columns,
        centers=tuple(float(c) for c in centers),
        scales=tuple(float(s) for s in scales),
        components=tuple(tuple(float(v) for v in eigenvectors[:, i]) for i in range(kept)),
    )


def reconstruction_error(
    frame: pd.DataFrame,
    profile: ReconstructionProfile,
    grids: dict[str, np.ndarray],
    vocabularies: dict[str, tuple[str, ...]],
) -> float:
    """Mean Euclidean distance between the window's standardised rows and their projection on the kept components.

    `grids` and `vocabularies` may hold more features than the profile encodes; the others are left out.
    """
    grids = {name: grid for name, grid in grids.items() if name in profile.features}
    vocabularies = {name: v for name, v in vocabularies.items() if name in profile.features}
    if encoded_columns(grids, vocabularies) != profile.columns:
        raise ValueError(
            f"the window's encoded columns differ from the reconstruction profile's {list(profile.columns)};"
            " rebuild the reference"
        )
    if len(frame) == 0:
        return 0.0
    standardised = (encode(frame, grids, vocabularies) - np.asarray(profile.centers)) / np.asarray(profile.scales)
    components = np.asarray(profile.components)
    residual = standardised - (standardised @ components.T) @ components
    return float(np.mean(np.sqrt(np.sum(residual**2, axis=1))))
