"""Drift of a window of served features and scores against a reference profile, explained feature by feature.

`evaluate_drift(profile, window, spec, thresholds)` computes every statistic of every feature (and of the score),
compares each with its calibrated threshold and returns a DriftReport that lists them all: an alarm is always
explained by the rows of the report that fired. A window smaller than the calibrated size is "insufficient_data"
and never alarms, because the thresholds only hold for windows of that size.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from features.spec import FeatureSpec
from monitoring.drift_statistics import (
    ANDERSON_DARLING,
    CATEGORICAL_STATISTICS,
    CHI_SQUARE,
    G_TEST,
    JENSEN_SHANNON,
    KOLMOGOROV_SMIRNOV,
    MISSING_RATE,
    NORMAL_SCORE_SHIFT,
    NUMERIC_STATISTICS,
    PSI,
    TAIL_RATE,
    UNKNOWN_RATE,
    WASSERSTEIN,
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
from monitoring.multivariate_drift import JOINT, RECONSTRUCTION_ERROR, reconstruction_error
from monitoring.reference_profile import NumericProfile, ReferenceProfile, check_window_columns, score_values

OK = "ok"
DRIFT = "drift"
INSUFFICIENT_DATA = "insufficient_data"

NUMERIC = "numeric"
CATEGORICAL = "categorical"
SCORE = "score"
MULTIVARIATE = "multivariate"

SENSOR_FAMILY: dict[str, tuple[str, ...]] = {
    NUMERIC: NUMERIC_STATISTICS,
    SCORE: NUMERIC_STATISTICS,
    CATEGORICAL: CATEGORICAL_STATISTICS,
    MULTIVARIATE: (RECONSTRUCTION_ERROR,),
}
"""Kind of report row -> the statistics the sensors judge it by (the detector family; see drift_statistics)."""


@dataclass(frozen=True)
class DriftThresholds:
    """Calibrated limits for one reference profile: a statistic above its limit fires."""

    window_rows: int
    """Rows per window the limits were calibrated for; smaller windows are insufficient data, larger are cut."""
    limits: dict[str, dict[str, float]]
    """Feature (or score column) -> statistic name -> limit."""
    false_alarm_rate: float
    """Share of no-drift windows allowed to alarm that the limits were calibrated for."""
    calibration_windows: int = 0
    """How many no-drift windows the calibration saw (0 for hand-set limits)."""

    def __post_init__(self) -> None:
        if self.window_rows < 1:
            raise ValueError(f"window_rows must be positive, got {self.window_rows}")
        if not 0 < self.false_alarm_rate < 1:
            raise ValueError(f"false_alarm_rate must be in (0, 1), got {self.false_alarm_rate}")

    def limit(self, feature: str, statistic: str) -> float:
        try:
            return self.limits[feature][statistic]
        except KeyError:
            raise KeyError(
                f"no threshold for statistic '{statistic}' of '{feature}'; the thresholds cover {sorted(self.limits)}"
                " (recalibrate them for this profile)"
            ) from None

    def to_json(self) -> str:
        """The thresholds as JSON (saved beside the reference profile)."""
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> DriftThresholds:
        return cls(**json.loads(text))


@dataclass(frozen=True)
class StatisticResult:
    """One statistic of one feature: its value on the window, its limit, and whether it fired."""

    statistic: str
    value: float
    threshold: float
    fired: bool


@dataclass(frozen=True)
class FeatureDrift:
    """Every statistic of one feature (or of the score) on the window."""

    feature: str
    """The feature's name, the score column's, or JOINT for the multivariate statistic."""
    kind: str
    """numeric, categorical, score or multivariate."""
    statistics: tuple[StatisticResult, ...]
    missing_fraction: float
    """Share of the window's rows with no value."""
    reference_missing_fraction: float

    @property
    def fired(self) -> bool:
        return any(s.fired for s in self.statistics)


@dataclass(frozen=True)
class DriftReport:
    """The outcome of one drift evaluation: status, window size and every feature's statistics."""

    status: str
    """ok, drift or insufficient_data."""
    rows: int
    """Rows in the window given."""
    window_rows: int
    """Rows the thresholds need; the newest that many rows were evaluated."""
    features: tuple[FeatureDrift, ...]
    """Every feature (and the score) in FeatureSpec order; empty when there was too little data."""
    spec_hash: str

    @property
    def alarm(self) -> bool:
        return self.status == DRIFT

    @property
    def fired_features(self) -> tuple[str, ...]:
        return tuple(f.feature for f in self.features if f.fired)

    def explain(self) -> str:
        """Human-readable lines: the verdict, then every statistic that fired with its value and limit."""
        if self.status == INSUFFICIENT_DATA:
            return f"insufficient data: {self.rows} rows in the window, {self.window_rows} needed; no drift verdict"
        lines = [f"{self.status}: {len(self.fired_features)} of {len(self.features)} features fired ({self.rows} rows)"]
        for feature in self.features:
            for s in feature.statistics:
                if s.fired:
                    lines.append(
                        f"  {feature.feature} ({feature.kind}) {s.statistic}={s.value:.4g} > {s.threshold:.4g}"
                    )
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """Plain data for Dagster metadata, logs and the metrics exporter."""
        return {**asdict(self), "alarm": self.alarm, "fired_features": list(self.fired_features)}


def _numeric_statistics(values: np.ndarray, profile: NumericProfile) -> dict[str, float]:
    fractions = numeric_bin_fractions(values, np.asarray(profile.bin_edges))
    grid = np.asarray(profile.quantiles)
    missing = float(np.isnan(values).mean()) if len(values) else 0.0
    return {
        KOLMOGOROV_SMIRNOV: kolmogorov_smirnov_distance(values, grid),
        ANDERSON_DARLING: anderson_darling_distance(values, grid),
        NORMAL_SCORE_SHIFT: normal_score_shift(values, grid),
        PSI: population_stability_index(np.asarray(profile.bin_fractions), fractions),
        WASSERSTEIN: scaled_wasserstein(values, grid, profile.scale),
        TAIL_RATE: tail_share(values, grid),
        MISSING_RATE: missing,
        "missing_fraction": missing,
    }


def _numeric_values(frame: pd.DataFrame, name: str) -> np.ndarray:
    try:
        return pd.to_numeric(frame[name], errors="raise").to_numpy(np.float64)
    except (ValueError, TypeError) as error:
        raise ValueError(f"numeric feature '{name}' has non-numeric values: {error}") from error


def window_statistics(
    profile: ReferenceProfile, window: pd.DataFrame, spec: FeatureSpec, exempt: frozenset[str] = frozenset()
) -> list[tuple[str, str, dict]]:
    """(feature, kind, {statistic: value, "missing_fraction": share}) for every feature of the window but `exempt`,
    the score, and the multivariate row (every statistic this package computes, whether the sensors use it or not)."""
    if profile.spec_hash != spec.definition_hash():
        raise ValueError(
            f"the reference profile was built for FeatureSpec {profile.spec_hash}, not {spec.definition_hash()};"
            " use the profile saved with the model version that scored this window"
        )
    score_column = profile.score_column if profile.score is not None else None
    check_window_columns(window, spec, score_column)
    rows: list[tuple[str, str, dict]] = []
    for name in (n for n in spec.numeric if n not in exempt):
        rows.append((name, NUMERIC, _numeric_statistics(_numeric_values(window, name), profile.numeric[name])))
    for name, vocabulary in ((n, v) for n, v in spec.categorical.items() if n not in exempt):
        reference = profile.categorical[name]
        if tuple(vocabulary) != reference.vocabulary:
            raise ValueError(f"categorical feature '{name}': the spec's vocabulary differs from the profile's")
        fractions = category_fractions(window[name].to_numpy(), tuple(vocabulary))
        expected = np.asarray(reference.fractions)
        stats = {
            CHI_SQUARE: pearson_chi_square(expected, fractions, len(window)),
            G_TEST: g_statistic(expected, fractions, len(window)),
            PSI: population_stability_index(expected, fractions),
            JENSEN_SHANNON: jensen_shannon_distance(expected, fractions),
            MISSING_RATE: float(fractions[-1]),
            UNKNOWN_RATE: float(fractions[-2]),
        }
        rows.append((name, CATEGORICAL, {**stats, "missing_fraction": float(fractions[-1])}))
    if score_column is not None:
        values = score_values(_numeric_values(window, score_column))
        rows.append((score_column, SCORE, _numeric_statistics(values, profile.score)))
    if profile.joint is not None:
        # The features the PCA was fitted on: a profile built with `exempt` left those out of it already.
        error = reconstruction_error(window, profile.joint, profile.grids(), profile.vocabularies())
        rows.append((JOINT, MULTIVARIATE, {RECONSTRUCTION_ERROR: error, "missing_fraction": 0.0}))
    return rows


def statistics_of_kind(kind: str, family: dict[str, tuple[str, ...]] | None = None) -> tuple[str, ...]:
    """The statistics a report row of this kind is judged by in `family` (default: the sensors')."""
    return (SENSOR_FAMILY if family is None else family).get(kind, ())


def evaluate_drift(
    profile: ReferenceProfile,
    window: pd.DataFrame,
    spec: FeatureSpec,
    thresholds: DriftThresholds,
    exempt: frozenset[str] = frozenset(),
) -> DriftReport:
    """Compares the newest `thresholds.window_rows` rows of `window` (in time order) with the reference profile.

    `exempt` features are left out: those that move with time by construction (a running count of a card's
    payments grows with the card's age), where a shift says only that time passed.
    """
    rows = len(window)
    if rows < thresholds.window_rows:
        return DriftReport(INSUFFICIENT_DATA, rows, thresholds.window_rows, (), profile.spec_hash)
    newest = window.iloc[rows - thresholds.window_rows :]
    return judge_statistics(profile, window_statistics(profile, newest, spec, exempt), thresholds, rows)


def judge_statistics(
    profile: ReferenceProfile,
    statistics: list[tuple[str, str, dict]],
    thresholds: DriftThresholds,
    rows: int,
    family: dict[str, tuple[str, ...]] | None = None,
) -> DriftReport:
    """The report of one window's `window_statistics` against the limits of `family`'s statistics (default: the
    sensors'); the benchmark reuses computed statistics to compare families."""
    features = []
    for name, kind, values in statistics:
        if not statistics_of_kind(kind, family):
            continue
        results = []
        for statistic in statistics_of_kind(kind, family):
            limit = thresholds.limit(name, statistic)
            value = values[statistic]
            results.append(StatisticResult(statistic, value, limit, bool(value > limit)))
        features.append(
            FeatureDrift(
                name, kind, tuple(results), values["missing_fraction"], reference_missing_fraction(profile, name, kind)
            )
        )
    status = DRIFT if any(f.fired for f in features) else OK
    return DriftReport(status, rows, thresholds.window_rows, tuple(features), profile.spec_hash)


def reference_missing_fraction(profile: ReferenceProfile, name: str, kind: str) -> float:
    """The reference's missing share of one report row (0 for the multivariate row)."""
    if kind == NUMERIC:
        return profile.numeric[name].missing_fraction
    if kind == CATEGORICAL:
        return profile.categorical[name].missing_fraction
    if kind == SCORE:
        return profile.score.missing_fraction
    return 0.0
