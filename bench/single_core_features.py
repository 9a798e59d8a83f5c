"""The Spark feature pipeline's baseline: the same point-in-time features with pandas + numpy on one core.

Interprets the declarative definitions (features/definitions.py) with sorted arrays: each entity's events
are sorted by a composite key (entity code, time), and "strictly before t" is a binary search for the first row at
t, so events at the same instant never see each other; windowed sums are differences of running sums. Used only
by bench/data_features.py (which also checks it agrees with Spark).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

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
)
from features.spec import FeatureSpec


def _codes(column: pa.ChunkedArray) -> np.ndarray:
    encoded = pc.dictionary_encode(column).combine_chunks() if not pa.types.is_dictionary(column.type) else None
    if encoded is None:
        unified = column.unify_dictionaries()
        return np.concatenate([chunk.indices.to_numpy(zero_copy_only=False) for chunk in unified.chunks]).astype(
            np.int64
        )
    return encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)


class _Sorted:
    """Rows sorted by (key code, time, position) with the searches every feature kind needs."""

    def __init__(self, codes: np.ndarray, t: np.ndarray, t0: int, span: int) -> None:
        if len(codes) and int(codes.max()) + 1 > (2**62) // span:
            raise OverflowError(f"{int(codes.max()) + 1} keys x a {span} us time span do not fit a 64-bit sort key")
        self.order = np.lexsort((np.arange(len(t)), t, codes))
        self.t0, self.span = t0, span  # every time (labels' too) lies in [t0, t0 + span)
        self.key = codes[self.order] * span + (t[self.order] - self.t0)
        starts = np.flatnonzero(np.r_[True, codes[self.order][1:] != codes[self.order][:-1]]) if len(t) else []
        group_start = np.zeros(len(t), np.int64)
        group_start[starts] = starts
        self.group_start = np.maximum.accumulate(group_start) if len(t) else group_start
        self.first_at_t = np.searchsorted(self.key, self.key, side="left")  # first row of the same key at time t

    def before(self) -> np.ndarray:
        """Rows of the same key strictly before each row's time (sorted order)."""
        return self.first_at_t - self.group_start

    def window_start(self, micros: int) -> np.ndarray:
        """First row of the same key at or after t - micros (sorted order)."""
        return np.maximum(np.searchsorted(self.key, self.key - micros, side="left"), self.group_start)

    def unsort(self, values: np.ndarray) -> np.ndarray:
        out = np.empty_like(values)
        out[self.order] = values
        return out


def compute_features_single_core(
    transactions: pa.Table,
    labels: pa.Table,
    numeric: tuple[NumericFeature, ...],
    categorical: tuple[Categorical, ...],
    spec: FeatureSpec,
) -> pa.Table:
    """One row per transaction (input order): id, event time, every numeric feature and categorical, point-in-time.

    `labels` has (id, label_time, is_fraud), one row per id.
    """
    t = pc.cast(transactions[spec.timestamp], pa.int64()).to_numpy()
    label_t = pc.cast(labels["label_time"], pa.int64()).to_numpy()
    t0 = int(min(t.min(), label_t.min() if len(label_t) else t.min()))
    span = int(max(t.max(), label_t.max() if len(label_t) else t.max())) - t0 + 2
    by_entity: dict[str, _Sorted] = {}
    codes: dict[str, np.ndarray] = {}
    out = {spec.entity_id: transactions[spec.entity_id], spec.timestamp: transactions[spec.timestamp]}
    when = pd.to_datetime(t, unit="us", utc=True)

    def sorted_by(entity: str) -> _Sorted:
        if entity not in by_entity:
            codes[entity] = _codes(transactions[entity])
            by_entity[entity] = _Sorted(codes[entity], t, t0, span)
        return by_entity[entity]

    for feature in numeric:
        if isinstance(feature, Passthrough):
            value = pc.cast(transactions[feature.column], pa.float64()).to_numpy()
        elif isinstance(feature, TimePart):
            value = (when.hour if feature.part == "hour" else when.dayofweek).to_numpy().astype(np.float64)
        elif isinstance(feature, WindowAggregate | PriorStat):
            value = _window_or_prior(feature, sorted_by(feature.entity), transactions)
        elif isinstance(feature, SecondsSinceLast):
            s = sorted_by(feature.entity)
            previous = s.first_at_t - 1
            has = previous >= s.group_start
            gap = (s.key - s.key[np.maximum(previous, 0)]) / 1e6
            value = s.unsort(np.where(has, np.minimum(gap, feature.cap_seconds), float(feature.cap_seconds)))
        elif isinstance(feature, IsNew):
            sorted_by(feature.entity)
            values = _codes(transactions[feature.column])
            pairs = np.unique(
                codes[feature.entity] * (values.max() + 1 if len(values) else 1) + values, return_inverse=True
            )
            s = _Sorted(pairs[1].reshape(-1), t, t0, span)
            value = s.unsort((s.before() == 0).astype(np.float64))
        elif isinstance(feature, LabelRate):
            value = _label_rate(feature, sorted_by(feature.entity), codes[feature.entity], transactions, labels, spec)
        else:
            raise TypeError(f"unknown feature kind {type(feature).__name__}")
        out[feature.name] = value
    for feature in categorical:
        out[feature.name] = transactions[feature.column]
    return pa.table(out)


def _sums_between(x: np.ndarray, s: _Sorted, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Sum of x over sorted rows [start, end) of each row's own key, from running sums that restart per key (so
    the subtraction never loses digits to other keys' totals)."""
    group = np.cumsum(np.r_[True, s.group_start[1:] != s.group_start[:-1]]) if len(x) else np.zeros(0, np.int64)
    running = pd.Series(x).groupby(group).cumsum().to_numpy()  # sum from the key's first row to this row
    before_start = np.where(start > s.group_start, running[np.maximum(start - 1, 0)], 0.0)
    before_end = np.where(end > s.group_start, running[np.maximum(end - 1, 0)], 0.0)
    return np.where(end > start, before_end - before_start, 0.0)


def _window_or_prior(feature, s: _Sorted, transactions: pa.Table) -> np.ndarray:
    end = s.first_at_t
    start = (
        s.window_start(feature.window_seconds * 1_000_000) if isinstance(feature, WindowAggregate) else s.group_start
    )
    count = (end - start).astype(np.float64)
    kind = feature.agg if isinstance(feature, WindowAggregate) else feature.stat
    if kind == "count":
        return s.unsort(count)
    x = pc.cast(transactions[feature.column], pa.float64()).to_numpy()[s.order]
    total = _sums_between(x, s, start, end)
    if kind == "sum":
        return s.unsort(total)
    mean = np.where(count > 0, total / np.maximum(count, 1), 0.0)
    if kind == "mean":
        return s.unsort(mean)
    sq = _sums_between(x * x, s, start, end)
    variance = np.maximum(0.0, (sq - total * total / np.maximum(count, 1)) / np.maximum(count - 1, 1))
    return s.unsort(np.where(count >= 2, (x - mean) / (np.sqrt(variance) + 1.0), 0.0))


def _label_rate(feature: LabelRate, s: _Sorted, codes, transactions, labels, spec) -> np.ndarray:
    rows = pc.fill_null(pc.index_in(labels[spec.entity_id], value_set=transactions[spec.entity_id]), -1).to_numpy()
    at = pc.cast(labels["label_time"], pa.int64()).to_numpy()[rows >= 0]
    value = pc.cast(labels["is_fraud"], pa.float64()).to_numpy()[rows >= 0]
    label_codes = codes[rows[rows >= 0]]
    order = np.lexsort((at, label_codes))
    label_key = label_codes[order] * s.span + (at[order] - s.t0)
    running = np.r_[0.0, np.cumsum(value[order])]
    # positives of this key that arrived strictly before t: labels between the key's first and the time t
    first_of_key = np.searchsorted(label_key, (s.key // s.span) * s.span, side="left")
    positives = running[np.searchsorted(label_key, s.key, side="left")] - running[first_of_key]
    events = (s.first_at_t - s.group_start).astype(np.float64)
    rate = (positives + feature.prior_rate * feature.prior_weight) / (events + feature.prior_weight)
    return s.unsort(rate)
