"""Declarative feature kinds: one definition that the Spark batch engine and the online engine both interpret.

A feature is data (its kind, the entity it is keyed by, its window), never code
twice: `features/point_in_time.py` compiles each kind into Spark window
expressions for training sets and `features/online_engine.py` evaluates the same
kind from an entity's stored state at request time. Every kind is point-in-time:
the value at time t uses only events strictly before t, and label-based kinds
use only labels that had arrived strictly before t.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from features.spec import FeatureSpec


@dataclass(frozen=True)
class Passthrough:
    """The raw value of a column of the scored event itself (known at request time)."""

    name: str
    column: str


@dataclass(frozen=True)
class TimePart:
    """A part of the event's UTC timestamp: 'hour' (0-23) or 'day_of_week' (0=Monday..6)."""

    name: str
    part: str

    def __post_init__(self) -> None:
        if self.part not in ("hour", "day_of_week"):
            raise ValueError(f"TimePart '{self.name}': part must be 'hour' or 'day_of_week', not {self.part!r}")


@dataclass(frozen=True)
class WindowAggregate:
    """Count of, or sum of `column` over, the entity's events in [t - window_seconds, t)."""

    name: str
    entity: str
    window_seconds: int
    agg: str
    column: str | None = None

    def __post_init__(self) -> None:
        if self.agg not in ("count", "sum"):
            raise ValueError(f"WindowAggregate '{self.name}': agg must be 'count' or 'sum', not {self.agg!r}")
        if self.agg == "sum" and not self.column:
            raise ValueError(f"WindowAggregate '{self.name}': a sum needs a column")
        if self.window_seconds <= 0:
            raise ValueError(f"WindowAggregate '{self.name}': window_seconds must be positive")


@dataclass(frozen=True)
class PriorStat:
    """A statistic of the entity's whole history before t: 'count', 'mean' of column, or 'zscore' of this value.

    mean is 0 without history; zscore is (value - mean) / (std + 1) and 0 with fewer than two prior events.
    """

    name: str
    entity: str
    stat: str
    column: str | None = None

    def __post_init__(self) -> None:
        if self.stat not in ("count", "mean", "zscore"):
            raise ValueError(f"PriorStat '{self.name}': stat must be count, mean or zscore, not {self.stat!r}")
        if self.stat != "count" and not self.column:
            raise ValueError(f"PriorStat '{self.name}': stat {self.stat!r} needs a column")


@dataclass(frozen=True)
class SecondsSinceLast:
    """Seconds since the entity's latest event before t, capped at `cap_seconds` (also the value without history)."""

    name: str
    entity: str
    cap_seconds: int


@dataclass(frozen=True)
class IsNew:
    """1.0 when the entity has never had an event with this event's `column` value before t, else 0.0."""

    name: str
    entity: str
    column: str


@dataclass(frozen=True)
class LabelRate:
    """Smoothed positive-label rate of the entity's events, counting only labels that arrived before t.

    (positives + prior_rate * prior_weight) / (events + prior_weight): events and positives both before t,
    so a chargeback that arrives after t cannot leak into the feature at t.
    """

    name: str
    entity: str
    prior_rate: float
    prior_weight: float


@dataclass(frozen=True)
class Categorical:
    """A categorical model input taken from a column, with its vocabulary (unknown values encode to 0)."""

    name: str
    column: str
    vocabulary: tuple[str, ...]


NumericFeature = Passthrough | TimePart | WindowAggregate | PriorStat | SecondsSinceLast | IsNew | LabelRate


def history_entities(features: tuple[NumericFeature, ...]) -> tuple[str, ...]:
    """The entity key columns that need stored state, in first-use order."""
    entities: list[str] = []
    for feature in features:
        entity = getattr(feature, "entity", None)
        if entity and entity not in entities:
            entities.append(entity)
    return tuple(entities)


def spec_of(
    entity_id: str,
    timestamp: str,
    label: str,
    numeric: Sequence[NumericFeature],
    categorical: Sequence[Categorical] = (),
) -> FeatureSpec:
    """The FeatureSpec that these definitions compute: their names in order, each categorical with its vocabulary."""
    return FeatureSpec(
        entity_id=entity_id,
        timestamp=timestamp,
        label=label,
        numeric=tuple(feature.name for feature in numeric),
        categorical={feature.name: feature.vocabulary for feature in categorical},
    )
