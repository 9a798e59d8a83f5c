"""The prediction log: every served score, with its features, to a Kafka topic for the feedback loop.

Off the request path: the server hands a whole request to a bounded in-memory queue (never blocking) and a
background thread encodes one JSON record per row and produces it. If the queue is full or Kafka fails, records
are dropped and counted, never waited for.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PredictionLogConfig:
    """Where prediction records go and how many may wait."""

    bootstrap_servers: str
    """Kafka bootstrap servers, host:port[,host:port]."""
    topic: str = "predictions"
    """Topic the records are produced to (key: transaction id)."""
    max_pending_requests: int = 10_000
    """Requests held in memory waiting to be sent; beyond it records are dropped (counted)."""
    producer_options: dict = field(default_factory=dict)
    """Extra kafka-python KafkaProducer options (linger_ms, acks, ...)."""


@dataclass(frozen=True)
class PredictionBatch:
    """One answered request: everything its log records need, still as arrays (encoded on the log thread)."""

    request_id: str
    """Server-assigned or client request id."""
    transaction_ids: list | None
    """One id per row, or None (then '<request_id>/<row>')."""
    model: str
    """Model name."""
    version: int
    """Model version that produced the scores."""
    features: dict[str, np.ndarray]
    """Columns by feature name (or by tensor name when no FeatureSpec maps them), one value/row each."""
    scores: np.ndarray
    """Scores, one per row."""
    time: float = field(default_factory=time.time)
    """Unix time the response was ready."""
    shadow: bool = False
    """True for a shadow version's scores of a mirrored request: logged and measured, never returned."""

    def records(self) -> list[dict]:
        """One JSON-ready dict per row."""
        columns = {name: np.asarray(values).tolist() for name, values in self.features.items()}
        scores = np.asarray(self.scores).reshape(-1).tolist()
        rows = []
        for i, score in enumerate(scores):
            transaction = self.transaction_ids[i] if self.transaction_ids else f"{self.request_id}/{i}"
            rows.append(
                {
                    "request_id": self.request_id,
                    "transaction_id": str(transaction),
                    "model": self.model,
                    "model_version": self.version,
                    "features": {name: values[i] for name, values in columns.items()},
                    "score": score,
                    "time": self.time,
                    **({"shadow": True} if self.shadow else {}),
                }
            )
        return rows


def kafka_producer_factory(config: PredictionLogConfig) -> Callable[[], object]:
    """Creates kafka-python producers lazily (creating one blocks while brokers are unreachable)."""

    def create():
        from kafka import KafkaProducer

        options = {"linger_ms": 20, "acks": 1, "retries": 3, "max_block_ms": 2000, **config.producer_options}
        return KafkaProducer(bootstrap_servers=config.bootstrap_servers, **options)

    return create


class PredictionLog:
    """A bounded queue and one sender thread; `record` never blocks the caller."""

    def __init__(
        self,
        config: PredictionLogConfig,
        producer_factory: Callable[[], object] | None = None,
        count: Callable[[str, int], None] | None = None,
        pending: Callable[[int], None] | None = None,
    ) -> None:
        self.config = config
        self._factory = producer_factory or kafka_producer_factory(config)
        self._count = count or (lambda outcome, n: None)
        self._pending = pending or (lambda n: None)
        self._queue: queue.Queue[PredictionBatch | None] = queue.Queue(maxsize=config.max_pending_requests)
        self._thread: threading.Thread | None = None
        self._producer = None

    def start(self) -> PredictionLog:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
            self._thread.start()
        return self

    def record(self, batch: PredictionBatch) -> bool:
        """Queues a request's records; False (and counted as dropped) if the queue is full."""
        try:
            self._queue.put_nowait(batch)
        except queue.Full:
            self._count("dropped_queue_full", len(batch.scores))
            return False
        return True

    def close(self, timeout_s: float = 5.0) -> None:
        """Sends what is queued (within the timeout) and stops the thread."""
        if self._thread is None:
            return
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=timeout_s)
        self._thread.join(timeout_s)
        self._thread = None

    def _connect(self) -> bool:
        try:
            self._producer = self._factory()
        except Exception as exc:  # noqa: BLE001 - brokers unreachable: the caller drops and backs off
            log.warning("prediction log: cannot reach Kafka at %s: %s", self.config.bootstrap_servers, exc)
            return False
        return True

    def _drain_as_dropped(self) -> bool:
        """Counts everything queued as dropped; True if the stop sentinel was among it."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return False
            if item is None:
                return True
            self._count("dropped_kafka_error", len(item.scores))

    def _run(self) -> None:
        backoff = 0.5
        while True:
            try:
                item = self._queue.get(timeout=0.5)
            except queue.Empty:
                self._flush()
                continue
            if item is None:
                break
            self._pending(self._queue.qsize())
            if self._producer is None and not self._connect():
                self._count("dropped_kafka_error", len(item.scores))
                if self._drain_as_dropped():
                    break
                time.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            backoff = 0.5
            self._send(self._producer, item)
        self._flush()
        if self._producer is not None:
            try:
                self._producer.close(timeout=2)
            except Exception:
                log.exception("prediction log: closing the producer failed")

    def _send(self, producer, item: PredictionBatch) -> None:
        for record in item.records():
            try:
                future = producer.send(
                    self.config.topic,
                    key=record["transaction_id"].encode(),
                    value=json.dumps(record, separators=(",", ":")).encode(),
                )
            except Exception as exc:  # noqa: BLE001 - any send failure drops (and counts) the record
                log.warning("prediction log: send failed (%s); record dropped", exc)
                self._count("dropped_kafka_error", 1)
                continue
            future.add_callback(lambda _meta: self._count("sent", 1))
            future.add_errback(lambda _exc: self._count("dropped_kafka_error", 1))

    def _flush(self) -> None:
        if self._producer is not None:
            try:
                self._producer.flush(timeout=5)
            except Exception as exc:  # noqa: BLE001 - a failed flush must not stop the sender
                log.warning("prediction log: flush failed: %s", exc)
