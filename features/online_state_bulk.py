"""Online entity states for a whole history at once, column-wise (numpy + Arrow), equal to replaying it event by event.

`replay` in `features/online_engine.py` folds events one at a time in Python: exact, and far too slow for millions
of rows. Every field of `EntityState` is a group statistic once the events are sorted by (entity key, time):
counts and moment sums per key, the latest and previous distinct times, the events still inside the longest
window, the first time each novelty value was seen, and the label counter's totals at the as-of time. This module
computes those with sorts and segment reductions and builds the same states `replay` would end with (the unit
test compares them on generated data). Labels that arrive after `as_of` are left out: serving must not know a
chargeback before it arrives.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.online_engine import EntityState, OnlineFeatureEngine


@dataclass(frozen=True)
class BulkStates:
    """States per entity column and key, and the time they are valid at."""

    states: dict[str, dict[str, EntityState]]
    """entity column -> key -> state."""
    as_of_us: int | None
    """Microseconds since the epoch of the newest event and label arrival included (None without events)."""
    labels_used: int
    """Label arrivals folded into label counters (labels after as_of or of unknown events are left out)."""


def _micros(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    if not pa.types.is_timestamp(column.type):
        raise TypeError(f"expected a timestamp column, got {column.type}")
    if column.null_count:
        raise ValueError("timestamps must not be null")
    return pc.cast(pc.cast(column, pa.timestamp("us", column.type.tz)), pa.int64()).to_numpy()


def _codes(column: pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
    """Integer codes and the key of each code, keys as `str(value)` (what replay uses; null is 'None')."""
    if pa.types.is_dictionary(column.type) and pa.types.is_string(column.type.value_type) and column.num_chunks:
        unified = column.unify_dictionaries()  # Parquet read with read_dictionary: keep the strings encoded
        dictionary = unified.chunk(0).dictionary
        indices = pa.chunked_array([chunk.indices for chunk in unified.chunks], type=unified.type.index_type)
        codes = pc.fill_null(indices, len(dictionary)).to_numpy().astype(np.int64)
        return codes, dictionary.to_pylist() + ["None"]
    if pa.types.is_dictionary(column.type):
        column = pc.cast(column, column.type.value_type)
    if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
        column = pc.cast(column, pa.string())
    column = pc.fill_null(column, "None") if column.null_count else column
    encoded = pc.dictionary_encode(column).combine_chunks()
    return encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64), encoded.dictionary.to_pylist()


def _segments(sorted_codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) of each run of equal codes."""
    if not len(sorted_codes):
        return np.empty(0, np.int64), np.empty(0, np.int64)
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    return starts, np.r_[starts[1:], len(sorted_codes)]


def _segment_sums(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Sum of each segment (segments start at `starts` and cover the array; none may be empty)."""
    return np.add.reduceat(values, starts) if len(starts) else np.zeros(0, values.dtype)


def bulk_states(
    engine: OnlineFeatureEngine,
    events: pa.Table,
    labels: pa.Table | None,
    id_column: str,
    as_of_us: int | None = None,
    label_time_column: str = "label_time",
    label_value_column: str | None = None,
    time_column: str = "event_time",
) -> BulkStates:
    """The state of every entity key after all events (and label arrivals) at or before `as_of_us` (default: newest
    event), the same as `replay` builds, without a Python loop over events.

    `events` needs the time column, every entity column and the columns the features read (plus `id_column` when
    labels are given); `labels` has id, arrival time and value (`label_value_column`), one row per arrival.
    """
    if labels is not None and label_value_column is None:
        raise ValueError("bulk_states: labels were given without label_value_column (the spec's label)")
    needed = {time_column, *engine.entities}
    for needs in engine.needs.values():
        needed.update(needs.window_columns, needs.moment_columns, needs.novelty_columns)
    missing = sorted(needed - set(events.column_names))
    if missing:
        raise ValueError(f"events lack columns {missing} that the feature definitions need")
    t = _micros(events[time_column])
    if as_of_us is None:
        as_of_us = int(t.max()) if len(t) else None
    keep = t <= as_of_us if as_of_us is not None else np.zeros(len(t), bool)
    if not keep.all():
        events, t = events.filter(pa.array(keep)), t[keep]
    if len(t) and (np.diff(t) < 0).any():  # history is usually written in time order already
        order = np.argsort(t, kind="stable")  # replay's order: time, then position
        events, t = events.take(order), t[order]

    label_rows, label_t, label_value = _label_arrivals(
        engine, events, labels, id_column, as_of_us, label_time_column, label_value_column
    )
    states = {
        entity: _entity_states(engine, entity, events, t, label_rows, label_t, label_value)
        for entity in engine.entities
    }
    return BulkStates(states=states, as_of_us=as_of_us, labels_used=len(label_t))


def _label_arrivals(engine, events, labels, id_column, as_of_us, time_column, value_column):
    """(event row, arrival micros, value) of the labels a label counter will count, arrival order."""
    empty = (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float64))
    if labels is None or not labels.num_rows or not any(n.label_counter for n in engine.needs.values()):
        return empty
    if id_column not in events.column_names:
        raise ValueError(f"events lack the id column '{id_column}' needed to attach labels")
    at = _micros(labels[time_column])
    due = at <= as_of_us if as_of_us is not None else np.zeros(len(at), bool)
    found = pc.index_in(labels[id_column], value_set=events[id_column].combine_chunks())
    rows = pc.fill_null(found, -1).to_numpy().astype(np.int64)
    use = due & (rows >= 0)
    value = pc.cast(labels[value_column], pa.float64()).to_numpy()
    return rows[use].astype(np.int64), at[use], value[use]


def _entity_states(engine, entity, events, t, label_rows, label_t, label_value) -> dict[str, EntityState]:
    needs = engine.needs[entity]
    codes, keys = _codes(events[entity])
    order = np.argsort(codes, kind="stable")  # events are time-sorted, so each key's events stay in time order
    sorted_codes, sorted_t = codes[order], t[order]
    starts, ends = _segments(sorted_codes)
    group_codes = sorted_codes[starts]
    latest = sorted_t[ends - 1]
    group_of_row = np.repeat(np.arange(len(starts)), ends - starts)
    first_latest = ends - _segment_sums((sorted_t == latest[group_of_row]).astype(np.int64), starts)
    has_previous = first_latest > starts
    previous = np.where(has_previous, sorted_t[np.maximum(first_latest - 1, 0)], 0)

    value_columns = sorted(set(needs.window_columns) | set(needs.moment_columns))
    values = {c: pc.cast(events[c], pa.float64()).to_numpy()[order] for c in value_columns}
    moments = {
        c: (_segment_sums(values[c], starts), _segment_sums(values[c] ** 2, starts)) for c in needs.moment_columns
    }
    inside = sorted_t >= (latest - needs.retention_us)[group_of_row]
    recent_offsets = np.r_[0, np.cumsum(_segment_sums(inside.astype(np.int64), starts))].tolist()
    # inside rows are each key's newest, so they are contiguous per key and in key order: one list, sliced per key
    recent_values = [v[inside].tolist() for v in values.values()]
    recent = [
        [at, dict(zip(value_columns, row, strict=True))]
        for at, *row in zip(sorted_t[inside].tolist(), *recent_values, strict=True)
    ]
    first_seen = {c: _first_seen(codes, events[c], t) for c in needs.novelty_columns}
    label_totals = _label_totals(codes, t, label_rows, label_t, label_value) if needs.label_counter else None

    states: dict[str, EntityState] = {}
    for g, code in enumerate(group_codes.tolist()):
        state = EntityState(
            recent=recent[recent_offsets[g] : recent_offsets[g + 1]],
            count=int(ends[g] - starts[g]),
            sums={c: float(moments[c][0][g]) for c in needs.moment_columns},
            squares={c: float(moments[c][1][g]) for c in needs.moment_columns},
            latest=int(latest[g]),
            previous=int(previous[g]) if has_previous[g] else None,
            first_seen={c: first_seen[c].get(code, {}) for c in needs.novelty_columns},
        )
        if label_totals is not None:
            events_n, positives, last, events_at_last, positives_at_last = label_totals[code]
            state.label_events, state.label_positives, state.label_last = events_n, positives, last
            state.label_at_last = [events_at_last, positives_at_last]
        states[keys[code]] = state
    return states


def _first_seen(codes: np.ndarray, column: pa.ChunkedArray, t: np.ndarray) -> dict[int, dict[str, int]]:
    """entity code -> {value: first time seen}, in order of first appearance."""
    value_codes, values = _codes(column)
    pair = codes * max(len(values), 1) + value_codes
    order = np.argsort(pair, kind="stable")
    starts, _ = _segments(pair[order])
    first_rows = order[starts]
    first_rows = first_rows[np.lexsort((t[first_rows], codes[first_rows]))]
    out: dict[int, dict[str, int]] = {}
    for code, value_code, at in zip(
        codes[first_rows].tolist(), value_codes[first_rows].tolist(), t[first_rows].tolist(), strict=True
    ):
        out.setdefault(code, {})[values[value_code]] = at
    return out


def _label_totals(codes, t, label_rows, label_t, label_value):
    """code -> (events, positives, last update time, events at that time, positives at that time)."""
    label_codes = codes[label_rows]
    update_code = np.concatenate([codes, label_codes])
    update_t = np.concatenate([t, label_t])
    update_events = np.concatenate([np.ones(len(t)), np.zeros(len(label_t))])
    update_positives = np.concatenate([np.zeros(len(t)), label_value])
    order = np.lexsort((update_t, update_code))
    update_code, update_t = update_code[order], update_t[order]
    update_events, update_positives = update_events[order], update_positives[order]
    starts, ends = _segments(update_code)
    last = update_t[ends - 1]
    group_of_row = np.repeat(np.arange(len(starts)), ends - starts)
    at_last = update_t == last[group_of_row]
    totals = {}
    sums = (
        _segment_sums(update_events, starts),
        _segment_sums(update_positives, starts),
        _segment_sums(update_events * at_last, starts),
        _segment_sums(update_positives * at_last, starts),
    )
    for g, code in enumerate(update_code[starts].tolist()):
        totals[code] = (float(sums[0][g]), float(sums[1][g]), int(last[g]), float(sums[2][g]), float(sums[3][g]))
    return totals
