"""Prometheus metrics of the inference server (prometheus-client), multi-process aware.

With several worker processes, each writes its samples to PROMETHEUS_MULTIPROC_DIR (set by the supervisor before
the workers start) and /metrics on any worker aggregates all of them.
"""

from __future__ import annotations

import os
import time

import numpy as np
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

RUN_SECONDS_BUCKETS = (1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 0.1, 0.5)
DIFFERENCE_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5)
SCORE_BUCKETS = tuple(round(0.05 * i, 2) for i in range(1, 21))
CONTENT_TYPE = CONTENT_TYPE_LATEST


def batch_buckets(max_batch_size: int = 1024) -> tuple[float, ...]:
    buckets, size = [], 1
    while size < max_batch_size:
        buckets.append(float(size))
        size *= 2
    return (*buckets, float(max_batch_size))


class ServingMetrics:
    """Every metric the server exports; label children are cached so the request path pays one dict lookup."""

    def __init__(self, max_batch_size: int = 1024) -> None:
        self.multiprocess_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
        self.registry = CollectorRegistry()
        registry = self.registry
        self.requests = Counter(
            "flywheel_inference_requests",
            "Inference requests by model, version, endpoint and HTTP status.",
            ["model", "version", "endpoint", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "flywheel_inference_request_duration_seconds",
            "Time from a request's last byte to its response, by model and endpoint.",
            ["model", "endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.batch_size = Histogram(
            "flywheel_inference_batch_size",
            "Rows per model run formed by the dynamic batcher.",
            ["model"],
            buckets=batch_buckets(max_batch_size),
            registry=registry,
        )
        self.batch_requests = Histogram(
            "flywheel_inference_batch_requests",
            "Requests coalesced into one model run.",
            ["model"],
            buckets=batch_buckets(max_batch_size),
            registry=registry,
        )
        self.run_seconds = Histogram(
            "flywheel_inference_model_run_seconds",
            "Time of one model run (one batch).",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.queue_depth = Gauge(
            "flywheel_inference_queue_rows",
            "Rows waiting in the batching queue.",
            ["model"],
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.loaded_version = Gauge(
            "flywheel_model_loaded_version",
            "Version number each model serves (the highest across workers).",
            ["model"],
            multiprocess_mode="livemax",
            registry=registry,
        )
        self.version_workers = Gauge(
            "flywheel_model_version_workers",
            "Worker processes serving each model version (1 per worker; 0 once it is replaced).",
            ["model", "version"],
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.model_memory = Gauge(
            "flywheel_model_memory_bytes",
            "Resident memory each model's serving version added to its worker when it loaded (summed over workers).",
            ["model"],
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.reloads = Counter(
            "flywheel_model_reloads",
            "Version load attempts by outcome (loaded or refused).",
            ["model", "version", "outcome"],
            registry=registry,
        )
        self.scores = Histogram(
            "flywheel_inference_score",
            "Distribution of the scores served.",
            ["model"],
            buckets=SCORE_BUCKETS,
            registry=registry,
        )
        self.segment_routes = Counter(
            "flywheel_segment_requests",
            "Transaction requests for a partitioned model by the model that served them (a segment, or the parent "
            "as fallback).",
            ["model", "served_by"],
            registry=registry,
        )
        self.log_records = Counter(
            "flywheel_prediction_log_records",
            "Prediction log records by outcome: sent, dropped_queue_full, dropped_kafka_error.",
            ["outcome"],
            registry=registry,
        )
        self.log_pending = Gauge(
            "flywheel_prediction_log_pending",
            "Prediction log records waiting to be sent.",
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.rollout_requests = Counter(
            "flywheel_rollout_requests",
            "While a model serves more than one version: requests each version scored, by role (served: its answer "
            "was returned; shadow: mirrored, not returned), deployment sequence and outcome (ok, error: the run "
            "failed, invalid: NaN or a score outside the contract's range, dropped: the shadow queue was full).",
            ["model", "version", "role", "sequence", "outcome"],
            registry=registry,
        )
        self.rollout_latency = Histogram(
            "flywheel_rollout_run_seconds",
            "While a model serves more than one version: time each version's runtime took for one batch (inside "
            "the runtime call: queueing, thread hand-off and the other version's traffic do not count), by role "
            "and deployment sequence.",
            ["model", "version", "role", "sequence"],
            buckets=RUN_SECONDS_BUCKETS,
            registry=registry,
        )
        self.score_difference = Histogram(
            "flywheel_rollout_score_difference",
            "|shadow score - served score| on the same request rows, by shadow version and deployment sequence.",
            ["model", "version", "sequence"],
            buckets=DIFFERENCE_BUCKETS,
            registry=registry,
        )
        self.rollout_fallbacks = Counter(
            "flywheel_rollout_fallbacks",
            "Canary answers that failed or were invalid and were answered by the primary version instead.",
            ["model", "version"],
            registry=registry,
        )
        self.rollout_weight = Gauge(
            "flywheel_rollout_weight_percent",
            "Percent of a model's traffic each version answers (shadow versions: 0, see flywheel_rollout_shadow).",
            ["model", "version"],
            multiprocess_mode="livemax",
            registry=registry,
        )
        self.rollout_shadow = Gauge(
            "flywheel_rollout_shadow",
            "1 while a version shadows the model's traffic.",
            ["model", "version"],
            multiprocess_mode="livemax",
            registry=registry,
        )
        self.rollbacks = Gauge(
            "flywheel_rollout_rollbacks",
            "Automatic rollbacks recorded in the model's deployment so far (only grows; alert on a change).",
            ["model"],
            multiprocess_mode="max",
            registry=registry,
        )
        self._request_children: dict[tuple, tuple] = {}
        self._rollout_children: dict[tuple, object] = {}
        self._run_children: dict[tuple, object] = {}
        self._difference_children: dict[tuple, object] = {}
        self._score_children: dict[str, object] = {}

    def request(self, model: str, version: str, endpoint: str, status: int, seconds: float) -> None:
        """Counts one answered request and observes its latency."""
        key = (model, version, endpoint, status)
        children = self._request_children.get(key)
        if children is None:
            children = (
                self.requests.labels(model, version, endpoint, str(status)),
                self.latency.labels(model, endpoint),
            )
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def rollout_outcome(self, model: str, version: int, role: str, sequence: int, outcome: str) -> None:
        """Counts one request a version scored (or dropped) during a rollout."""
        key = (model, version, role, sequence, outcome)
        child = self._rollout_children.get(key)
        if child is None:
            child = self.rollout_requests.labels(model, str(version), role, str(sequence), outcome)
            self._rollout_children[key] = child
        child.inc()

    def rollout_run(self, model: str, version: int, role: str, sequence: int, seconds: float) -> None:
        """Observes one model run (one batch) of a version during a rollout."""
        key = (model, version, role, sequence)
        child = self._run_children.get(key)
        if child is None:
            child = self._run_children[key] = self.rollout_latency.labels(model, str(version), role, str(sequence))
        child.observe(seconds)

    def observe_difference(self, model: str, version: int, sequence: int, differences: np.ndarray) -> None:
        key = (model, version, sequence)
        child = self._difference_children.get(key)
        if child is None:
            child = self._difference_children[key] = self.score_difference.labels(model, str(version), str(sequence))
        for value in np.asarray(differences, dtype=np.float64).reshape(-1).tolist():
            child.observe(value)

    def deployment_applied(self, model: str, deployment, previous) -> None:
        """Weights, shadows and the rollback count of the deployment a worker now serves."""
        if previous is not None:
            for version in previous.versions:
                self.rollout_weight.labels(model, str(version)).set(0)
                self.rollout_shadow.labels(model, str(version)).set(0)
        for version, weight in deployment.weights.items():
            self.rollout_weight.labels(model, str(version)).set(weight)
        for version in deployment.shadow:
            self.rollout_shadow.labels(model, str(version)).set(1)
        self.rollbacks.labels(model).set(deployment.rollbacks)

    def observe_scores(self, model: str, scores: np.ndarray) -> None:
        child = self._score_children.get(model)
        if child is None:
            child = self._score_children[model] = self.scores.labels(model)
        for value in np.asarray(scores, dtype=np.float64).reshape(-1).tolist():
            child.observe(value)

    def version_switched(self, model: str, old: int | None, new: int) -> None:
        if old is not None:
            self.version_workers.labels(model, str(old)).set(0)
        self.version_workers.labels(model, str(new)).set(1)
        self.loaded_version.labels(model).set(new)

    def batch_observer(self, model: str) -> BatchMetrics:
        return BatchMetrics(self, model)

    def exposition(self) -> bytes:
        """The text format for GET /metrics (aggregated over workers in multi-process mode)."""
        if self.multiprocess_dir:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)


class VersionRunTimer:
    """Times one loaded version's runtime calls (on its batcher thread) and, while its deployment holds several
    versions, records them as rollout evidence labelled with the deployment's sequence and the version's role."""

    def __init__(self, metrics: ServingMetrics, host, model) -> None:
        self._metrics = metrics
        self._host = host
        self._model = model

    def __call__(self, inputs):
        started = time.perf_counter()
        result = self._model.run(inputs)
        seconds = time.perf_counter() - started
        routing = self._host.routing
        deployment = routing.deployment if routing is not None else None
        version = self._model.version
        if deployment is not None and len(deployment.versions) > 1 and version in deployment.versions:
            role = "shadow" if version in deployment.shadow else "served"
            self._metrics.rollout_run(self._host.name, version, role, deployment.sequence, seconds)
        return result


class BatchMetrics:
    """The dynamic batcher's observer for one model."""

    def __init__(self, metrics: ServingMetrics, model: str) -> None:
        self._size = metrics.batch_size.labels(model)
        self._requests = metrics.batch_requests.labels(model)
        self._run = metrics.run_seconds.labels(model)
        self._depth = metrics.queue_depth.labels(model)

    def batch_ran(self, rows: int, requests: int, seconds: float) -> None:
        self._size.observe(rows)
        self._requests.observe(requests)
        self._run.observe(seconds)

    def queue_depth(self, rows: int) -> None:
        self._depth.set(rows)
