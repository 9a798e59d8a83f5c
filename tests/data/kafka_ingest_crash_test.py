"""Kafka ingestion survives SIGKILL between write and commit: every transaction lands exactly once."""

import os
import subprocess
import sys
from collections import Counter

import pyarrow.compute as pc
import pytest

from dataplane.ingestion.kafka_producer import ensure_topic, send_raw, stream_table
from dataplane.ingestion.kafka_sink import ERROR_COLUMN, ParquetOffsetSink, valid_rows
from domain.generator import GeneratorConfig, Population, generate_day

WORKER = os.path.join(os.path.dirname(__file__), "ingest_worker.py")


def _worker(bootstrap, topic, sink, kill_after_writes):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    return subprocess.run(
        [sys.executable, WORKER, "--bootstrap", bootstrap, "--topic", topic, "--sink", str(sink)]
        + ["--batch-rows", "150", "--kill-after-writes", str(kill_after_writes)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def day():
    config = GeneratorConfig(n_cards=1_000, n_merchants=200, days=1, seed=11)
    return generate_day(config, Population(config), 0)


def test_sigkill_between_write_and_commit_loses_and_duplicates_nothing(kafka_service, day, tmp_path):
    topic = "crash-transactions"
    ensure_topic(kafka_service.bootstrap_servers, topic, partitions=3)
    stream_table(kafka_service.bootstrap_servers, topic, day.transactions, key_column="card_id")
    send_raw(kafka_service.bootstrap_servers, topic, [b"{not json", b'{"transaction_id": 5}'])

    crashed = _worker(kafka_service.bootstrap_servers, topic, tmp_path, kill_after_writes=3)
    assert crashed.returncode == -9, f"worker should have been SIGKILLed:\n{crashed.stdout}\n{crashed.stderr}"
    sink = ParquetOffsetSink(tmp_path)
    assert len(sink.files()) == 3, "the killed worker wrote exactly three batches (none of them committed last)"

    finished = _worker(kafka_service.bootstrap_servers, topic, tmp_path, kill_after_writes=0)
    assert finished.returncode == 0, finished.stderr

    table = sink.read()
    ids = Counter(valid_rows(table).column("transaction_id").to_pylist())
    expected = day.transactions.column("transaction_id").to_pylist()
    assert set(ids) == set(expected), "no transaction lost"
    assert max(ids.values()) == 1, f"duplicated: {[k for k, v in ids.items() if v > 1][:5]}"
    offsets = Counter(zip(table["_partition"].to_pylist(), table["_offset"].to_pylist(), strict=True))
    assert max(offsets.values()) == 1, "no Kafka offset written twice"
    malformed = table.filter(pc.is_valid(table[ERROR_COLUMN]))[ERROR_COLUMN].to_pylist()
    assert (
        len(malformed) == 2
        and any("not JSON" in m for m in malformed)
        and any("expected string" in m for m in malformed)
    )


def test_a_rerun_after_catching_up_reads_nothing_new(kafka_service, day, tmp_path):
    topic = "rerun-transactions"
    ensure_topic(kafka_service.bootstrap_servers, topic, partitions=2)
    stream_table(kafka_service.bootstrap_servers, topic, day.transactions.slice(0, 300), key_column="card_id")
    first = _worker(kafka_service.bootstrap_servers, topic, tmp_path, kill_after_writes=0)
    second = _worker(kafka_service.bootstrap_servers, topic, tmp_path, kill_after_writes=0)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert '"rows": 300' in first.stdout and '"rows": 0' in second.stdout
    assert ParquetOffsetSink(tmp_path).read().num_rows == 300
