"""The serving feature function reads the online store and computes what the engine computes from that state."""

from datetime import UTC, datetime, timedelta

import pytest

from domain.features import FRAUD_CATEGORICAL_DEFINITIONS, FRAUD_FEATURE_DEFINITIONS, FRAUD_FEATURES
from domain.online_scoring import OnlineTransactionFeatures
from features.online_engine import OnlineFeatureEngine
from features.online_store import SqliteStateStore, build_and_publish

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


def test_a_missing_store_is_named_and_a_republished_one_is_followed(tmp_path):
    path = tmp_path / "online.sqlite"
    features = OnlineTransactionFeatures(str(path))
    request = {**_event(40, 5.0), "event_time": _event(40, 5.0)["event_time"].isoformat()}
    with pytest.raises(FileNotFoundError, match="materialize the online_features asset"):
        features(request)

    engine = OnlineFeatureEngine(FRAUD_FEATURE_DEFINITIONS, FRAUD_CATEGORICAL_DEFINITIONS)

    def publish(minutes):
        states: dict = {}
        for minute in minutes:
            engine.apply_event(states, _event(minute, 10.0))
        event = _event(40, 5.0)
        build_and_publish(path, lambda store: [store.put_many(e, {str(event[e]): s}) for e, s in states.items()])

    publish([0])
    assert features(request)["card_txn_count_1h"] == 1
    publish([0, 10, 20])  # renamed into place while the reader holds the old file open
    assert features(request)["card_txn_count_1h"] == 3, "the reader follows the newly published state"
    assert not list(tmp_path.glob("*.building*")), "no staging file is left behind"


def test_scored_transactions_move_the_velocity_features_until_the_store_is_republished(tmp_path):
    path = tmp_path / "online.sqlite"
    build_and_publish(path, lambda store: None)  # an empty published store: every card is new
    features = OnlineTransactionFeatures(str(path))

    def request(minute):
        event = _event(minute, 10.0)
        return {**event, "event_time": event["event_time"].isoformat()}

    counts = [features(request(minute))["card_txn_count_1h"] for minute in (0, 10, 20)]
    assert counts == [0, 1, 2], "each scored transaction counts for the next ones of the same card"
    features(request(5))  # a late event is still scored ...
    assert features.late_events == 1, "... but not folded in (state only moves forward in time)"
    assert features(request(25))["card_txn_count_1h"] == 3

    build_and_publish(path, lambda store: None)
    assert features(request(40))["card_txn_count_1h"] == 0, "a republished store replaces the overlay"


def test_an_event_scored_by_several_models_is_counted_once(tmp_path):
    path = tmp_path / "online.sqlite"
    build_and_publish(path, lambda store: None)
    features = OnlineTransactionFeatures(str(path))
    first = {**_event(0, 10.0), "event_time": T0.isoformat()}
    assert features(first) == features(first), "the second model of the same event gets the same features"
    later = {**_event(10, 10.0), "event_time": (T0 + timedelta(minutes=10)).isoformat()}
    assert features(later)["card_txn_count_1h"] == 1, "the first event was folded once, not once per model"


def test_label_rate_entities_are_not_folded_because_the_server_never_sees_labels(tmp_path):
    engine = OnlineFeatureEngine(FRAUD_FEATURE_DEFINITIONS, FRAUD_CATEGORICAL_DEFINITIONS)
    states: dict = {}
    fraud = _event(0, 10.0)
    engine.apply_event(states, fraud)
    engine.apply_label(states, fraud, T0 + timedelta(minutes=1), 1.0)
    path = tmp_path / "online.sqlite"
    build_and_publish(path, lambda store: [store.put_many(e, {str(fraud[e]): s}) for e, s in states.items()])
    features = OnlineTransactionFeatures(str(path))

    def request(minute):
        event = _event(minute, 10.0)
        return {**event, "event_time": event["event_time"].isoformat()}

    rates = [features(request(minute))["merchant_fraud_rate"] for minute in (10, 11, 12)]
    assert rates[0] > 0, "the published merchant state carries its chargeback"
    assert rates == [rates[0]] * 3, "counting payments without their labels would drag the rate down"
    counts = [features(request(minute))["card_txn_count_1h"] for minute in (13, 14)]
    assert counts[1] == counts[0] + 1, "the card (no label-rate features) is still folded"
