"""The data plane's stages as plain functions over lake folders: validate, collect labels, build online state.

Dagster assets in `assets/data_assets.py` call these; tests call them directly.
Each stage rewrites its output folder whole, so re-running a stage is idempotent.
"""

from __future__ import annotations

import hashlib
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pandera.pandas as pa_schema
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from assets.ingestion.json_records import ERROR_COLUMN, RAW_COLUMN
from assets.ingestion.kafka_sink import KAFKA_TIME_COLUMN, OFFSET_COLUMN, PARTITION_COLUMN, ParquetOffsetSink
from assets.quarantine import REASON_COLUMN, RULE_COLUMN, validate_rows
from domain.online_features import OnlineFeatureEngine, replay
from domain.online_store import SqliteStateStore

_KAFKA_COLUMNS = (ERROR_COLUMN, RAW_COLUMN, PARTITION_COLUMN, OFFSET_COLUMN, KAFKA_TIME_COLUMN)


def fingerprint(folder: Path) -> str:
    """A short hash of the Parquet files under `folder` (names and sizes): the data version of a lake table."""
    digest = hashlib.sha256()
    for path in sorted(Path(folder).rglob("*.parquet")):
        digest.update(f"{path.relative_to(folder)}:{path.stat().st_size}\n".encode())
    return digest.hexdigest()[:16]


def parquet_files(folder: Path) -> list[Path]:
    """Parquet files under `folder`, sorted (Hive-style date=... folders sort by date)."""
    return sorted(Path(folder).rglob("*.parquet")) if Path(folder).exists() else []


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


def _chunks(history: Path, stream: Path, arrow_schema: pa.Schema):
    """(source name, valid-looking frame, malformed Kafka rows) per history file and for the stream."""
    names = arrow_schema.names
    for path in parquet_files(history):
        yield str(path), pq.read_table(path, columns=names).cast(arrow_schema).to_pandas(), None
    streamed = ParquetOffsetSink(stream).read() if Path(stream).exists() else None
    if streamed is not None and streamed.num_rows:
        bad = streamed.filter(pc.is_valid(streamed[ERROR_COLUMN]))
        good = streamed.filter(pc.is_null(streamed[ERROR_COLUMN])).select(names).cast(arrow_schema)
        yield f"{stream} ({streamed.num_rows} Kafka messages)", good.to_pandas(), bad


def validate_to_lake(
    history: Path,
    stream: Path,
    out: Path,
    quarantine: Path,
    schema: pa_schema.DataFrameSchema,
    arrow_schema: pa.Schema,
    max_invalid_share: float,
) -> ValidationReport:
    """Validates history files and streamed batches chunk by chunk; writes valid rows to `out` and the rest to
    `quarantine` with a rule and reason per row. A chunk whose invalid share passes `max_invalid_share` is
    quarantined whole (so a broken batch never reaches features) and listed in `failed_chunks`."""
    _reset(out)
    _reset(quarantine)
    report = ValidationReport()
    for number, (source, frame, malformed) in enumerate(_chunks(history, stream, arrow_schema)):
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
            pq.write_table(table, out / f"part-{number:05d}.parquet")
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
    id_column: str,
    definition_hash: str,
) -> dict[str, int]:
    """Replays validated transactions and label arrivals through the online engine; stores each entity's state."""
    events_table = pa.concat_tables([pq.read_table(p) for p in parquet_files(transactions)])
    events = events_table.sort_by("event_time").to_pylist()
    label_frame = pq.read_table(Path(labels) / "labels.parquet").to_pandas()
    arrivals = [
        (key, at.to_pydatetime(), float(value))
        for key, at, value in zip(
            label_frame[id_column], label_frame["label_time"], label_frame["is_fraud"], strict=True
        )
    ]
    _, states = replay(engine, events, arrivals, id_column)
    for entity, by_key in states.items():
        store.put_many(entity, by_key)
    as_of = str(events[-1]["event_time"]) if events else ""
    store.set_meta("as_of", as_of)
    store.set_meta("definition_hash", definition_hash)
    return {entity: len(by_key) for entity, by_key in states.items()}
