"""The newest JSON records of a Kafka topic by group (model), for sensors that look at recent traffic without
consuming it."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable

from kafka import KafkaConsumer, TopicPartition


class KafkaUnavailableError(RuntimeError):
    """No broker of the bootstrap list accepts connections."""


def check_reachable(bootstrap_servers: str, timeout_s: float = 2.0) -> None:
    """Raises KafkaUnavailableError naming the brokers unless one accepts a TCP connection.

    kafka-python blocks for ~30 s on an unreachable broker; sensors must answer in a second or two.
    """
    for server in bootstrap_servers.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout_s):
                return
        except OSError:
            continue
    raise KafkaUnavailableError(f"no Kafka broker reachable at {bootstrap_servers}")


def read_recent_by(
    bootstrap_servers: str,
    topic: str,
    wanted: dict[str, int],
    key: Callable[[dict], str | None],
    timeout_s: float = 10.0,
    max_lookback: int = 64,
) -> dict[str, list[dict]]:
    """The newest records of each group on a shared topic, read once for all groups: up to `wanted[group]` records
    of every group `key` names. The look-back starts at the sum of the wanted counts and doubles (up to
    `max_lookback` times that sum) while a group is short and the topic has older records."""
    check_reachable(bootstrap_servers)
    total = max(sum(wanted.values()), 1)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False, consumer_timeout_ms=1000)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            return {group: [] for group in wanted}
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        ends = consumer.end_offsets(assigned)
        begins = consumer.beginning_offsets(assigned)
        lookback = 1
        while True:
            records, reached_start = _read_tail(consumer, assigned, begins, ends, total * lookback)
            groups: dict[str, list[dict]] = {group: [] for group in wanted}
            for record in records:
                group = key(record)
                if group in groups:
                    groups[group].append(record)
            short = any(len(groups[g]) < n for g, n in wanted.items())
            if not short or reached_start or lookback >= max_lookback:
                return {g: rows[-wanted[g] :] if wanted[g] else [] for g, rows in groups.items()}
            lookback *= 2
    finally:
        consumer.close(autocommit=False)


def _read_tail(consumer, assigned, begins, ends, rows: int) -> tuple[list[dict], bool]:
    """The newest `rows` records over the partitions, decoded, and whether every partition was read from its start."""
    per_partition = max(rows // len(assigned), 1)
    wanted = 0
    reached_start = True
    for tp in assigned:
        start = max(ends[tp] - per_partition, begins[tp])
        reached_start = reached_start and start == begins[tp]
        consumer.seek(tp, start)
        wanted += ends[tp] - start
    records: list[dict] = []
    if wanted == 0:
        return records, reached_start
    for seen, message in enumerate(consumer, start=1):
        try:
            value = json.loads(message.value)
        except (TypeError, ValueError):
            value = None
        if isinstance(value, dict):
            records.append(value)
        if seen >= wanted:
            break
    return records, reached_start
