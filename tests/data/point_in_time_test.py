"""Spark features are point-in-time correct on hand-made events, and equal the online engine's on generated data."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from domain.features import FRAUD_CATEGORICAL_DEFINITIONS, FRAUD_FEATURE_DEFINITIONS, FRAUD_FEATURES
from domain.generator import GeneratorConfig, generate
from domain.schema import LABEL_ARROW_SCHEMA, TRANSACTION_ARROW_SCHEMA
from features.definitions import Categorical, IsNew, LabelRate, PriorStat, SecondsSinceLast, WindowAggregate
from features.online_engine import OnlineFeatureEngine, replay
from features.point_in_time import TrainingWindow, compute_features, deduplicate_labels, training_set
from features.spec import FeatureSpec

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
NUMERIC = (
    WindowAggregate("n_1h", entity="card_id", window_seconds=3600, agg="count"),
    WindowAggregate("sum_1h", entity="card_id", window_seconds=3600, agg="sum", column="amount"),
    PriorStat("n_prior", entity="card_id", stat="count"),
    PriorStat("mean_prior", entity="card_id", stat="mean", column="amount"),
    SecondsSinceLast("since_last", entity="card_id", cap_seconds=86400),
    IsNew("country_new", entity="card_id", column="country"),
    LabelRate("merchant_rate", entity="merchant_id", prior_rate=0.0, prior_weight=1.0),
)
CATEGORICAL = (Categorical("channel", column="channel", vocabulary=("pos", "ecom")),)
SPEC = FeatureSpec(
    "transaction_id", "event_time", "is_fraud", tuple(f.name for f in NUMERIC), {"channel": ("pos", "ecom")}
)


def _event(tid, minutes, amount, country="DE", merchant="m1", card="c1"):
    return {
        "transaction_id": tid,
        "event_time": T0 + timedelta(minutes=minutes),
        "card_id": card,
        "merchant_id": merchant,
        "merchant_category": "grocery",
        "amount": amount,
        "country": country,
        "device_id": "d1",
        "channel": "pos",
    }


EVENTS = [
    _event("a", 0, 10.0),
    _event("b", 30, 20.0),
    _event("c", 30, 40.0, country="FR"),  # same instant as b: neither sees the other
    _event("d", 80, 5.0, country="FR"),
    _event("f", 100, 9.0),  # the chargeback of 'a' arrives at this very instant
    _event("e", 24 * 60, 7.0),
]
# a chargeback for 'a' arrives at minute 100 exactly (f must not see it) and is delivered twice
LABELS = [("a", T0 + timedelta(minutes=100), 1), ("a", T0 + timedelta(minutes=200), 1)]


def _frames(spark):
    transactions = spark.createDataFrame(pa.Table.from_pylist(EVENTS, TRANSACTION_ARROW_SCHEMA).to_pandas())
    labels = pd.DataFrame(LABELS, columns=["transaction_id", "label_time", "is_fraud"]).assign(is_dispute=0)
    labels = spark.createDataFrame(pa.Table.from_pandas(labels, LABEL_ARROW_SCHEMA, preserve_index=False).to_pandas())
    return transactions, deduplicate_labels(labels, "transaction_id")


@pytest.fixture(scope="module")
def hand_made(spark):
    transactions, labels = _frames(spark)
    features = compute_features(transactions, labels, NUMERIC, CATEGORICAL, SPEC).toPandas()
    return features.set_index("transaction_id"), transactions, labels


def test_features_use_only_events_strictly_before_each_event(hand_made):
    f = hand_made[0]
    assert f.loc["a", ["n_1h", "n_prior", "mean_prior", "since_last"]].tolist() == [0, 0, 0, 86400]
    assert f.loc["b", ["n_1h", "sum_1h", "n_prior"]].tolist() == [1, 10.0, 1], "b sees a, not c at the same instant"
    assert f.loc["c", ["n_1h", "sum_1h", "n_prior"]].tolist() == [1, 10.0, 1], "c sees a, not b at the same instant"
    assert f.loc["d", ["n_1h", "sum_1h", "n_prior", "mean_prior"]].tolist() == [2, 60.0, 3, 70.0 / 3]
    assert f.loc["d", "since_last"] == 50 * 60
    assert f.loc["f", ["n_1h", "sum_1h"]].tolist() == [1, 5.0], "only d is within the last hour"
    assert f.loc["e", ["n_1h", "n_prior"]].tolist() == [0, 5], "the 1 h window has slid past everything"


def test_novelty_counts_only_earlier_events(hand_made):
    f = hand_made[0]
    assert f.loc["c", "country_new"] == 1.0, "FR was first seen at c itself"
    assert f.loc["d", "country_new"] == 0.0


def test_label_rate_counts_a_label_only_after_it_arrived(hand_made):
    f = hand_made[0]
    assert f.loc["f", "merchant_rate"] == 0.0, "the chargeback arrives at f's instant: not before f"
    assert f.loc["e", "merchant_rate"] == pytest.approx(1 / (5 + 1)), "one (de-duplicated) positive among 5 events"


def test_training_set_uses_only_labels_arrived_by_cutoff(hand_made, spark):
    features, _, labels = hand_made
    features = spark.createDataFrame(features.reset_index())
    early = TrainingWindow(cutoff=T0 + timedelta(minutes=99), label_maturity=timedelta(0))
    late = TrainingWindow(cutoff=T0 + timedelta(minutes=150), label_maturity=timedelta(minutes=60))
    before = training_set(features, labels, SPEC, early).toPandas().set_index("transaction_id")
    after = training_set(features, labels, SPEC, late).toPandas().set_index("transaction_id")
    assert sorted(before.index) == ["a", "b", "c", "d"] and before["is_fraud"].sum() == 0, "label not yet arrived"
    assert sorted(after.index) == ["a", "b", "c", "d"], "f is younger than the maturity window"
    assert after.loc["a", "is_fraud"] == 1


def test_batch_and_online_features_agree_on_generated_events(spark):
    config = GeneratorConfig(n_cards=150, n_merchants=100, days=9, seed=3, label_delay_days=1.5)
    days = list(generate(config))
    transactions = pa.concat_tables([d.transactions for d in days])
    labels = pa.concat_tables([d.labels for d in days])
    assert labels.num_rows > 5, "the sample must contain label arrivals to compare label rates"
    batch = compute_features(
        spark.createDataFrame(transactions.to_pandas()),
        deduplicate_labels(spark.createDataFrame(labels.to_pandas()), "transaction_id"),
        FRAUD_FEATURE_DEFINITIONS,
        FRAUD_CATEGORICAL_DEFINITIONS,
        FRAUD_FEATURES,
    ).toPandas()
    first = labels.to_pandas().sort_values("label_time").drop_duplicates("transaction_id")
    arrivals = list(zip(first.transaction_id, first.label_time, first.is_fraud.astype(float), strict=True))
    engine = OnlineFeatureEngine(FRAUD_FEATURE_DEFINITIONS, FRAUD_CATEGORICAL_DEFINITIONS)
    online, _ = replay(engine, transactions.to_pylist(), arrivals, "transaction_id")
    online = pd.DataFrame.from_dict(online, orient="index").loc[batch["transaction_id"]]
    assert len(batch) == transactions.num_rows
    for name in FRAUD_FEATURES.numeric:
        np.testing.assert_allclose(
            batch[name].to_numpy(float), online[name].to_numpy(float), rtol=1e-9, atol=1e-9, err_msg=name
        )
    for name in FRAUD_FEATURES.categorical:
        assert batch[name].tolist() == online[name].tolist(), name
    assert batch["merchant_fraud_rate"].nunique() > 1, "label rates moved at least once"
