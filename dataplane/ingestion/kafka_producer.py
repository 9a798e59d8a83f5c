"""Streams Arrow rows to a Kafka topic as JSON at a given rate (the generator's live feed)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pyarrow as pa
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from dataplane.ingestion.json_records import encode_rows


@dataclass(frozen=True)
class StreamReport:
    """How many messages were sent, and how fast."""

    messages: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else float("inf")


def ensure_topic(bootstrap_servers: str, topic: str, partitions: int) -> None:
    """Creates `topic` with `partitions` partitions unless it exists."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    except TopicAlreadyExistsError:
        pass
    finally:
        admin.close()


def stream_table(
    bootstrap_servers: str,
    topic: str,
    table: pa.Table,
    key_column: str | None,
    rate_per_second: float | None = None,
    chunk: int = 1_000,
) -> StreamReport:
    """Sends every row of `table` (keyed by `key_column`, so one key stays in order) at most `rate_per_second`."""
    producer = KafkaProducer(
        bootstrap_servers=bootstrap_servers, acks="all", linger_ms=20, batch_size=256 * 1024, compression_type=None
    )
    started = time.monotonic()
    sent = 0
    try:
        for offset in range(0, table.num_rows, chunk):
            part = table.slice(offset, chunk)
            keys = part.column(key_column).to_pylist() if key_column else [None] * part.num_rows
            for key, value in zip(keys, encode_rows(part), strict=True):
                producer.send(topic, key=key.encode() if key is not None else None, value=value)
            sent += part.num_rows
            if rate_per_second:
                ahead = sent / rate_per_second - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
        producer.flush()
    finally:
        producer.close()
    return StreamReport(messages=sent, seconds=time.monotonic() - started)


def send_raw(bootstrap_servers: str, topic: str, values: list[bytes], key: bytes | None = None) -> None:
    """Sends raw message bytes as they are (to feed malformed messages in tests and demos)."""
    producer = KafkaProducer(bootstrap_servers=bootstrap_servers, acks="all")
    try:
        for value in values:
            producer.send(topic, key=key, value=value)
        producer.flush()
    finally:
        producer.close()
