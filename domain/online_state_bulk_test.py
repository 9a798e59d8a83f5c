"""Bulk (column-wise) online states equal the event-by-event replay, ties, windows and late labels included."""

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from domain.features import FRAUD_CATEGORICAL_DEFINITIONS, FRAUD_FEATURE_DEFINITIONS
from domain.generator import GeneratorConfig, generate
from domain.schema import LABEL_ARROW_SCHEMA
from features.online_engine import OnlineFeatureEngine, replay, to_micros
from features.online_state_bulk import bulk_states

ENGINE = OnlineFeatureEngine(FRAUD_FEATURE_DEFINITIONS, FRAUD_CATEGORICAL_DEFINITIONS)


def _assert_same_states(bulk, replayed):
    assert set(bulk) == set(replayed)
    for entity, by_key in replayed.items():
        assert set(bulk[entity]) == set(by_key), entity
        for key, want in by_key.items():
            got = bulk[entity][key]
            where = f"{entity}={key}"
            assert got.recent == want.recent, where
            assert (got.count, got.latest, got.previous, got.first_seen) == (
                want.count,
                want.latest,
                want.previous,
                want.first_seen,
            ), where
            assert got.sums == pytest.approx(want.sums, rel=1e-12) and got.squares == pytest.approx(want.squares), where
            assert (got.label_events, got.label_positives, got.label_last, got.label_at_last) == (
                want.label_events,
                want.label_positives,
                want.label_last,
                want.label_at_last,
            ), where


@pytest.fixture(scope="module")
def generated():
    config = GeneratorConfig(n_cards=300, n_merchants=100, days=10, seed=17, label_delay_days=2.0)
    days = list(generate(config))
    return pa.concat_tables([d.transactions for d in days]), pa.concat_tables([d.labels for d in days])


def test_bulk_states_equal_replay_on_generated_history(generated):
    transactions, labels = generated
    as_of = pc.max(transactions["event_time"]).as_py()
    arrived = labels.filter(
        pc.less_equal(labels["label_time"], pa.scalar(as_of, labels.schema.field("label_time").type))
    )
    assert 0 < arrived.num_rows < labels.num_rows, "some chargebacks arrive after the newest transaction"
    arrivals = list(
        zip(
            arrived["transaction_id"].to_pylist(),
            arrived["label_time"].to_pylist(),
            arrived["is_fraud"].to_pylist(),
            strict=True,
        )
    )
    _, replayed = replay(ENGINE, transactions.to_pylist(), arrivals, "transaction_id")
    bulk = bulk_states(ENGINE, transactions, labels, "transaction_id", label_value_column="is_fraud")
    assert bulk.as_of_us == to_micros(as_of) and bulk.labels_used == arrived.num_rows
    _assert_same_states(bulk.states, replayed)
    assert any(s.label_positives > 0 for s in bulk.states["merchant_id"].values()), "labels were counted"


def test_ties_at_the_newest_time_and_labels_at_the_same_instant():
    t0 = datetime(2025, 2, 1, tzinfo=UTC)
    rows = [
        ("a", 0, "c1", "m1", 10.0, "DE"),
        ("b", 0, "c1", "m1", 20.0, "FR"),  # same instant as a
        ("c", 90, "c1", "m2", 5.0, "DE"),
        ("d", 90, "c1", "m1", 7.0, "IT"),  # c and d tie at the newest time of c1
        ("e", 200, "c2", "m1", 1.0, "DE"),
    ]
    events = [
        {
            "transaction_id": tid,
            "event_time": t0 + timedelta(minutes=minutes),
            "card_id": card,
            "merchant_id": merchant,
            "merchant_category": "grocery",
            "amount": amount,
            "country": country,
            "device_id": "d",
            "channel": "pos",
        }
        for tid, minutes, card, merchant, amount, country in rows
    ]
    labels = [("a", t0 + timedelta(minutes=200), 1), ("c", t0 + timedelta(minutes=300), 1)]  # c's arrives too late
    table = pa.Table.from_pylist(events)
    label_table = pa.Table.from_pylist(
        [dict(zip(LABEL_ARROW_SCHEMA.names, (*label, 0), strict=True)) for label in labels], schema=LABEL_ARROW_SCHEMA
    )
    _, replayed = replay(ENGINE, events, labels[:1], "transaction_id")
    bulk = bulk_states(ENGINE, table, label_table, "transaction_id", label_value_column="is_fraud")
    _assert_same_states(bulk.states, replayed)
    card = bulk.states["card_id"]["c1"]
    assert card.previous == to_micros(t0) and card.latest == to_micros(t0 + timedelta(minutes=90))
    assert len(card.recent) == 4 and card.first_seen["country"] == {
        "DE": to_micros(t0),
        "FR": to_micros(t0),
        "IT": card.latest,
    }
    assert bulk.states["merchant_id"]["m1"].label_at_last == [1.0, 1.0], "event e and a's label both at minute 200"


def test_features_from_bulk_states_match_replayed_features_for_the_next_events(generated):
    transactions, labels = generated
    cut = transactions.num_rows - 200
    history, upcoming = transactions.slice(0, cut), transactions.slice(cut).to_pylist()
    bulk = bulk_states(ENGINE, history, labels, "transaction_id", label_value_column="is_fraud")
    as_of = bulk.as_of_us
    arrivals = [
        (tid, at, value)
        for tid, at, value in zip(
            labels["transaction_id"].to_pylist(),
            labels["label_time"].to_pylist(),
            labels["is_fraud"].to_pylist(),
            strict=True,
        )
        if to_micros(at) <= as_of
    ]
    _, replayed = replay(ENGINE, history.to_pylist(), arrivals, "transaction_id")

    def states(by_entity, probe):
        return {entity: by_entity[entity].get(str(probe[entity])) for entity in ENGINE.entities}

    numeric = [f.name for f in FRAUD_FEATURE_DEFINITIONS]
    for probe in upcoming[:50]:
        got, want = ENGINE.compute(states(bulk.states, probe), probe), ENGINE.compute(states(replayed, probe), probe)
        assert [got[n] for n in numeric] == pytest.approx([want[n] for n in numeric], rel=1e-12), probe
        assert got == {**want, **{n: got[n] for n in numeric}}, "categorical values are passed through"


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match=r"lack columns \['amount'"):
        bulk_states(ENGINE, pa.table({"event_time": pa.array([], pa.timestamp("us", "UTC"))}), None, "id")


def test_dictionary_encoded_columns_with_different_dictionaries_per_chunk(generated):
    transactions, labels = generated
    half = transactions.num_rows // 2

    def encoded(part):
        for name in ("card_id", "merchant_id", "merchant_category", "country", "device_id"):
            part = part.set_column(
                part.schema.get_field_index(name), name, pc.dictionary_encode(part[name].combine_chunks())
            )
        return part

    as_dictionaries = pa.concat_tables([encoded(transactions.slice(0, half)), encoded(transactions.slice(half))])
    dictionaries = [chunk.dictionary for chunk in as_dictionaries["card_id"].chunks]
    assert len(dictionaries) == 2 and not dictionaries[0].equals(dictionaries[1])
    plain = bulk_states(ENGINE, transactions, labels, "transaction_id", label_value_column="is_fraud")
    _assert_same_states(
        bulk_states(ENGINE, as_dictionaries, labels, "transaction_id", label_value_column="is_fraud").states,
        plain.states,
    )
