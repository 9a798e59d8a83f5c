"""The data assets materialize against real Kafka and Spark: history + live stream -> validated -> features -> sets."""

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assets.data_assets import (
    DATA_ASSETS,
    PARTITION_RANGE_TAGS,
    KafkaResource,
    LakeResource,
    SparkResource,
    raw_transactions,
    training_set_asset,
    validated_transactions,
)
from dataplane.ingestion.json_records import encode_rows
from dataplane.ingestion.kafka_producer import ensure_topic, send_raw, stream_table
from dataplane.lake_stages import history_days
from domain.generator import GeneratorConfig, Population, generate_day, with_scenario, write_history
from domain.models import FRAUD
from features.online_store import SqliteStateStore

FRAUD_FEATURES = FRAUD.spec
ASSETS = [*DATA_ASSETS, training_set_asset(FRAUD)]
CONFIG = GeneratorConfig(n_cards=300, n_merchants=100, days=5, seed=21, label_delay_days=1.0)


def _resources(tmp_path, kafka_service, topic_prefix):
    kafka = KafkaResource(
        bootstrap_servers=kafka_service.bootstrap_servers,
        transactions_topic=f"{topic_prefix}-transactions",
        labels_topic=f"{topic_prefix}-chargebacks",
        group_id=f"{topic_prefix}-ingest",
        batch_rows=200,
        max_seconds=60,
    )
    return {"lake": LakeResource(root=str(tmp_path / "lake")), "kafka": kafka, "spark": SparkResource()}


def _materialize(assets, resources, days: list[str], instance=None):
    """One run over the days' raw_transactions partitions (a single-run backfill range) and the other assets."""
    range_tags = dict(zip(PARTITION_RANGE_TAGS, (days[0], days[-1]), strict=True))
    return dg.materialize(assets, resources=resources, tags=range_tags, instance=instance, raise_on_error=False)


def _stream_live_day(resources, config, day_index, extra_raw=()):
    kafka = resources["kafka"]
    live = generate_day(config, Population(config), day_index)
    ensure_topic(kafka.bootstrap_servers, kafka.transactions_topic, 2)
    ensure_topic(kafka.bootstrap_servers, kafka.labels_topic, 1)
    stream_table(kafka.bootstrap_servers, kafka.transactions_topic, live.transactions, key_column="card_id")
    stream_table(kafka.bootstrap_servers, kafka.labels_topic, live.labels, key_column=None)
    if extra_raw:
        send_raw(kafka.bootstrap_servers, kafka.transactions_topic, list(extra_raw))
    return live


@pytest.fixture(scope="module")
def materialized(tmp_path_factory, kafka_service, spark):
    tmp_path = tmp_path_factory.mktemp("data_assets")
    resources = _resources(tmp_path, kafka_service, "happy")
    history = write_history(CONFIG, tmp_path / "lake" / "history")
    duplicate = encode_rows(generate_day(CONFIG, Population(CONFIG), CONFIG.days).transactions.slice(0, 1))[0]
    live = _stream_live_day(resources, CONFIG, CONFIG.days, extra_raw=[b"garbage", b'{"amount": true}', duplicate])
    result = _materialize(ASSETS, resources, history_days(tmp_path / "lake" / "history" / "transactions"))
    return result, tmp_path / "lake", history, live


def _metadata(result, name):
    return {k: v.value for k, v in result.asset_materializations_for_node(name)[0].metadata.items()}


def test_every_data_asset_materializes_with_lineage_metadata(materialized):
    result, _, history, live = materialized
    assert result.success
    raw = _metadata(result, "raw_transactions")
    assert raw["rows"] == history.transactions and raw["days"] == CONFIG.days and raw["rows_outside_their_day"] == 0
    assert raw["first_partition"] == "2025-01-01" and raw["last_partition"] == "2025-01-05"
    assert "| 2025-01-03 |" in raw["rows_by_day"]
    assert len(result.asset_materializations_for_node("raw_transactions")) == CONFIG.days, "one per day partition"
    streamed = _metadata(result, "streamed_transactions")
    assert streamed["rows"] == live.transactions.num_rows + 1 and streamed["malformed"] == 2
    assert sum(v["to"] for v in streamed["offsets"].values()) == live.transactions.num_rows + 3
    assert set(streamed["consumer_lag"].values()) == {0}
    validated = _metadata(result, "validated_transactions")
    assert validated["failures_by_rule"] == {"kafka.malformed": 2, "transaction_id.field_uniqueness": 1}
    assert validated["rows"] == history.transactions + live.transactions.num_rows
    assert validated["history_days"] == CONFIG.days
    for name in (
        "raw_transactions",
        "validated_transactions",
        "transaction_features",
        "fraud_training_set",
        "online_features",
    ):
        assert result.asset_materializations_for_node(name)[0].tags.get("dagster/data_version"), name
    checks = result.get_asset_check_evaluations()
    assert [c.passed for c in checks] == [True]


def test_training_set_has_the_feature_spec_columns_and_types(materialized):
    _, lake, _, _ = materialized
    table = pq.read_table(lake / "training_sets" / "fraud")
    types = {f.name: f.type for f in table.schema}
    assert types[FRAUD_FEATURES.entity_id] == pa.string()
    assert pa.types.is_timestamp(types[FRAUD_FEATURES.timestamp])
    assert pa.types.is_integer(types[FRAUD_FEATURES.label])
    assert set(table.column(FRAUD_FEATURES.label).to_pylist()) == {0, 1}
    assert all(pa.types.is_floating(types[name]) for name in FRAUD_FEATURES.numeric)
    assert all(types[name] == pa.string() for name in FRAUD_FEATURES.categorical)


def test_online_store_holds_every_card_seen(materialized):
    _, lake, _, _ = materialized
    cards = set(pq.read_table(lake / "validated" / "transactions", columns=["card_id"])["card_id"].to_pylist())
    store = SqliteStateStore(lake / "online" / "features.sqlite")
    assert store.count("card_id") == len(cards)
    assert store.get_meta("definition_hash") == FRAUD_FEATURES.definition_hash()
    store.close()


def test_a_broken_batch_fails_validation_and_never_reaches_features(tmp_path, kafka_service):
    resources = _resources(tmp_path, kafka_service, "broken")
    small = GeneratorConfig(n_cards=200, n_merchants=100, days=2, seed=4)
    write_history(small, tmp_path / "lake" / "history")
    _stream_live_day(resources, with_scenario(small, quality_break="renamed_category"), small.days)
    result = _materialize(DATA_ASSETS, resources, history_days(tmp_path / "lake" / "history" / "transactions"))
    assert not result.success
    check = result.get_asset_check_evaluations()[0]
    assert not check.passed and check.metadata["failures_by_rule"].value["merchant_category.isin"] > 0
    assert not result.asset_materializations_for_node("transaction_features"), "features must not run"
    assert not (tmp_path / "lake" / "features").exists()


def test_validation_covers_the_materialized_days_and_a_missing_day_is_named(tmp_path, spark):
    resources = {"lake": LakeResource(root=str(tmp_path / "lake")), "spark": SparkResource()}
    small = GeneratorConfig(n_cards=150, n_merchants=100, days=3, seed=9)
    write_history(small, tmp_path / "lake" / "history")
    table = tmp_path / "lake" / "history" / "transactions"
    days = history_days(table)
    assert days == ["2025-01-01", "2025-01-02", "2025-01-03"]
    per_day = {d: pq.read_table(table / f"date={d}").num_rows for d in days}
    instance = dg.DagsterInstance.ephemeral()
    pair = [raw_transactions, validated_transactions]

    first_two = _materialize(pair, resources, days[:2], instance)
    assert first_two.success
    assert _metadata(first_two, "validated_transactions")["rows"] == per_day[days[0]] + per_day[days[1]]
    third = _materialize(pair, resources, days[2:], instance)
    assert _metadata(third, "validated_transactions")["rows"] == sum(per_day.values()), "the new day joins the rest"
    assert _metadata(third, "validated_transactions")["history_range"] == "2025-01-01...2025-01-03"

    missing = _materialize([raw_transactions], resources, ["2025-01-03", "2025-01-04"], instance)
    assert not missing.success
    failure = missing.get_step_failure_events()[0].event_specific_data.error.message
    assert "1 of the 2 days asked (2025-01-04)" in failure and "it holds 2025-01-01...2025-01-03" in failure
