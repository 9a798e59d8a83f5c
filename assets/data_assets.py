"""Data-plane assets: history and Kafka in, pandera validation with quarantine, point-in-time features out.

Each asset is a thin adapter over `dataplane/lake_stages.py`, `dataplane/ingestion/` and
`features/point_in_time.py`; every one reports rows, schema, sources and a
data version so that downstream assets know what changed.
"""

from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
from pydantic import Field
from pyspark.sql import functions as F

from assets.model_catalog import shared_features
from assets.runs_in_flight import in_flight_run
from assets.stack_environment import STACK
from dataplane.ingestion.kafka_sink import IngestReport, IngestSettings, ParquetOffsetSink, ingest
from dataplane.lake_stages import (
    build_online_state,
    collect_labels,
    day_folder,
    fingerprint,
    history_days,
    missing_day_ranges,
    parquet_files,
    validate_to_lake,
)
from dataplane.spark_session import SparkSettings, local_spark
from domain.schema import LABEL_ARROW_SCHEMA, TRANSACTION_ARROW_SCHEMA, transaction_schema
from features.model_declaration import ModelDeclaration, too_little_data
from features.online_engine import OnlineFeatureEngine
from features.online_store import SqliteStateStore, build_and_publish
from features.point_in_time import TrainingWindow, compute_features
from features.point_in_time import training_set as build_training_set

GROUP = "data"
KAFKA_INGEST_POOL = "kafka_ingest"
"""Concurrency pool of the assets that consume a Kafka topic with the shared consumer group: one at a time, so a
sensor-launched label run and a retraining run never rebalance each other mid-batch (limit set in dagster.yaml)."""


class LakeResource(dg.ConfigurableResource):
    """Where the data plane reads history and writes every table (a local folder or a mounted lake)."""

    root: str = Field(default=".flywheel/lake", description="Lake root folder; every table lives below it.")
    history_root: str = Field(
        default="",
        description="Folder with transactions/ and chargebacks/ history Parquet (date=... partitions); "
        "empty means <root>/history.",
    )

    def path(self, *parts: str) -> Path:
        """A folder under the lake root."""
        return Path(self.root, *parts)

    def history(self, table: str) -> Path:
        """A history table folder (transactions or chargebacks)."""
        return Path(self.history_root or Path(self.root, "history"), table)


class KafkaResource(dg.ConfigurableResource):
    """The Kafka cluster and topics the live data arrives on."""

    bootstrap_servers: str = Field(default="127.0.0.1:9092", description="host:port list of brokers.")
    transactions_topic: str = Field(default="transactions", description="Topic of live transactions (JSON).")
    labels_topic: str = Field(default="chargebacks", description="Topic of chargeback labels (JSON).")
    group_id: str = Field(default="flywheel-ingest", description="Consumer group whose commits track progress.")
    batch_rows: int = Field(default=50_000, description="Messages per durable Parquet micro-batch.")
    max_seconds: float = Field(default=300.0, description="Longest one ingestion run may consume.")

    def consume(self, topic: str, sink: Path, schema) -> IngestReport:
        """Consumes `topic` into `sink` until caught up with the end offsets seen at start."""
        settings = IngestSettings(
            topic=topic, group_id=f"{self.group_id}-{topic}", batch_rows=self.batch_rows, max_seconds=self.max_seconds
        )
        return ingest(self.bootstrap_servers, settings, ParquetOffsetSink(sink), schema)


class SparkResource(dg.ConfigurableResource):
    """A local Spark session (one per process)."""

    master: str = Field(default="local[2]", description="Spark master URL.")
    shuffle_partitions: int = Field(default=4, description="spark.sql.shuffle.partitions.")
    driver_memory: str = Field(default="2g", description="Driver JVM heap.")

    def session(self):
        """The process's SparkSession."""
        return local_spark(SparkSettings(self.master, self.shuffle_partitions, self.driver_memory))


class ValidationConfig(dg.Config):
    """How much invalid data a validation run tolerates."""

    max_invalid_share: float = Field(default=0.05, description="Largest share of quarantined rows that still passes.")


class TrainingSetConfig(dg.Config):
    """The point in time a training set is built as of."""

    cutoff: str = Field(default="", description="ISO 8601 UTC cutoff; empty means the newest event time.")
    label_maturity_hours: float = Field(default=0.0, description="Drop transactions younger than this at the cutoff.")


def _schema(arrow_schema) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(f.name, str(f.type)) for f in arrow_schema])


def _ingest_metadata(report: IngestReport) -> dict:
    return {
        "rows": report.rows,
        "malformed": report.malformed,
        "offsets": {str(p): {"from": v.start, "to": v.position} for p, v in report.partitions.items()},
        "consumer_lag": {str(p): lag for p, lag in report.lag_after.items()},
        "files_written": len(report.files),
        "seconds": round(report.seconds, 2),
    }


HISTORY_PARTITIONS = dg.DailyPartitionsDefinition(start_date=STACK.history_start)
"""One partition per day of bulk history (a `date=YYYY-MM-DD` folder of the lake), from FLYWHEEL_HISTORY_START on."""


def _rows_by_day(rows: list) -> dg.MetadataValue:
    lines = ["| day | rows | first event | last event |", "| --- | ---: | --- | --- |"]
    lines += [f"| {r['date']} | {r['rows']:,} | {r['first']} | {r['last']} |" for r in rows]
    return dg.MetadataValue.md("\n".join(lines))


@dg.asset(
    group_name=GROUP,
    code_version="2",
    partitions_def=HISTORY_PARTITIONS,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def raw_transactions(
    context: dg.AssetExecutionContext, lake: LakeResource, spark: SparkResource
) -> dg.MaterializeResult:
    """Bulk transaction history, one daily partition per date=... Parquet folder at a configurable lake path (Spark)."""
    path = lake.history("transactions")
    days = context.partition_keys
    missing = [day for day in days if not parquet_files(day_folder(path, day))]
    if missing:
        present = history_days(path)
        held = f"it holds {present[0]}...{present[-1]}" if present else "it holds no date=... folders"
        raise dg.Failure(
            f"no Parquet history for {len(missing)} of the {len(days)} days asked ({', '.join(missing[:3])}"
            f"{', ...' if len(missing) > 3 else ''}) under {path}; {held}. Generate it, point "
            "LakeResource.history_root at a lake, or materialize only the days it has."
        )
    folders = [day_folder(path, day) for day in days]
    frame = spark.session().read.option("basePath", str(path)).parquet(*map(str, folders))
    per_day = (
        frame.groupBy(F.col("date").cast("string").alias("date"))
        .agg(
            F.count("*").alias("rows"),
            F.min("event_time").alias("first"),
            F.max("event_time").alias("last"),
            F.sum(F.when(F.to_date("event_time") != F.col("date"), 1).otherwise(0)).alias("outside"),
        )
        .orderBy("date")
        .collect()
    )
    rows = sum(r["rows"] for r in per_day)
    outside = sum(r["outside"] for r in per_day)
    context.log.info(f"{rows} rows in {len(days)} days {days[0]}...{days[-1]} ({outside} dated outside their folder)")
    return dg.MaterializeResult(
        metadata={
            "rows": rows,
            "path": str(path),
            "days": len(days),
            "first_partition": days[0],
            "last_partition": days[-1],
            "rows_by_day": _rows_by_day(per_day),
            "rows_outside_their_day": outside,
            "dagster/column_schema": _schema(TRANSACTION_ARROW_SCHEMA),
        },
        data_version=dg.DataVersion(fingerprint(*folders)),
    )


@dg.asset(group_name=GROUP, code_version="1", pool=KAFKA_INGEST_POOL)
def streamed_transactions(kafka: KafkaResource, lake: LakeResource) -> dg.MaterializeResult:
    """Live transactions from Kafka as crash-safe Parquet micro-batches (offsets committed after durable writes)."""
    sink = lake.path("stream", "transactions")
    report = kafka.consume(kafka.transactions_topic, sink, TRANSACTION_ARROW_SCHEMA)
    return dg.MaterializeResult(
        metadata={**_ingest_metadata(report), "path": str(sink), "topic": kafka.transactions_topic},
        data_version=dg.DataVersion(fingerprint(sink)),
    )


@dg.asset(
    group_name=GROUP,
    code_version="1",
    deps=[raw_transactions, streamed_transactions],
    check_specs=[
        dg.AssetCheckSpec(
            "transaction_rules_within_threshold",
            asset="validated_transactions",
            blocking=True,
            description="pandera rules (types, ranges, categories, nulls, unique ids): invalid share under threshold.",
        )
    ],
)
def validated_transactions(
    context: dg.AssetExecutionContext, config: ValidationConfig, lake: LakeResource
) -> dg.MaterializeResult:
    """Transactions that pass the pandera schema; the rest go to quarantine_transactions with a reason per row.

    It covers the history days `raw_transactions` has materialized (a day that landed in the lake but was not
    materialized is left out until it is) and everything streamed from Kafka."""
    out, quarantine = lake.path("validated", "transactions"), lake.path("quarantine", "transactions")
    days = sorted(context.instance.get_materialized_partitions(dg.AssetKey("raw_transactions")))
    if not days:
        context.log.warning("raw_transactions has no materialized day: validating the Kafka stream only")
    report = validate_to_lake(
        lake.history("transactions"),
        lake.path("stream", "transactions"),
        out,
        quarantine,
        transaction_schema(),
        TRANSACTION_ARROW_SCHEMA,
        config.max_invalid_share,
        days=days,
    )
    context.log.info(report.summary())
    rules = {rule: count for rule, count in report.failures_by_rule.most_common()}
    passed = not report.failed_chunks and report.invalid_share <= config.max_invalid_share
    check = dg.AssetCheckResult(
        check_name="transaction_rules_within_threshold",
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=report.summary() + ("" if passed else f"; failing batches: {report.failed_chunks[:5]}"),
        metadata={
            "invalid_share": report.invalid_share,
            "failures_by_rule": rules,
            "threshold": config.max_invalid_share,
        },
    )
    return dg.MaterializeResult(
        metadata={
            "rows": report.valid,
            "quarantined": report.quarantined,
            "malformed_messages": report.malformed,
            "invalid_share": report.invalid_share,
            "failures_by_rule": rules,
            "sources": len(report.sources),
            "history_days": len(days),
            "history_range": f"{days[0]}...{days[-1]}" if days else "none",
            "quarantine_path": str(quarantine),
            "dagster/column_schema": _schema(TRANSACTION_ARROW_SCHEMA),
        },
        check_results=[check],
        data_version=dg.DataVersion(fingerprint(out)),
    )


@dg.asset(group_name=GROUP, code_version="1", pool=KAFKA_INGEST_POOL)
def chargeback_labels(kafka: KafkaResource, lake: LakeResource) -> dg.MaterializeResult:
    """Chargeback labels from history and Kafka, de-duplicated to the earliest arrival per transaction."""
    sink = lake.path("stream", "chargebacks")
    report = kafka.consume(kafka.labels_topic, sink, LABEL_ARROW_SCHEMA)
    out = lake.path("labels", "chargebacks")
    counts = collect_labels(
        lake.history("chargebacks"), sink, out, LABEL_ARROW_SCHEMA, shared_features().spec.entity_id
    )
    return dg.MaterializeResult(
        metadata={
            **counts,
            "kafka": _ingest_metadata(report),
            "path": str(out),
            "dagster/column_schema": _schema(LABEL_ARROW_SCHEMA),
        },
        data_version=dg.DataVersion(fingerprint(out)),
    )


@dg.asset(group_name=GROUP, code_version="1", deps=[validated_transactions, chargeback_labels])
def transaction_features(lake: LakeResource, spark: SparkResource) -> dg.MaterializeResult:
    """Point-in-time features of every validated transaction (Spark): every declared model's, computed once."""
    table = shared_features()
    session = spark.session()
    transactions = session.read.parquet(str(lake.path("validated", "transactions")))
    labels = session.read.parquet(str(lake.path("labels", "chargebacks")))
    features = compute_features(transactions, labels, table.numeric_features, table.categorical_features, table.spec)
    out = lake.path("features", "transactions")
    features.write.mode("overwrite").parquet(str(out))
    rows = session.read.parquet(str(out)).count()
    return dg.MaterializeResult(
        metadata={"rows": rows, "path": str(out), "feature_definition_hash": table.spec.definition_hash()},
        data_version=dg.DataVersion(f"{table.spec.definition_hash()}-{fingerprint(out)}"),
    )


def training_set_asset(model: ModelDeclaration) -> dg.AssetsDefinition:
    """`<model>_training_set`: the shared features with the model's label as known at the training cutoff."""

    @dg.asset(
        name=f"{model.name}_training_set",
        group_name=model.name,
        code_version="1",
        deps=[transaction_features, chargeback_labels],
    )
    def training_set(config: TrainingSetConfig, lake: LakeResource, spark: SparkResource) -> dg.MaterializeResult:
        """The model's FeatureSpec columns with the label known at the training cutoff (Parquet part files)."""
        session = spark.session()
        features = session.read.parquet(str(lake.path("features", "transactions")))
        labels = session.read.parquet(str(lake.path("labels", "chargebacks")))
        segment = model.segment
        if segment is not None:  # a partitioned model learns from its slice of the parent's events only
            events = session.read.parquet(str(lake.path("validated", "transactions")))
            mine = events.where(F.col(segment.column).isin(list(segment.values))).select(model.spec.entity_id)
            features = features.join(mine, model.spec.entity_id, "left_semi")
        cutoff = (
            datetime.fromisoformat(config.cutoff)
            if config.cutoff
            else features.agg(F.max(model.spec.timestamp)).collect()[0][0]
        )
        window = TrainingWindow(cutoff=cutoff, label_maturity=timedelta(hours=config.label_maturity_hours))
        out = lake.path("training_sets", model.name)
        build_training_set(features, labels, model.spec, window).write.mode("overwrite").parquet(str(out))
        written = session.read.parquet(str(out))
        counts = written.agg(F.count("*").alias("rows"), F.sum(model.spec.label).alias("positives")).collect()[0]
        if segment is not None:
            short = too_little_data(segment, counts["rows"], int(counts["positives"] or 0))
            if short:
                raise dg.Failure(
                    description=f"segment {model.name} ({segment.column} in {list(segment.values)}): {short}; "
                    f"the parent '{segment.parent}' keeps serving it",
                    metadata={"rows": counts["rows"], "positives": int(counts["positives"] or 0)},
                )
        return dg.MaterializeResult(
            metadata={
                "model": model.name,
                "segment": f"{segment.column} in {list(segment.values)}" if segment else "all traffic",
                "rows": counts["rows"],
                "positives": int(counts["positives"] or 0),
                "cutoff": str(cutoff),
                "path": str(out),
                "feature_definition_hash": model.spec.definition_hash(),
            },
            data_version=dg.DataVersion(f"{model.spec.definition_hash()}-{fingerprint(out)}"),
        )

    return training_set


@dg.asset(group_name=GROUP, code_version="1", deps=[validated_transactions, chargeback_labels])
def online_features(lake: LakeResource) -> dg.MaterializeResult:
    """Latest per-entity feature state (cards, merchants, categories) that serving reads at request time (SQLite)."""
    path = lake.path("online", "features.sqlite")
    table = shared_features()
    engine = OnlineFeatureEngine(table.numeric_features, table.categorical_features)

    def build(store: SqliteStateStore) -> tuple[dict, str | None]:
        counts = build_online_state(
            engine,
            lake.path("validated", "transactions"),
            lake.path("labels", "chargebacks"),
            store,
            table.spec,
        )
        return counts, store.get_meta("as_of")

    # Built beside the live file and renamed into place: a running server never reads a half-built state.
    counts, as_of = build_and_publish(path, build)
    return dg.MaterializeResult(
        metadata={"entities": counts, "as_of": as_of, "path": str(path), "bytes": path.stat().st_size},
        data_version=dg.DataVersion(f"{table.spec.definition_hash()}-{as_of}"),
    )


PARTITION_RANGE_TAGS = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")
"""Run tags of a single-run partition range (what `--partition-range` and a backfill set)."""


@dg.sensor(
    name="history_days_sensor",
    target=[raw_transactions],
    minimum_interval_seconds=max(60, STACK.sensor_interval_seconds),
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def history_days_sensor(context: dg.SensorEvaluationContext, lake: LakeResource):
    """New date=... folders in the lake's history -> one raw_transactions run per range of new days."""
    table = lake.history("transactions")
    on_disk = history_days(table)
    keys = set(HISTORY_PARTITIONS.get_partition_keys())
    outside = [day for day in on_disk if day not in keys]
    note = (
        f"; {len(outside)} days left out ({', '.join(outside[:3])}): before FLYWHEEL_HISTORY_START or today (a "
        "day's partition opens when the day is over)"
        if outside
        else ""
    )
    materialized = context.instance.get_materialized_partitions(raw_transactions.key)
    ranges = missing_day_ranges([day for day in on_disk if day in keys], materialized)
    if not ranges:
        return dg.SkipReason(f"{len(on_disk)} days under {table}, every partition materialized{note}")
    in_flight = in_flight_run(context.instance, {"flywheel/trigger": "history"})
    if in_flight is not None:
        run_id = in_flight.dagster_run.run_id
        return dg.SkipReason(f"{len(ranges)} new day ranges wait for history run {run_id[:8]} to finish{note}")
    context.log.info(f"new history days: {ranges}{note}")
    return [
        dg.RunRequest(
            run_key=f"history {first}...{last}",
            asset_selection=[raw_transactions.key],
            tags={PARTITION_RANGE_TAGS[0]: first, PARTITION_RANGE_TAGS[1]: last, "flywheel/trigger": "history"},
        )
        for first, last in ranges
    ]


DATA_SENSORS = [history_days_sensor]

DATA_ASSETS = [
    raw_transactions,
    streamed_transactions,
    validated_transactions,
    chargeback_labels,
    transaction_features,
    online_features,
]


def data_resources(lake_root: str = ".flywheel/lake", bootstrap_servers: str = "127.0.0.1:9092") -> dict:
    """The resources the data assets need, for one environment."""
    return {
        "lake": LakeResource(root=lake_root),
        "kafka": KafkaResource(bootstrap_servers=bootstrap_servers),
        "spark": SparkResource(),
    }
