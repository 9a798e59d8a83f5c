"""The online engine: point-in-time at request time, order-insensitive at equal times, state survives JSON."""

from datetime import UTC, datetime, timedelta

import pytest

from features.definitions import IsNew, LabelRate, PriorStat, SecondsSinceLast, WindowAggregate
from features.online_engine import EntityState, OnlineFeatureEngine, replay
from features.online_store import SqliteStateStore

T0 = datetime(2025, 1, 1, tzinfo=UTC)
ENGINE = OnlineFeatureEngine(
    (
        WindowAggregate("n_1h", entity="card", window_seconds=3600, agg="count"),
        PriorStat("z", entity="card", stat="zscore", column="amount"),
        SecondsSinceLast("since", entity="card", cap_seconds=10_000),
        IsNew("new_country", entity="card", column="country"),
        LabelRate("rate", entity="shop", prior_rate=0.5, prior_weight=2.0),
    )
)


def _event(tid, minutes, amount=10.0, country="DE"):
    return {
        "id": tid,
        "event_time": T0 + timedelta(minutes=minutes),
        "card": "c",
        "shop": "s",
        "amount": amount,
        "country": country,
    }


def test_replay_sees_only_the_past():
    events = [_event("a", 0), _event("b", 1), _event("c", 1, country="FR"), _event("d", 90, amount=40.0, country="FR")]
    features, states = replay(ENGINE, events, [("a", T0 + timedelta(minutes=1), 1.0)], "id")
    assert [features[k]["n_1h"] for k in "abcd"] == [0, 1, 1, 0]
    assert features["a"]["since"] == 10_000 and features["b"]["since"] == 60 and features["d"]["since"] == 89 * 60
    assert features["c"]["new_country"] == 1.0 and features["d"]["new_country"] == 0.0
    assert features["b"]["rate"] == pytest.approx(0.5 * 2 / (1 + 2)), "label arriving at b's instant is not seen"
    assert features["d"]["rate"] == pytest.approx((1 + 1) / (3 + 2))
    assert features["d"]["z"] > 1.0
    assert set(states) == {"card", "shop"}


def test_state_round_trips_through_sqlite(tmp_path):
    _, states = replay(ENGINE, [_event("a", 0), _event("b", 5)], [], "id")
    store = SqliteStateStore(tmp_path / "s.sqlite")
    store.put_many("card", states["card"])
    loaded = store.get_many("card", ["c", "missing"])
    assert set(loaded) == {"c"} and loaded["c"] == states["card"]["c"]
    probe = _event("x", 10)
    assert ENGINE.compute({"card": loaded["c"], "shop": states["shop"]["s"]}, probe) == ENGINE.compute(
        {"card": EntityState.from_json(states["card"]["c"].to_json()), "shop": states["shop"]["s"]}, probe
    )


def test_out_of_order_events_are_refused():
    states = {}
    ENGINE.apply_event(states, _event("a", 10))
    with pytest.raises(ValueError, match="older than the latest"):
        ENGINE.apply_event(states, _event("b", 5))


def test_naive_timestamps_are_refused():
    with pytest.raises(ValueError, match="no timezone"):
        ENGINE.compute({}, {**_event("a", 0), "event_time": datetime(2025, 1, 1)})
