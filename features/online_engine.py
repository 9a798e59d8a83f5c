"""The online feature engine: stored entity state + one raw event -> feature vector, in pure Python.

It interprets the same declarations (`features/definitions.py`) that the Spark
batch engine compiles, with the same point-in-time rule: at time t only events
(and label arrivals) strictly before t count, including other events at exactly t.
Serving imports this module; it needs neither Spark nor pandas.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

from features.definitions import (
    Categorical,
    IsNew,
    LabelRate,
    NumericFeature,
    Passthrough,
    PriorStat,
    SecondsSinceLast,
    TimePart,
    WindowAggregate,
    history_entities,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_micros(value) -> int:
    """Microseconds since the epoch of an aware datetime / pandas Timestamp, or an int already in microseconds."""
    if isinstance(value, int):
        return value
    if getattr(value, "tzinfo", None) is None:
        raise ValueError(f"timestamp {value!r} has no timezone; event times must be UTC-aware")
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


@dataclass
class EntityState:
    """Everything the engine keeps about one entity (a card, a merchant, ...) to compute its features later."""

    recent: list[list] = field(default_factory=list)
    """[[micros, {column: value}], ...] of events still inside the longest window (and all at the latest time)."""
    count: int = 0
    """Events applied so far."""
    sums: dict[str, float] = field(default_factory=dict)
    """Sum of each moment column over all applied events."""
    squares: dict[str, float] = field(default_factory=dict)
    """Sum of squares of each moment column over all applied events."""
    latest: int | None = None
    """Time of the latest applied event."""
    previous: int | None = None
    """Latest event time strictly before `latest`."""
    first_seen: dict[str, dict[str, int]] = field(default_factory=dict)
    """column -> value -> first time seen."""
    label_events: float = 0.0
    """Events counted by label-rate features."""
    label_positives: float = 0.0
    """Positive labels that have arrived."""
    label_last: int | None = None
    """Time of the latest event or label arrival counted by the label counter."""
    label_at_last: list[float] = field(default_factory=lambda: [0.0, 0.0])
    """[events, positives] counted at exactly `label_last` (excluded from queries at that time)."""

    def to_json(self) -> str:
        return json.dumps(self.__dict__, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> EntityState:
        return cls(**json.loads(text))


@dataclass(frozen=True)
class _EntityNeeds:
    retention_us: int = 0
    window_columns: tuple[str, ...] = ()
    moment_columns: tuple[str, ...] = ()
    novelty_columns: tuple[str, ...] = ()
    label_counter: bool = False


class OnlineFeatureEngine:
    """Computes and maintains features from the declarations; one instance serves every request."""

    def __init__(self, numeric: tuple[NumericFeature, ...], categorical: tuple[Categorical, ...] = ()) -> None:
        self.numeric = numeric
        self.categorical = categorical
        self.entities = history_entities(numeric)
        self.needs = {entity: self._needs(entity) for entity in self.entities}

    def _needs(self, entity: str) -> _EntityNeeds:
        mine = [f for f in self.numeric if getattr(f, "entity", None) == entity]
        windows = [f for f in mine if isinstance(f, WindowAggregate)]
        return _EntityNeeds(
            retention_us=max((f.window_seconds for f in windows), default=0) * 1_000_000,
            window_columns=tuple(sorted({f.column for f in windows if f.column})),
            moment_columns=tuple(sorted({f.column for f in mine if isinstance(f, PriorStat) and f.column})),
            novelty_columns=tuple(sorted({f.column for f in mine if isinstance(f, IsNew)})),
            label_counter=any(isinstance(f, LabelRate) for f in mine),
        )

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.numeric) + tuple(f.name for f in self.categorical)

    # --- reading -------------------------------------------------------------------------------------------

    def compute(self, states: dict[str, EntityState | None], event: dict) -> dict[str, float | str | None]:
        """The feature vector of `event` given each entity's state (keyed by entity column; None = never seen)."""
        t = to_micros(event["event_time"])
        when = datetime.fromtimestamp(t / 1e6, tz=UTC)
        out: dict[str, float | str | None] = {}
        for feature in self.numeric:
            state = states.get(feature.entity) if hasattr(feature, "entity") else None
            state = state or EntityState()
            out[feature.name] = self._value(feature, state, event, t, when)
        for feature in self.categorical:
            out[feature.name] = event.get(feature.column)
        return out

    def _value(self, feature: NumericFeature, state: EntityState, event: dict, t: int, when: datetime) -> float:
        if isinstance(feature, Passthrough):
            return float(event[feature.column])
        if isinstance(feature, TimePart):
            return float(when.hour if feature.part == "hour" else when.weekday())
        if isinstance(feature, WindowAggregate):
            low = t - feature.window_seconds * 1_000_000
            inside = [values for at, values in state.recent if low <= at < t]
            if feature.agg == "count":
                return float(len(inside))
            return float(sum(values[feature.column] for values in inside))
        if isinstance(feature, PriorStat):
            return _prior_stat(feature, state, event, t)
        if isinstance(feature, SecondsSinceLast):
            last = _last_before(state, t)
            return float(feature.cap_seconds) if last is None else min((t - last) / 1e6, float(feature.cap_seconds))
        if isinstance(feature, IsNew):
            first = state.first_seen.get(feature.column, {}).get(str(event[feature.column]))
            return 1.0 if first is None or first >= t else 0.0
        if isinstance(feature, LabelRate):
            events, positives = state.label_events, state.label_positives
            if state.label_last is not None and state.label_last >= t:
                events -= state.label_at_last[0]
                positives -= state.label_at_last[1]
            return (positives + feature.prior_rate * feature.prior_weight) / (events + feature.prior_weight)
        raise TypeError(f"unknown feature kind {type(feature).__name__}")

    # --- writing -------------------------------------------------------------------------------------------

    def apply_event(self, states: dict[str, EntityState], event: dict) -> None:
        """Folds one event into the state of each of its entities (creating states as needed); time order only."""
        t = to_micros(event["event_time"])
        for entity in self.entities:
            needs = self.needs[entity]
            state = states.setdefault(entity, EntityState())
            if state.latest is not None and t < state.latest:
                raise ValueError(f"event at {t} is older than the latest applied for {entity} ({state.latest})")
            if state.latest is None or t > state.latest:
                state.previous, state.latest = state.latest, t
            state.count += 1
            for column in needs.moment_columns:
                value = float(event[column])
                state.sums[column] = state.sums.get(column, 0.0) + value
                state.squares[column] = state.squares.get(column, 0.0) + value * value
            columns = set(needs.window_columns) | set(needs.moment_columns)
            state.recent.append([t, {c: float(event[c]) for c in sorted(columns)}])
            state.recent = [item for item in state.recent if item[0] >= t - needs.retention_us]
            for column in needs.novelty_columns:
                state.first_seen.setdefault(column, {}).setdefault(str(event[column]), t)
            if needs.label_counter:
                _count_label(state, t, 1.0, 0.0)

    def apply_label(self, states: dict[str, EntityState], event: dict, label_time, value: float) -> None:
        """Counts the arrival of a label for `event` (a transaction) at `label_time` in its entities' label rates."""
        t = to_micros(label_time)
        for entity in self.entities:
            if self.needs[entity].label_counter:
                _count_label(states.setdefault(entity, EntityState()), t, 0.0, float(value))


def _count_label(state: EntityState, t: int, events: float, positives: float) -> None:
    if state.label_last is not None and t < state.label_last:
        raise ValueError(f"label counter update at {t} is older than the latest ({state.label_last})")
    if state.label_last is None or t > state.label_last:
        state.label_last, state.label_at_last = t, [0.0, 0.0]
    state.label_events += events
    state.label_positives += positives
    state.label_at_last[0] += events
    state.label_at_last[1] += positives


def _last_before(state: EntityState, t: int) -> int | None:
    if state.latest is not None and state.latest < t:
        return state.latest
    if state.previous is not None and state.previous < t:
        return state.previous
    return None


def _prior_stat(feature: PriorStat, state: EntityState, event: dict, t: int) -> float:
    count = state.count
    total = state.sums.get(feature.column, 0.0) if feature.column else 0.0
    squares = state.squares.get(feature.column, 0.0) if feature.column else 0.0
    for at, values in state.recent:  # events at or after t are not "before t"
        if at >= t:
            count -= 1
            if feature.column:
                total -= values[feature.column]
                squares -= values[feature.column] ** 2
    if feature.stat == "count":
        return float(count)
    mean = total / count if count > 0 else 0.0
    if feature.stat == "mean":
        return mean
    if count < 2:
        return 0.0
    variance = max(0.0, (squares - total * total / count) / (count - 1))
    return (float(event[feature.column]) - mean) / (math.sqrt(variance) + 1.0)


def replay(
    engine: OnlineFeatureEngine, events: list[dict], labels: list[tuple[str, object, float]], id_column: str
) -> tuple[dict[str, dict], dict[str, dict[str, EntityState]]]:
    """Features of every event computed online in time order, and the final states per entity column and key.

    `labels` are (event id, arrival time, value). At equal times every update is applied only after all
    queries at that time would see it excluded anyway, so the order among equal times does not matter.
    """
    by_id = {event[id_column]: event for event in events}
    stream = [(to_micros(e["event_time"]), 1, i, e) for i, e in enumerate(events)]
    stream += [
        (to_micros(at), 0, i, (by_id[key], value, at)) for i, (key, at, value) in enumerate(labels) if key in by_id
    ]
    stream.sort(key=lambda item: (item[0], item[1], item[2]))
    states: dict[str, dict[str, EntityState]] = {entity: {} for entity in engine.entities}
    features: dict[str, dict] = {}
    for _, kind, _, payload in stream:
        if kind == 1:
            own = {entity: states[entity].get(str(payload[entity])) for entity in engine.entities}
            features[payload[id_column]] = engine.compute(own, payload)
            mine = {
                entity: states[entity].setdefault(str(payload[entity]), EntityState()) for entity in engine.entities
            }
            engine.apply_event(mine, payload)
        else:
            event, value, at = payload
            mine = {entity: states[entity].setdefault(str(event[entity]), EntityState()) for entity in engine.entities}
            engine.apply_label(mine, event, at, value)
    return features, states
