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
    CATEGORICAL_STATISTICS,
    JENSEN_SHANNON,
    NUMERIC_STATISTICS,
    PSI,
    WASSERSTEIN,
    category_fractions,
    jensen_shannon_distance,
    numeric_bin_fractions,
    population_stability_index,
    scaled_wasserstein,
)
from monitoring.reference_profile import NumericProfile, ReferenceProfile, check_window_columns, score_values

OK = "ok"
DRIFT = "drift"
INSUFFICIENT_DATA = "insufficient_data"

NUMERIC = "numeric"
CATEGORICAL = "categorical"
SCORE = "score"


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
    kind: str
    """numeric, categorical or score."""
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
    return {
        PSI: population_stability_index(np.asarray(profile.bin_fractions), fractions),
        WASSERSTEIN: scaled_wasserstein(values, np.asarray(profile.quantiles), profile.scale),
    }


def _numeric_values(frame: pd.DataFrame, name: str) -> np.ndarray:
    try:
        return pd.to_numeric(frame[name], errors="raise").to_numpy(np.float64)
    except (ValueError, TypeError) as error:
        raise ValueError(f"numeric feature '{name}' has non-numeric values: {error}") from error


def window_statistics(
    profile: ReferenceProfile, window: pd.DataFrame, spec: FeatureSpec, exempt: frozenset[str] = frozenset()
) -> list[tuple[str, str, dict]]:
    """(feature, kind, {statistic: value, "missing_fraction": share}) for every feature of the window but `exempt`."""
    if profile.spec_hash != spec.definition_hash():
        raise ValueError(
            f"the reference profile was built for FeatureSpec {profile.spec_hash}, not {spec.definition_hash()};"
            " use the profile saved with the model version that scored this window"
        )
    score_column = profile.score_column if profile.score is not None else None
    check_window_columns(window, spec, score_column)
    rows: list[tuple[str, str, dict]] = []
    for name in (n for n in spec.numeric if n not in exempt):
        values = _numeric_values(window, name)
        stats = _numeric_statistics(values, profile.numeric[name])
        rows.append((name, NUMERIC, {**stats, "missing_fraction": float(np.isnan(values).mean())}))
    for name, vocabulary in ((n, v) for n, v in spec.categorical.items() if n not in exempt):
        reference = profile.categorical[name]
        if tuple(vocabulary) != reference.vocabulary:
            raise ValueError(f"categorical feature '{name}': the spec's vocabulary differs from the profile's")
        fractions = category_fractions(window[name].to_numpy(), tuple(vocabulary))
        expected = np.asarray(reference.fractions)
        stats = {
            PSI: population_stability_index(expected, fractions),
            JENSEN_SHANNON: jensen_shannon_distance(expected, fractions),
        }
        rows.append((name, CATEGORICAL, {**stats, "missing_fraction": float(fractions[-1])}))
    if score_column is not None:
        values = score_values(_numeric_values(window, score_column))
        stats = _numeric_statistics(values, profile.score)
        rows.append((score_column, SCORE, {**stats, "missing_fraction": float(np.isnan(values).mean())}))
    return rows


def statistics_of_kind(kind: str) -> tuple[str, ...]:
    return CATEGORICAL_STATISTICS if kind == CATEGORICAL else NUMERIC_STATISTICS


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
    features = []
    for name, kind, values in window_statistics(profile, newest, spec, exempt):
        reference = _reference_of(profile, name, kind)
        results = []
        for statistic in statistics_of_kind(kind):
            limit = thresholds.limit(name, statistic)
            value = values[statistic]
            results.append(StatisticResult(statistic, value, limit, bool(value > limit)))
        features.append(
            FeatureDrift(name, kind, tuple(results), values["missing_fraction"], reference.missing_fraction)
        )
    status = DRIFT if any(f.fired for f in features) else OK
    return DriftReport(status, rows, thresholds.window_rows, tuple(features), profile.spec_hash)


def _reference_of(profile: ReferenceProfile, name: str, kind: str):
    if kind == NUMERIC:
        return profile.numeric[name]
    if kind == CATEGORICAL:
        return profile.categorical[name]
    return profile.score
