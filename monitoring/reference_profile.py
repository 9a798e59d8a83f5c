"""A model version's reference profile: what its training data looked like, as JSON saved beside the model.

Per numeric feature (and the score): a quantile grid (for Wasserstein), quantile-bin edges and shares (for PSI)
and the missing share. Per categorical feature: the share of every vocabulary value, of unknown values and of
missing values. Across features: the PCA that the multivariate statistic reconstructs windows with. Built from a
frame with the FeatureSpec's columns; drift windows are compared against it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from features.spec import FeatureSpec
from monitoring.drift_statistics import category_fractions, numeric_bin_fractions
from monitoring.multivariate_drift import ReconstructionProfile, fit_reconstruction

PROFILE_FORMAT = 4
"""Bumped when the JSON layout or meaning changes; from_json refuses other formats (the drift_reference asset
rebuilds a refused champion's). 2: midpoint quantile grid. 3: scores profiled at SCORE_RESOLUTION. 4: the
multivariate reconstruction profile (with thresholds for the Anderson-Darling / tail / G / missing / unknown family)."""
SCORE_RESOLUTION = 1e-6
"""Scores closer than this to 0 or 1 count as that bound in every drift statistic. A confident model scores its
ordinary rows across many orders of magnitude far below any operating threshold (1e-20 to 1e-8 for the example's
everyday-spend segment), and how far down they reach moves with lifetime features growing and with float rounding
in the serving engine, not with anything a decision depends on: unclipped, the score's lowest deciles alarmed on
traffic whose features had not drifted."""
QUANTILE_POINTS = 500
"""Points of the stored quantile grid: the values at levels (i + 0.5) / QUANTILE_POINTS, each standing for an equal
share of the rows. (Format 1 stored the levels 0%, 1%, ..., 100%: its last point, the maximum, weighed 1% in the
Wasserstein distance, so on a heavy-tailed feature every window sat ~2.5 spreads away from the reference and real
shifts drowned; bench/monitoring_drift.py showed it.)"""
PSI_BINS = 10
"""Quantile bins for PSI before ties merge (decile edges; a binary feature keeps one edge)."""


@dataclass(frozen=True)
class NumericProfile:
    """The reference distribution of one numeric column."""

    quantiles: tuple[float, ...]
    """Values at QUANTILE_POINTS midpoint levels (an equal-weight sample of the distribution), missing values
    excluded."""
    bin_edges: tuple[float, ...]
    """Distinct interior decile edges; bins are right-closed, the last is open above."""
    bin_fractions: tuple[float, ...]
    """Share of rows in each bin, then the missing share (len(bin_edges) + 2 entries)."""
    scale: float
    """Spread (interquartile range, else standard deviation, else 1) that divides the Wasserstein distance."""

    @property
    def missing_fraction(self) -> float:
        return self.bin_fractions[-1]


@dataclass(frozen=True)
class CategoricalProfile:
    """The reference distribution of one categorical column."""

    vocabulary: tuple[str, ...]
    """The FeatureSpec's vocabulary, in order."""
    fractions: tuple[float, ...]
    """Share of each vocabulary value, then unknown values, then missing values."""

    @property
    def missing_fraction(self) -> float:
        return self.fractions[-1]

    @property
    def unknown_fraction(self) -> float:
        return self.fractions[-2]


@dataclass(frozen=True)
class ReferenceProfile:
    """Reference distributions of every feature of a FeatureSpec, and of the model's score if given."""

    spec_hash: str
    """FeatureSpec.definition_hash() of the spec the profile was built with; windows must match it."""
    rows: int
    """Rows the profile was built from."""
    numeric: dict[str, NumericProfile]
    """Numeric feature name -> profile, in FeatureSpec order."""
    categorical: dict[str, CategoricalProfile]
    """Categorical feature name -> profile, in FeatureSpec order."""
    score: NumericProfile | None = None
    """Profile of the model's scores on the reference rows, or None when not scored."""
    score_column: str = "score"
    """Column of a window frame that holds the score."""
    joint: ReconstructionProfile | None = None
    """The features' PCA for the multivariate statistic, or None (fewer than two encoded columns)."""
    format: int = field(default=PROFILE_FORMAT)
    """Layout version of the JSON."""

    def to_json(self) -> str:
        """The profile as JSON (saved as an MLflow artifact beside the model version)."""
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> ReferenceProfile:
        """Reads a profile written by to_json; a different format is an error, not a guess."""
        data = json.loads(text)
        if data.get("format") != PROFILE_FORMAT:
            raise ValueError(f"reference profile format {data.get('format')!r} is not {PROFILE_FORMAT}; rebuild it")
        numeric = {name: _numeric_from_dict(value) for name, value in data["numeric"].items()}
        categorical = {
            name: CategoricalProfile(vocabulary=tuple(value["vocabulary"]), fractions=tuple(value["fractions"]))
            for name, value in data["categorical"].items()
        }
        score = _numeric_from_dict(data["score"]) if data.get("score") else None
        return cls(
            spec_hash=data["spec_hash"],
            rows=data["rows"],
            numeric=numeric,
            categorical=categorical,
            score=score,
            score_column=data["score_column"],
            joint=_joint_from_dict(data["joint"]) if data.get("joint") else None,
        )

    def grids(self) -> dict[str, np.ndarray]:
        """Each numeric feature's quantile grid, in FeatureSpec order (the multivariate encoding's inputs)."""
        return {name: np.asarray(p.quantiles) for name, p in self.numeric.items()}

    def vocabularies(self) -> dict[str, tuple[str, ...]]:
        return {name: p.vocabulary for name, p in self.categorical.items()}


def _joint_from_dict(value: dict) -> ReconstructionProfile:
    return ReconstructionProfile(
        features=tuple(value["features"]),
        columns=tuple(value["columns"]),
        centers=tuple(value["centers"]),
        scales=tuple(value["scales"]),
        components=tuple(tuple(c) for c in value["components"]),
    )


def _numeric_from_dict(value: dict) -> NumericProfile:
    return NumericProfile(
        quantiles=tuple(value["quantiles"]),
        bin_edges=tuple(value["bin_edges"]),
        bin_fractions=tuple(value["bin_fractions"]),
        scale=value["scale"],
    )


def profile_numeric(values) -> NumericProfile:
    """The NumericProfile of one column (NaN is missing); needs at least one present value."""
    values = np.asarray(values, dtype=np.float64)
    present = values[~np.isnan(values)]
    if len(present) == 0:
        raise ValueError("cannot profile a numeric column whose values are all missing")
    quantiles = np.quantile(present, (np.arange(QUANTILE_POINTS) + 0.5) / QUANTILE_POINTS)
    interior = np.quantile(present, np.arange(1, PSI_BINS) / PSI_BINS)
    edges = np.unique(interior)
    q25, q75 = np.quantile(present, [0.25, 0.75])
    scale = float(q75 - q25) or float(np.std(present)) or 1.0
    return NumericProfile(
        quantiles=tuple(float(q) for q in quantiles),
        bin_edges=tuple(float(e) for e in edges),
        bin_fractions=tuple(float(f) for f in numeric_bin_fractions(values, edges)),
        scale=scale,
    )


def score_values(values: np.ndarray) -> np.ndarray:
    """Scores as the drift statistics see them: clipped to [SCORE_RESOLUTION, 1 - SCORE_RESOLUTION] (NaN stays)."""
    return np.clip(np.asarray(values, dtype=np.float64), SCORE_RESOLUTION, 1.0 - SCORE_RESOLUTION)


def check_window_columns(frame: pd.DataFrame, spec: FeatureSpec, score_column: str | None) -> None:
    """Raises naming every feature (and the score) missing from `frame`."""
    wanted = [*spec.features, *([score_column] if score_column else [])]
    absent = [name for name in wanted if name not in frame.columns]
    if absent:
        raise ValueError(f"columns {absent} are missing from the frame; expected {wanted}")


def build_reference_profile(
    frame: pd.DataFrame, spec: FeatureSpec, score_column: str | None = "score", exempt: frozenset[str] = frozenset()
) -> ReferenceProfile:
    """Profiles every feature of `spec` (and `score_column` unless None) over the rows of `frame`; `exempt` features
    (left out of drift verdicts) are profiled too but kept out of the multivariate PCA."""
    check_window_columns(frame, spec, score_column)
    if len(frame) == 0:
        raise ValueError("cannot build a reference profile from an empty frame")
    numeric = {}
    for name in spec.numeric:
        try:
            numeric[name] = profile_numeric(pd.to_numeric(frame[name], errors="raise").to_numpy(np.float64))
        except ValueError as error:
            raise ValueError(f"numeric feature '{name}': {error}") from error
    categorical = {
        name: CategoricalProfile(
            vocabulary=tuple(vocabulary),
            fractions=tuple(float(f) for f in category_fractions(frame[name].to_numpy(), tuple(vocabulary))),
        )
        for name, vocabulary in spec.categorical.items()
    }
    score = None
    if score_column is not None:
        score = profile_numeric(score_values(frame[score_column].to_numpy(np.float64)))
    grids = {name: np.asarray(p.quantiles) for name, p in numeric.items() if name not in exempt}
    vocabularies = {name: p.vocabulary for name, p in categorical.items() if name not in exempt}
    joint = fit_reconstruction(frame, grids, vocabularies)
    return ReferenceProfile(
        spec_hash=spec.definition_hash(),
        rows=len(frame),
        numeric=numeric,
        categorical=categorical,
        score=score,
        score_column=score_column or "score",
        joint=joint,
    )
