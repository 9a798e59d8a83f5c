"""The serving feature function reads the online store and computes what the engine computes from that state."""

from datetime import UTC, datetime, timedelta

import pytest

from domain.features import FRAUD_CATEGORICAL_DEFINITIONS, FRAUD_FEATURE_DEFINITIONS, FRAUD_FEATURES
from domain.online_features import OnlineFeatureEngine
from domain.online_scoring import OnlineTransactionFeatures
from domain.online_store import SqliteStateStore

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


def _event(minutes: int, amount: float, card: str = "card-1") -> dict:
    event = {
        "transaction_id": f"tx-{minutes}",
        "event_time": T0 + timedelta(minutes=minutes),
        "card_id": card,
        "merchant_id": "m-1",
        "merchant_category": "grocery",
        "country": "DE",
        "channel": "pos",
        "device_id": "d-1",
        "amount": amount,
        "card_home_country": "DE",
    }
    return event


def test_features_come_from_the_stored_state(tmp_path):
    engine = OnlineFeatureEngine(FRAUD_FEATURE_DEFINITIONS, FRAUD_CATEGORICAL_DEFINITIONS)
    for name in engine.entities:
        assert name in _event(0, 1.0), f"test event lacks entity column {name}"
    states: dict = {}
    for minute, amount in ((0, 10.0), (5, 20.0), (30, 30.0)):
        engine.apply_event(states, _event(minute, amount))
    store = SqliteStateStore(tmp_path / "online.sqlite")
    event = _event(40, 99.0)
    for entity, state in states.items():
        store.put_many(entity, {str(event[entity]): state})
    store.close()

    features = OnlineTransactionFeatures(str(tmp_path / "online.sqlite"))
    request = {**event, "event_time": event["event_time"].isoformat().replace("+00:00", "Z")}
    got = features(request)
    assert set(got) == set(FRAUD_FEATURES.features)
    assert got == engine.compute(states, event)
    assert got["card_txn_count_1h"] == 3, "the three stored events of the last hour count"

    stranger = features({**request, "card_id": "never-seen"})
    assert stranger["card_txn_count_1h"] == 0


def test_bad_transactions_are_named(tmp_path):
    features = OnlineTransactionFeatures(str(tmp_path / "online.sqlite"))
    with pytest.raises(ValueError, match=r"transaction lacks \['card_id'"):
        features({"event_time": "2026-11-01T12:00:00Z", "amount": 1.0})
    with pytest.raises(ValueError, match="is not an ISO 8601 time"):
        features({**_event(0, 1.0), "event_time": "yesterday"})
