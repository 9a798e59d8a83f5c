"""The data plane's stages as plain functions over lake folders: validate, collect labels, build online state.

Dagster assets in `assets/data_assets.py` call these; tests call them directly.
Each stage rewrites its output folder whole, so re-running a stage is idempotent.
"""

from __future__ import annotations

import hashlib
import shutil
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pandera.pandas as pa_schema
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dataplane.ingestion.json_records import ERROR_COLUMN, RAW_COLUMN
from dataplane.ingestion.kafka_sink import (
    KAFKA_TIME_COLUMN,
    OFFSET_COLUMN,
    PARQUET_DICTIONARY_PAGE_LIMIT,
    PARTITION_COLUMN,
    ParquetOffsetSink,
)
from dataplane.quarantine import REASON_COLUMN, RULE_COLUMN, validate_rows
from dataplane.validation_frame import validation_frame
from features.online_engine import OnlineFeatureEngine
from features.online_state_bulk import bulk_states
from features.online_store import SqliteStateStore
from features.spec import FeatureSpec

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_KAFKA_COLUMNS = (ERROR_COLUMN, RAW_COLUMN, PARTITION_COLUMN, OFFSET_COLUMN, KAFKA_TIME_COLUMN)


def fingerprint(*folders: Path) -> str:
    """A short hash of the Parquet files under `folders` (names and sizes): the data version of a lake table."""
    digest = hashlib.sha256()
    for folder in folders:
        for path in sorted(Path(folder).rglob("*.parquet")):
            digest.update(f"{Path(folder).name}/{path.relative_to(folder)}:{path.stat().st_size}\n".encode())
    return digest.hexdigest()[:16]


def parquet_files(folder: Path) -> list[Path]:
    """Parquet files under `folder`, sorted (Hive-style date=... folders sort by date)."""
    return sorted(Path(folder).rglob("*.parquet")) if Path(folder).exists() else []


def day_folder(table: Path, day: str) -> Path:
    """The Hive-style folder of one day of a date-partitioned table: `<table>/date=YYYY-MM-DD`."""
    return Path(table, f"date={day}")


def history_days(table: Path) -> list[str]:
    """The days (YYYY-MM-DD) a date-partitioned table holds Parquet for, oldest first."""
    days = {p.relative_to(table).parts[0].removeprefix("date=") for p in parquet_files(table)}
    return sorted(day for day in days if len(day) == 10)


def missing_day_ranges(days: list[str], materialized: Collection[str]) -> list[tuple[str, str]]:
    """Runs of consecutive calendar days in `days` that are not in `materialized`, as (first, last) pairs."""
    ranges: list[tuple[str, str]] = []
    for day in sorted(set(days) - set(materialized)):
        if ranges and date.fromisoformat(day) - date.fromisoformat(ranges[-1][1]) == timedelta(days=1):
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def _reset(folder: Path) -> Path:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


@dataclass
class ValidationReport:
    """What validation let through, what it quarantined and why."""

    rows: int = 0
    valid: int = 0
    quarantined: int = 0
    malformed: int = 0
    failures_by_rule: Counter = field(default_factory=Counter)
    sources: list[str] = field(default_factory=list)
    failed_chunks: list[str] = field(default_factory=list)

    @property
    def invalid_share(self) -> float:
        return self.quarantined / self.rows if self.rows else 0.0

    def summary(self) -> str:
        rules = ", ".join(f"{rule} x{n}" for rule, n in self.failures_by_rule.most_common())
        return (
            f"{self.quarantined}/{self.rows} rows quarantined ({self.invalid_share:.2%}){': ' + rules if rules else ''}"
        )


def _chunks(history: Path, stream: Path, arrow_schema: pa.Schema, days: Collection[str] | None):
    """(source name, valid-looking frame, malformed Kafka rows) per history file of `days` (None: all) and for the
    stream."""
    names = arrow_schema.names
    files = (
        parquet_files(history)
        if days is None
        else [f for d in sorted(days) for f in parquet_files(day_folder(history, d))]
    )
    for path in files:
        yield str(path), validation_frame(pq.read_table(path, columns=names).cast(arrow_schema)), None
    kept = [*names, ERROR_COLUMN, RAW_COLUMN]  # Kafka partition, offset and time are not validated
    streamed = ParquetOffsetSink(stream).read(columns=kept) if Path(stream).exists() else None
    if streamed is not None and streamed.num_rows:
        if streamed[ERROR_COLUMN].null_count == streamed.num_rows:  # nothing malformed: no filtered copies
            good, bad = streamed.select(names), None
        else:
            bad = streamed.filter(pc.is_valid(streamed[ERROR_COLUMN]))
            good = streamed.filter(pc.is_null(streamed[ERROR_COLUMN])).select(names)
        yield f"{stream} ({streamed.num_rows} Kafka messages)", validation_frame(good.cast(arrow_schema)), bad


def validate_to_lake(
    history: Path,
    stream: Path,
    out: Path,
    quarantine: Path,
    schema: pa_schema.DataFrameSchema,
    arrow_schema: pa.Schema,
    max_invalid_share: float,
    days: Collection[str] | None = None,
) -> ValidationReport:
    """Validates history files (of `days` only, when given) and streamed batches chunk by chunk; writes valid rows
    to `out` and the rest to `quarantine` with a rule and reason per row. A chunk whose invalid share passes
    `max_invalid_share` is quarantined whole (so a broken batch never reaches features) and listed in
    `failed_chunks`."""
    _reset(out)
    _reset(quarantine)
    report = ValidationReport()
    for number, (source, frame, malformed) in enumerate(_chunks(history, stream, arrow_schema, days)):
        report.sources.append(source)
        outcome = validate_rows(frame, schema)
        valid, bad = outcome.valid, outcome.quarantined
        report.failures_by_rule.update(outcome.failures_by_rule)
        if not outcome.passes(max_invalid_share):
            report.failed_chunks.append(f"{source}: {outcome.summary()}")
            extra = valid.assign(**{RULE_COLUMN: "batch.invalid_share", REASON_COLUMN: "batch over threshold"})
            bad, valid = pd.concat([bad, extra]), valid.iloc[:0]
        if malformed is not None and malformed.num_rows:
            report.malformed += malformed.num_rows
            report.failures_by_rule["kafka.malformed"] += malformed.num_rows
            kafka_bad = pd.DataFrame(
                {
                    RULE_COLUMN: "kafka.malformed",
                    REASON_COLUMN: malformed[ERROR_COLUMN].to_pylist(),
                    RAW_COLUMN: [bytes(v).decode("utf-8", "replace") for v in malformed[RAW_COLUMN].to_pylist()],
                }
            )
            bad = pd.concat([bad, kafka_bad], ignore_index=True)
        report.rows += len(frame) + (malformed.num_rows if malformed is not None else 0)
        report.valid += len(valid)
        report.quarantined += len(bad)
        if len(valid):
            table = pa.Table.from_pandas(valid, schema=arrow_schema, preserve_index=False)
            pq.write_table(
                table, out / f"part-{number:05d}.parquet", dictionary_pagesize_limit=PARQUET_DICTIONARY_PAGE_LIMIT
            )
        if len(bad):
            bad = bad.astype({c: "string" for c in bad.columns if bad[c].dtype == object})
            pq.write_table(pa.Table.from_pandas(bad, preserve_index=False), quarantine / f"part-{number:05d}.parquet")
    return report


def collect_labels(history: Path, stream: Path, out: Path, arrow_schema: pa.Schema, id_column: str) -> dict:
    """History and Kafka chargebacks, de-duplicated to the earliest arrival per id, as out/labels.parquet."""
    tables = [pq.read_table(p, columns=arrow_schema.names).cast(arrow_schema) for p in parquet_files(history)]
    malformed = 0
    streamed = ParquetOffsetSink(stream).read() if Path(stream).exists() else None
    if streamed is not None and streamed.num_rows:
        malformed = streamed.filter(pc.is_valid(streamed[ERROR_COLUMN])).num_rows
        tables.append(streamed.filter(pc.is_null(streamed[ERROR_COLUMN])).select(arrow_schema.names).cast(arrow_schema))
    labels = pa.concat_tables(tables) if tables else arrow_schema.empty_table()
    frame = labels.to_pandas().dropna(subset=[id_column, "label_time"]).sort_values("label_time", kind="stable")
    unique = frame.drop_duplicates(subset=[id_column], keep="first")
    _reset(out)
    pq.write_table(pa.Table.from_pandas(unique, schema=arrow_schema, preserve_index=False), out / "labels.parquet")
    return {
        "received": labels.num_rows,
        "unique": len(unique),
        "duplicates": len(frame) - len(unique),
        "malformed": malformed,
    }


def build_online_state(
    engine: OnlineFeatureEngine,
    transactions: Path,
    labels: Path,
    store: SqliteStateStore,
    spec: FeatureSpec,
) -> dict[str, int]:
    """Builds every entity's online state from validated transactions and label arrivals up to the newest
    transaction, column-wise (the same states an event-by-event replay ends with), and stores them."""
    id_column = spec.entity_id
    needed = {spec.timestamp, id_column, *engine.entities}
    for needs in engine.needs.values():
        needed.update(needs.window_columns, needs.moment_columns, needs.novelty_columns)
    files = parquet_files(transactions)
    if not files:
        raise FileNotFoundError(f"no validated transactions under {transactions}; materialize validated_transactions")
    schema = pq.read_schema(files[0])
    columns = [name for name in schema.names if name in needed]
    text = [name for name in columns if name != id_column and pa.types.is_string(schema.field(name).type)]
    events = pa.concat_tables(
        [pq.read_table(p, columns=columns, read_dictionary=text) for p in files], promote_options="permissive"
    )
    label_table = pq.read_table(Path(labels) / "labels.parquet")
    built = bulk_states(
        engine, events, label_table, id_column, label_value_column=spec.label, time_column=spec.timestamp
    )
    for entity, by_key in built.states.items():
        store.put_many(entity, by_key)
    as_of = "" if built.as_of_us is None else str(_EPOCH + timedelta(microseconds=built.as_of_us))
    store.set_meta("as_of", as_of)
    store.set_meta("labels_used", str(built.labels_used))
    store.set_meta("definition_hash", spec.definition_hash())
    return {entity: len(by_key) for entity, by_key in built.states.items()}
