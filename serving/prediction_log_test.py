"""The prediction log never blocks the caller, sends one record per row, and counts what it drops."""

import collections
import json
import threading
import time

import numpy as np

from serving.prediction_log import PredictionBatch, PredictionLog, PredictionLogConfig


class FakeFuture:
    def __init__(self):
        self.callbacks = []

    def add_callback(self, fn):
        fn(None)

    def add_errback(self, fn):
        pass


class FakeProducer:
    def __init__(self, gate: threading.Event | None = None):
        self.sent = []
        self.gate = gate

    def send(self, topic, key, value):
        if self.gate is not None:
            self.gate.wait(5)
        self.sent.append((topic, key, json.loads(value)))
        return FakeFuture()

    def flush(self, timeout=None):
        pass

    def close(self, timeout=None):
        pass


def counter():
    counts = collections.Counter()
    return counts, lambda outcome, n: counts.update({outcome: n})


def batch(rows=2, ids=None):
    return PredictionBatch(
        "req-1",
        ids,
        "scorer",
        3,
        {"amount": np.arange(rows, dtype=np.float32), "merchant": np.arange(rows)},
        np.full((rows, 1), 0.25),
    )


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not predicate():
        time.sleep(0.01)
    return predicate()


def test_one_record_per_row_with_features_score_version_and_ids():
    producer = FakeProducer()
    counts, count = counter()
    log = PredictionLog(PredictionLogConfig("unused:9092", topic="preds"), lambda: producer, count).start()
    assert log.record(batch(2, ids=["t-a", "t-b"]))
    assert wait_for(lambda: len(producer.sent) == 2)
    log.close()
    topic, key, record = producer.sent[1]
    assert topic == "preds" and key == b"t-b"
    assert record["request_id"] == "req-1" and record["transaction_id"] == "t-b"
    assert record["model"] == "scorer" and record["model_version"] == 3
    assert record["features"] == {"amount": 1.0, "merchant": 1} and record["score"] == 0.25
    assert record["time"] > 0
    assert counts["sent"] == 2


def test_records_without_transaction_ids_get_request_scoped_ids():
    assert [r["transaction_id"] for r in batch(2).records()] == ["req-1/0", "req-1/1"]


def test_full_queue_drops_and_counts_without_blocking():
    gate = threading.Event()
    producer = FakeProducer(gate)
    counts, count = counter()
    log = PredictionLog(PredictionLogConfig("unused:9092", max_pending_requests=2), lambda: producer, count).start()
    started = time.perf_counter()
    accepted = [log.record(batch(1)) for _ in range(20)]
    elapsed = time.perf_counter() - started
    gate.set()
    log.close()
    assert elapsed < 0.5, "record() must never wait for Kafka"
    assert accepted.count(False) >= 17
    assert counts["dropped_queue_full"] == accepted.count(False)


def test_unreachable_kafka_drops_and_counts():
    counts, count = counter()

    def no_brokers():
        raise ConnectionError("NoBrokersAvailable")

    log = PredictionLog(PredictionLogConfig("127.0.0.1:1"), no_brokers, count).start()
    for _ in range(5):
        log.record(batch(3))
    assert wait_for(lambda: counts["dropped_kafka_error"] >= 15)
    log.close(timeout_s=2)
