"""The inference server: Open Inference Protocol v2 over HTTP, dynamic batching, metrics, hot reload, prediction log.

    python -m serving.server --repository models/ --port 8000 --workers 2

Handlers are thin: decode (oip_codec) -> batch (dynamic_batcher) -> encode; the rest lives in its own module.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import gc
import itertools
import json
import logging
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from features.spec import FeatureSpec
from serving import model_repository
from serving.dynamic_batcher import BatcherConfig, DynamicBatcher, QueueFullError, QueueTimeoutError
from serving.hot_reload import ModelHost, ReloadEvent, Routing, watch
from serving.http_protocol import HttpLimits, HttpProtocol, HttpRequest, HttpResponse, reuse_port_socket
from serving.loaded_model import LoadCheck, LoadedModel
from serving.metrics import CONTENT_TYPE, ServingMetrics, VersionRunTimer
from serving.model_config import PLATFORM_ONNX, ModelConfig
from serving.oip_codec import (
    InferRequest,
    RequestError,
    decode_infer_request,
    encode_error,
    encode_infer_response,
    model_config_json,
    model_metadata,
    parse_json_object,
)
from serving.prediction_log import PredictionBatch, PredictionLog, PredictionLogConfig
from serving.transaction_scoring import (
    compute_features,
    encode_features,
    input_feature_names,
    load_feature_function,
    load_feature_spec,
)

log = logging.getLogger("serving.server")
SERVER_NAME = "flywheel"
SERVER_VERSION = "1"
JSON = "application/json"
SHADOW_QUEUE_DELAY_S = 0.002
"""How long a shadow's batcher holds a partial batch for more mirrored rows."""


@dataclass(frozen=True)
class ServerConfig:
    """Everything the server needs; the CLI flags map one-to-one onto these fields."""

    repository: Path
    """Triton-layout model repository to serve (and to watch for new versions)."""
    host: str = "127.0.0.1"
    """Address to listen on."""
    port: int = 8000
    """Port to listen on (shared by all workers through SO_REUSEPORT)."""
    workers: int = 1
    """Worker processes; each runs its own event loop, batcher and ONNX Runtime session."""
    models: tuple[str, ...] = ()
    """Models to serve; empty serves every onnxruntime_onnx model in the repository."""
    dynamic_batching: bool = True
    """Coalesce concurrent requests into one model run (False: one run per request)."""
    max_batch_size: int | None = None
    """Rows per model run; default: the model's config.pbtxt max_batch_size."""
    max_queue_delay_us: int | None = None
    """Microseconds a partial batch may wait for more rows; default: config.pbtxt's max_queue_delay_microseconds."""
    max_queue_rows: int | None = None
    """Rows queued before requests get 503; default: config.pbtxt's default_queue_policy.max_queue_size."""
    queue_timeout_s: float = 1.0
    """A request queued longer than this is answered 503 instead of waiting on."""
    retry_after_s: int = 1
    """Retry-After (seconds) sent with 503 answers."""
    reload_interval_s: float = 1.0
    """How often the repository is polled for new versions."""
    ort_threads: int = 1
    """ONNX Runtime intra-op threads per session."""
    inline_max_rows: int = 64
    """Batches of at most this many rows may run on the event loop instead of the batcher thread (0: always the
    thread)..."""
    inline_max_us: int = 200
    """...while the model's runs average at most this many microseconds (docs/bench/serving.md measures why)."""
    max_body_bytes: int = 4 * 1024 * 1024
    """Larger request bodies are answered 413 (and larger gRPC messages RESOURCE_EXHAUSTED)."""
    grpc_port: int = 0
    """Port of the Open Inference Protocol's gRPC endpoint (shared by all workers); 0: HTTP only."""
    max_shadow_in_flight: int = 256
    """Mirrored requests a worker lets wait for shadow versions at once; beyond it they are dropped (and counted), so
    a slow shadow can never hold the served traffic's memory or queue."""
    kafka_bootstrap_servers: str | None = None
    """Kafka for the prediction log; None disables the log."""
    prediction_topic: str = "predictions"
    """Topic for prediction records."""
    prediction_log_max_pending: int = 10_000
    """Requests waiting for the prediction log before records are dropped (and counted)."""
    feature_spec: str | None = None
    """'module:attribute' of the FeatureSpec of models whose repository folder has no serving.json (which names each
    model's own spec); it names logged features and encodes /models/{name}/score requests."""
    feature_function: str | None = None
    """'module:attribute' of the online feature function used by POST /models/{name}/score."""

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")

    def batcher_config(self, config) -> BatcherConfig:
        """Batching settings: these flags where given, else the model's config.pbtxt."""
        max_batch = self.max_batch_size or config.max_batch_size
        delay_us = config.max_queue_delay_microseconds if self.max_queue_delay_us is None else self.max_queue_delay_us
        return BatcherConfig(
            max_batch_size=max_batch,
            max_queue_delay_s=delay_us / 1e6,
            max_queue_rows=max(self.max_queue_rows or config.max_queue_size, max_batch),
            queue_timeout_s=self.queue_timeout_s,
            coalesce=self.dynamic_batching,
            inline_max_rows=self.inline_max_rows,
            inline_max_seconds=self.inline_max_us / 1e6,
        )


@dataclass
class ServedModel:
    """One model being served: its host (the deployment and its loaded versions) and a batcher per loaded version."""

    host: ModelHost
    batcher_config: BatcherConfig
    metrics: ServingMetrics
    feature_names: dict[str, tuple[str, ...]] = field(default_factory=dict)
    spec: FeatureSpec | None = None
    """The model's FeatureSpec (its serving.json, else the server's --feature-spec)."""
    segment: dict | None = None
    """For a partitioned model: {"parent", "column", "values"}, the slice of the parent's requests it takes."""

    batchers: dict[tuple[int, bool], tuple[LoadedModel, DynamicBatcher]] = field(default_factory=dict)
    """By (id() of the loaded version, shadow): its batchers (a version's requests run on that version, also
    mid-switch; its mirrored requests on a batcher of their own)."""

    def batcher(self, model: LoadedModel, shadow: bool = False) -> DynamicBatcher:
        """The loaded version's batcher, started on first use (on the event loop). A version first used as a shadow
        gets a batcher that waits up to SHADOW_QUEUE_DELAY_S for fuller batches: nobody waits on its answers, and
        fewer, larger runs cost the served traffic less CPU."""
        entry = self.batchers.get((id(model), shadow))
        if entry is None:
            run = VersionRunTimer(self.metrics, self.host, model)
            config = self.batcher_config
            if shadow:
                delay = max(config.max_queue_delay_s, SHADOW_QUEUE_DELAY_S)
                config = dataclasses.replace(config, max_queue_delay_s=delay)
            entry = (model, DynamicBatcher(run, config, self.metrics.batch_observer(self.host.name)))
            entry[1].start()
            self.batchers[(id(model), shadow)] = entry
        return entry[1]

    async def retire_batchers(self) -> None:
        """Stops the batchers of versions the deployment no longer names, once nothing waits on them."""
        routing = self.host.routing
        serving = set()
        if routing is not None:
            deployment = routing.deployment
            serving = {(id(m), v in deployment.shadow) for v, m in routing.models.items()}
        for key, (_, batcher) in list(self.batchers.items()):
            if key not in serving and batcher.idle:
                del self.batchers[key]
                await batcher.stop()

    async def stop(self) -> None:
        for _, batcher in list(self.batchers.values()):
            await batcher.stop()
        self.batchers.clear()

    def takes(self, transaction: Mapping) -> bool:
        """Whether this segment model takes `transaction` (it has a version loaded and the value is its own)."""
        segment = self.segment
        return (
            bool(segment) and self.host.current is not None and transaction.get(segment["column"]) in segment["values"]
        )


class InferenceServer:
    """Routes and handlers; holds the served models, metrics and the prediction log of one worker process."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.metrics = ServingMetrics()
        self.models: dict[str, ServedModel] = {}
        self.spec = load_feature_spec(config.feature_spec) if config.feature_spec else None
        self.feature_function = load_feature_function(config.feature_function) if config.feature_function else None
        self.prediction_log: PredictionLog | None = None
        self._ids = itertools.count()
        self._id_prefix = f"{os.getpid()}-{int(time.time())}-"
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._awaited: set[str] = set()
        """Models named on the command line that the repository does not hold yet."""
        self._segments: dict[str, list[ServedModel]] = {}
        """Served segment models by the serving name of their parent."""
        self._shadow_in_flight = 0

    # lifecycle
    def _on_reload(self, event: ReloadEvent, previous: list, host: list) -> None:
        self.metrics.reloads.labels(event.model, str(event.version), "loaded" if event.loaded else "refused").inc()
        if event.loaded:
            self.metrics.version_switched(event.model, previous[0], event.version)
            self.metrics.model_memory.labels(event.model).set(event.memory_bytes)
            deployment = host[0].routing.deployment
            self.metrics.deployment_applied(event.model, deployment, previous[1])
            previous[:] = [event.version, deployment]

    async def start(self) -> None:
        """Loads every model (a model that fails to load is served as not ready) and starts the background tasks.

        A model named with --model that the repository does not hold yet (a server started before the first
        deployment) is attached as soon as its config.pbtxt appears; until then the server is not ready.
        """
        repository = self.config.repository
        names = self.config.models or tuple(
            n
            for n in model_repository.model_names(repository)
            if model_repository.read_config(repository, n).platform == PLATFORM_ONNX
        )
        hosts: list[ModelHost] = []
        published = set(model_repository.model_names(repository))
        for name in names:
            if name in published:
                await self._attach(name, hosts)
            else:
                self._awaited.add(name)
                log.info("model '%s' is not in %s yet; it is served once it is published", name, repository)
        if self.config.kafka_bootstrap_servers:
            self.prediction_log = PredictionLog(
                PredictionLogConfig(
                    self.config.kafka_bootstrap_servers,
                    self.config.prediction_topic,
                    self.config.prediction_log_max_pending,
                ),
                count=lambda outcome, n: self.metrics.log_records.labels(outcome).inc(n),
                pending=self.metrics.log_pending.set,
            ).start()
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(watch(hosts, self.config.reload_interval_s, self._stop)))
        self._tasks.append(loop.create_task(self._follow_repository(hosts)))

    async def _attach(self, name: str, hosts: list[ModelHost]) -> None:
        """Loads the model's newest good version and starts its batcher; `hosts` is the reload watcher's list."""
        repository = self.config.repository
        previous: list = [None, None]
        holder: list = []
        host = ModelHost(
            repository,
            name,
            check=LoadCheck(),
            threads=self.config.ort_threads,
            on_event=lambda event, previous=previous, holder=holder: self._on_reload(event, previous, holder),
        )
        holder.append(host)
        await asyncio.get_running_loop().run_in_executor(None, host.poll)
        config = model_repository.read_config(repository, name)
        batching = self.config.batcher_config(config)
        metadata = model_repository.read_serving_metadata(repository, name)
        spec = FeatureSpec.from_dict(metadata["feature_spec"]) if "feature_spec" in metadata else self.spec
        names_by_input = input_feature_names(spec, config) if spec else {}
        self.models[name] = ServedModel(host, batching, self.metrics, names_by_input, spec, metadata.get("segment"))
        hosts.append(host)
        self._index_segments()

    def _index_segments(self) -> None:
        segments: dict[str, list[ServedModel]] = {}
        for name in sorted(self.models):
            served = self.models[name]
            if served.segment:
                segments.setdefault(served.segment["parent"], []).append(served)
        self._segments = segments

    def _servable(self, names: set[str]) -> set[str]:
        """Those of `names` this server can serve (ONNX Runtime models; a half-written config is skipped)."""
        repository = self.config.repository
        found = set()
        for name in names:
            try:
                if model_repository.read_config(repository, name).platform == PLATFORM_ONNX:
                    found.add(name)
            except Exception:  # noqa: BLE001 - a config.pbtxt being written: the next poll sees it whole
                continue
        return found

    async def _follow_repository(self, hosts: list[ModelHost]) -> None:
        """Attaches models as they are published and detaches removed ones, without a restart.

        With --model the server serves those names only (attached once each appears); without it, every ONNX model
        in the repository, so adding a model folder adds a model and removing one removes it.
        """
        while not self._stop.is_set():
            # One directory listing per poll; only models not yet attached have their config read (on the event
            # loop, so the cost must not grow with the models already served).
            published = set(model_repository.model_names(self.config.repository))
            new = (self._awaited if self.config.models else published - set(self.models)) & published
            wanted = self._servable(new)
            for name in sorted(wanted):
                try:
                    await self._attach(name, hosts)
                    self._awaited.discard(name)
                    log.info("model '%s' was published; serving it", name)
                except Exception:  # noqa: BLE001 - keep waiting: a half-written model must not stop the server
                    log.exception("model '%s' appeared but could not be attached yet; retrying", name)
            if not self.config.models:
                for name in sorted(set(self.models) - published):
                    await self._detach(name, hosts)
            for served in list(self.models.values()):
                await served.retire_batchers()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.config.reload_interval_s)

    async def _detach(self, name: str, hosts: list[ModelHost]) -> None:
        """Stops serving a model whose folder left the repository (requests for it get 404 from now on)."""
        served = self.models.pop(name)
        self._index_segments()
        if served.host in hosts:
            hosts.remove(served.host)
        await served.stop()
        self.metrics.model_memory.labels(name).set(0)
        if served.host.current is not None:
            self.metrics.version_workers.labels(name, str(served.host.current.version)).set(0)
        log.info("model '%s' was removed from %s; it is no longer served", name, self.config.repository)

    async def stop(self) -> None:
        self._stop.set()
        for model in self.models.values():
            await model.stop()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.prediction_log is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.prediction_log.close)

    def ready(self) -> bool:
        return bool(self.models) and not self._awaited and all(m.host.current is not None for m in self.models.values())

    # HTTP
    async def handle(self, request: HttpRequest) -> HttpResponse:
        """Routes one request; client errors become 4xx with {"error": ...}."""
        parts = request.path.strip("/").split("/")
        try:
            if parts[0] == "v2":
                return await self._route_v2(request, parts[1:])
            if parts == ["metrics"]:
                self._require(request, "GET")
                return HttpResponse(200, self.metrics.exposition(), CONTENT_TYPE)
            if len(parts) == 3 and parts[0] == "models" and parts[2] == "score":
                self._require(request, "POST")
                return await self._score_transaction(request, parts[1])
            raise RequestError(404, f"no route for {request.path}; see /v2 (Open Inference Protocol) and /metrics")
        except RequestError as exc:
            return HttpResponse(exc.status, encode_error(exc.message))

    @staticmethod
    def _require(request: HttpRequest, method: str) -> None:
        if request.method != method:
            raise RequestError(405, f"{request.method} is not allowed on {request.path}; use {method}")

    def served_model(self, name: str, version: str | None = None) -> ServedModel:
        """The served model `name` (404 naming the served models when it is not; 404 when `version` is not loaded)."""
        return self._model(name, version)

    def loaded_version(self, name: str, version: str | None = None) -> LoadedModel:
        """The loaded version named, else the model's primary one (404 / 503 as for the HTTP endpoints)."""
        return self._version(self._model(name, version), version)

    def model_ready(self, name: str, version: str | None = None) -> bool:
        """Whether `name` (at `version`, if given) is loaded and can answer."""
        served = self.models.get(name)
        routing = served.host.routing if served else None
        return routing is not None and (version is None or (version.isdigit() and int(version) in routing.models))

    def _model(self, name: str, version: str | None = None) -> ServedModel:
        served = self.models.get(name)
        if served is None:
            raise RequestError(404, f"model '{name}' is not served here; served models: {sorted(self.models)}")
        routing = served.host.routing
        loaded = sorted(routing.models) if routing is not None else []
        if version is not None and (not version.isdigit() or int(version) not in loaded):
            raise RequestError(404, f"version {version} of model '{name}' is not loaded (loaded: {loaded})")
        return served

    async def _route_v2(self, request: HttpRequest, parts: list[str]) -> HttpResponse:
        if parts == [""] or not parts:
            self._require(request, "GET")
            return _json(200, {"name": SERVER_NAME, "version": SERVER_VERSION, "extensions": ["model_configuration"]})
        if parts[0] == "health" and len(parts) == 2 and parts[1] in {"live", "ready"}:
            self._require(request, "GET")
            ok = parts[1] == "live" or self.ready()
            return _json(200 if ok else 503, {"live": True} if parts[1] == "live" else {"ready": ok})
        if parts[0] != "models" or len(parts) < 2:
            raise RequestError(404, f"no route for {request.path}")
        name, rest, version = parts[1], parts[2:], None
        if len(rest) >= 2 and rest[0] == "versions":
            version, rest = rest[1], rest[2:]
        if rest == ["infer"]:
            self._require(request, "POST")
            return await self._infer(request, self._model(name, version), version)
        if rest == []:
            self._require(request, "GET")
            current = self.loaded_version(name, version)
            metadata = model_metadata(current.config, current.version)
            routing = self.models[name].host.routing
            if version is None and routing is not None and len(routing.models) > 1:
                metadata["deployment"] = {
                    "weights": {str(v): w for v, w in routing.deployment.weights.items() if w > 0},
                    "shadow": [str(v) for v in routing.deployment.shadow],
                    "sequence": routing.deployment.sequence,
                }
            return _json(200, metadata)
        if rest == ["ready"]:
            self._require(request, "GET")
            ready = self.model_ready(name, version)
            return _json(200 if ready else 503, {"name": name, "ready": ready})
        if rest == ["config"]:
            self._require(request, "GET")
            return _json(200, model_config_json(self.loaded_version(name, version).config))
        raise RequestError(404, f"no route for {request.path}")

    @staticmethod
    def _loaded(served: ServedModel):
        current = served.host.current
        if current is None:
            raise RequestError(503, f"model '{served.host.name}' has no version loaded yet")
        return current

    def _version(self, served: ServedModel, version: str | None) -> LoadedModel:
        """The loaded version named in the path, else the primary one."""
        current = self._loaded(served)
        routing = served.host.routing
        return routing.models[int(version)] if version is not None and routing is not None else current

    @staticmethod
    def _pick(served: ServedModel, entity) -> tuple[Routing, LoadedModel]:
        """The deployment a request sees (one read: the whole old or the whole new one) and the version that
        answers it; 503 while nothing is loaded."""
        routing = served.host.routing
        if routing is None:
            raise RequestError(503, f"model '{served.host.name}' has no version loaded yet")
        deployment = routing.deployment
        version = deployment.route(served.host.name, None if entity is None else str(entity))
        return routing, routing.models[version]

    def _valid(self, served: ServedModel, model: LoadedModel, outputs: dict[str, np.ndarray]) -> bool:
        """Whether the first output holds finite scores inside the contract's range."""
        scores = outputs[model.config.outputs[0].name]
        if scores.dtype.kind != "f":
            return True
        low, high = served.host.check.output_range or (-math.inf, math.inf)
        if scores.size == 1:  # the usual request: compare one Python float (NaN fails every comparison)
            value = scores.item()
            return low <= value <= high and math.isfinite(value)
        lowest, highest = float(scores.min()), float(scores.max())  # NaN propagates into both
        return low <= lowest and highest <= high and math.isfinite(lowest) and math.isfinite(highest)

    async def _score(
        self, served: ServedModel, routing: Routing, model: LoadedModel, inputs: dict[str, np.ndarray], rows: int
    ):
        """Runs a request on `model`; while the deployment holds several versions, measures each version and answers
        a canary's failed or invalid result with the primary version's."""
        deployment = routing.deployment
        if len(deployment.versions) == 1:
            return await self._run(served.batcher(model), inputs, rows)
        name, sequence, primary = served.host.name, deployment.sequence, routing.primary
        try:
            outputs, version = await self._run(served.batcher(model), inputs, rows)
        except (RequestError, Overloaded):
            raise
        except Exception:
            self.metrics.rollout_outcome(name, model.version, "served", sequence, "error")
            if model is primary:
                raise
            outputs = None
        else:
            valid = self._valid(served, model, outputs)
            outcome = "ok" if valid else "invalid"
            self.metrics.rollout_outcome(name, model.version, "served", sequence, outcome)
            if not valid and model is not primary:
                outputs = None
        if outputs is None:  # the canary failed this request: the primary version answers it
            self.metrics.rollout_fallbacks.labels(name, str(model.version)).inc()
            outputs, version = await self._run(served.batcher(primary), inputs, rows)
        return outputs, version

    def _mirror(self, served: ServedModel, routing: Routing, inputs, rows: int, served_scores, log_context) -> None:
        """Queues a copy of the request on each shadow version's batcher (bounded; never answered); a callback on its
        future measures it. `log_context` is (request_id, transaction_ids, named features) for the prediction log."""
        deployment = routing.deployment
        # a random draw, not every k-th request: traffic with a period (retries, polling clients) would alias
        if deployment.shadow_percent < 100 and random.random() * 100 >= deployment.shadow_percent:
            return
        sequence = deployment.sequence
        for version in deployment.shadow:
            model = routing.models[version]
            if self._shadow_in_flight >= self.config.max_shadow_in_flight:
                self.metrics.rollout_outcome(served.host.name, version, "shadow", sequence, "dropped")
                continue
            try:
                future = served.batcher(model, shadow=True).submit_nowait(inputs, rows)
            except QueueFullError:
                self.metrics.rollout_outcome(served.host.name, version, "shadow", sequence, "dropped")
                continue
            self._shadow_in_flight += 1
            future.add_done_callback(
                functools.partial(self._shadow_done, served, sequence, model, served_scores, log_context)
            )

    def _shadow_done(self, served, sequence, model: LoadedModel, served_scores, log_context, future) -> None:
        self._shadow_in_flight -= 1
        name = served.host.name
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:
            outcome = "dropped" if isinstance(error, QueueFullError | QueueTimeoutError) else "error"
            self.metrics.rollout_outcome(name, model.version, "shadow", sequence, outcome)
            return
        outputs, version = future.result()
        valid = self._valid(served, model, outputs)
        self.metrics.rollout_outcome(name, model.version, "shadow", sequence, "ok" if valid else "invalid")
        scores = outputs[model.config.outputs[0].name]
        if valid:
            self.metrics.observe_difference(name, version, sequence, np.abs(scores - served_scores))
        if self.prediction_log is not None and log_context is not None:
            request_id, transaction_ids, features = log_context
            self.prediction_log.record(
                PredictionBatch(request_id, transaction_ids, name, version, features, scores, shadow=True)
            )

    async def _run(self, batcher: DynamicBatcher, inputs: dict[str, np.ndarray], rows: int):
        try:
            return await batcher.submit(inputs, rows)
        except QueueFullError as exc:
            raise Overloaded(str(exc)) from None
        except QueueTimeoutError as exc:
            raise Overloaded(str(exc)) from None

    async def _infer(self, request: HttpRequest, served: ServedModel, version_path: str | None) -> HttpResponse:
        try:
            config, infer, outputs, version = await self.infer(
                served, version_path, lambda config: decode_infer_request(request.body, config), request.received
            )
        except RequestError as exc:
            return HttpResponse(exc.status, encode_error(exc.message))
        except Overloaded as exc:
            return self._overloaded(str(exc))
        return HttpResponse(200, encode_infer_response(config, version, infer.id, outputs, infer.outputs))

    async def infer(
        self,
        served: ServedModel,
        version_path: str | None,
        decode: Callable[[ModelConfig], InferRequest],
        received: float,
        endpoint: str = "infer",
    ) -> tuple[ModelConfig, InferRequest, dict[str, np.ndarray], int]:
        """One infer request, whatever its transport: `decode` reads and validates it against the serving version's
        config; it is routed by the deployment (or to the version named), scored, counted under `endpoint`, logged
        and mirrored to shadows. Returns (config, request, outputs, version); raises RequestError (a 4xx) or
        Overloaded (a 503), counted too."""
        name = served.host.name
        current = self._loaded(served)
        try:
            infer = decode(current.config)
            routing, model = self._pick(served, self._entity(served, infer))
            if version_path is not None:  # an explicit version answers, whatever the deployment's weights
                model = routing.models[int(version_path)]
                outputs, version = await self._run(served.batcher(model), infer.inputs, infer.rows)
            else:
                outputs, version = await self._score(served, routing, model, infer.inputs, infer.rows)
        except RequestError as exc:
            self._count(received, name, current.version, endpoint, exc.status)
            raise
        except Overloaded:
            self._count(received, name, current.version, endpoint, 503)
            raise
        self._count(received, name, version, endpoint, 200)
        first = outputs[current.config.outputs[0].name]
        self.metrics.observe_scores(name, first)
        log_context = None
        if self.prediction_log is not None:
            features = self._named_features(served, infer.inputs)
            request_id = infer.id or self._id_prefix + str(next(self._ids))
            transaction_ids = infer.parameters.get("transaction_ids")
            self.prediction_log.record(PredictionBatch(request_id, transaction_ids, name, version, features, first))
            log_context = (request_id, transaction_ids, features)
        if routing.deployment.shadow and version_path is None:
            self._mirror(served, routing, infer.inputs, infer.rows, first, log_context)
        return current.config, infer, outputs, version

    @staticmethod
    def _entity(served: ServedModel, infer) -> str | None:
        """What keeps an infer request on one version: the deployment's sticky key among the request's parameters,
        else the request id (None: a random pick)."""
        routing = served.host.routing
        key = routing.deployment.sticky_key if routing is not None else None
        value = infer.parameters.get(key) if key else None
        return str(value) if value is not None else infer.id

    def _route_transaction(self, name: str, transaction: Mapping) -> ServedModel:
        """The model that scores a transaction sent to `name`: the segment model whose slice it falls in (while that
        one has a version loaded), else `name` itself (404 naming the served models when it is not served)."""
        segments = self._segments.get(name, ())
        served = next((s for s in segments if s.takes(transaction)), None)
        if served is None:
            served = self._model(name)
        if segments:
            self.metrics.segment_routes.labels(name, served.host.name).inc()
        return served

    async def _score_transaction(self, request: HttpRequest, name: str) -> HttpResponse:
        if self.feature_function is None:
            raise RequestError(404, "transaction scoring is off: start the server with --feature-function")
        transaction = parse_json_object(request.body, "transaction")
        served = self._route_transaction(name, transaction)
        scored_by = served.host.name
        current = self._loaded(served)
        routing, model = self._pick(served, self._transaction_entity(served, transaction))
        spec = served.spec
        if spec is None:
            raise RequestError(
                404, f"model '{scored_by}' has no FeatureSpec: publish its serving.json or start with --feature-spec"
            )
        try:
            features = await compute_features(self.feature_function, transaction)
            inputs = encode_features(spec, model.config, features)
            outputs, version = await self._score(served, routing, model, inputs, 1)
        except RequestError as exc:
            self._count(request.received, scored_by, current.version, "score", exc.status)
            return HttpResponse(exc.status, encode_error(exc.message))
        except Overloaded as exc:
            self._count(request.received, scored_by, current.version, "score", 503)
            return self._overloaded(str(exc))
        score = outputs[current.config.outputs[0].name]
        request_id = self._id_prefix + str(next(self._ids))
        transaction_id = transaction.get(spec.entity_id)
        self._count(request.received, scored_by, version, "score", 200)
        self.metrics.observe_scores(scored_by, score)
        log_context = None
        if self.prediction_log is not None:
            logged = {n: np.asarray([features[n]]) for n in spec.features}
            ids = [transaction_id] if transaction_id is not None else None
            self.prediction_log.record(PredictionBatch(request_id, ids, scored_by, version, logged, score))
            log_context = (request_id, ids, logged)
        if routing.deployment.shadow:
            self._mirror(served, routing, inputs, 1, score, log_context)
        result = {
            "model_name": scored_by,
            "model_version": str(version),
            "requested_model": name,
            "id": request_id,
            "transaction_id": transaction_id,
            "score": float(score.reshape(-1)[0]),
        }
        return _json(200, result)

    @staticmethod
    def _transaction_entity(served: ServedModel, transaction: Mapping):
        routing = served.host.routing
        key = routing.deployment.sticky_key if routing is not None else None
        if key:
            return transaction.get(key)
        return transaction.get(served.spec.entity_id) if served.spec is not None else None

    def _named_features(self, served: ServedModel, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        features = {}
        for tensor, array in inputs.items():
            names = served.feature_names.get(tensor)
            if names:
                features.update({n: array[:, i] for i, n in enumerate(names)})
            else:
                features[tensor] = array.reshape(len(array), -1)
        return features

    def _count(self, received: float, model: str, version: int, endpoint: str, status: int) -> None:
        elapsed = asyncio.get_running_loop().time() - received
        self.metrics.request(model, str(version), endpoint, status, elapsed)

    def _overloaded(self, message: str) -> HttpResponse:
        return HttpResponse(503, encode_error(message), headers=[("retry-after", str(self.config.retry_after_s))])

    def internal_error(self, request: HttpRequest, exc: Exception) -> HttpResponse:
        """Last resort for a bug in a handler: logged with its traceback, answered 500."""
        log.error("unhandled error on %s %s", request.method, request.path, exc_info=exc)
        return HttpResponse(500, encode_error(f"internal error: {type(exc).__name__}"))


class Overloaded(Exception):
    """The model's queue is full or a request waited too long in it: answered 503 + Retry-After (gRPC: UNAVAILABLE)."""


def _json(status: int, document: dict) -> HttpResponse:
    return HttpResponse(status, json.dumps(document).encode(), JSON)


async def serve(config: ServerConfig, ready: asyncio.Event | None = None, stop: asyncio.Event | None = None) -> None:
    """Runs one worker until `stop` is set or SIGTERM/SIGINT arrives; in-flight requests finish first."""
    server = InferenceServer(config)
    await server.start()
    loop = asyncio.get_running_loop()
    stop = stop or asyncio.Event()
    limits = HttpLimits(max_body_bytes=config.max_body_bytes)
    listener = await loop.create_server(
        lambda: HttpProtocol(server.handle, limits, server.internal_error),
        sock=reuse_port_socket(config.host, config.port),
    )
    grpc_endpoint = None
    if config.grpc_port:
        from serving.oip_grpc import start_grpc_server  # grpc and its stubs load only when asked for

        grpc_endpoint = await start_grpc_server(server, config.host, config.grpc_port, config.max_body_bytes)
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(RuntimeError, ValueError):  # not the main thread (servers run on threads in tests)
            loop.add_signal_handler(signum, stop.set)
    # Long-lived startup objects (sessions, modules) leave the collector's view, and young collections run less
    # often: the request path allocates many short-lived dicts and lists, and full collections were tail latency.
    gc.freeze()
    gc.set_threshold(20_000, 20, 50)
    log.info("worker %s serving %s on %s:%s", os.getpid(), sorted(server.models), config.host, config.port)
    if ready is not None:
        ready.set()
    await stop.wait()
    listener.close()
    if grpc_endpoint is not None:
        await grpc_endpoint.stop(grace=0.2)
    await asyncio.sleep(0.2)  # let responses that are being computed go out
    await server.stop()


def run_worker(config: ServerConfig) -> None:
    """One worker process: uvloop if available, then serve()."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(config))


def supervise(config: ServerConfig, argv: list[str]) -> int:
    """Pre-fork style supervisor: starts `workers` processes on one port (SO_REUSEPORT), restarts any that die."""
    metrics_dir = tempfile.mkdtemp(prefix="flywheel-metrics-")
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": metrics_dir}
    command = [sys.executable, "-m", "serving.server", *argv, "--worker-process"]
    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    workers = [subprocess.Popen(command, env=env) for _ in range(config.workers)]
    try:
        while not stopping:
            time.sleep(0.2)
            for i, worker in enumerate(workers):
                if worker.poll() is not None and not stopping:
                    log.error("worker %s exited with %s; restarting it", worker.pid, worker.returncode)
                    _mark_dead(worker.pid, metrics_dir)
                    workers[i] = subprocess.Popen(command, env=env)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.kill()
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def _mark_dead(pid: int, metrics_dir: str) -> None:
    """Drops a dead worker's live gauges from the aggregated metrics."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, metrics_dir)


def parse_args(argv: list[str] | None = None) -> tuple[ServerConfig, bool]:
    """CLI flags -> ServerConfig (each flag documents its field)."""
    parser = argparse.ArgumentParser(
        prog="python -m serving.server",
        description="Open Inference Protocol v2 server (HTTP/JSON, and gRPC with --grpc-port) for a Triton-layout "
        "ONNX model repository (dynamic batching, Prometheus /metrics, hot reload, Kafka prediction log).",
    )
    parser.add_argument("--repository", type=Path, required=True, help="Triton-layout model repository to serve")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on")
    parser.add_argument("--workers", type=int, default=1, help="worker processes sharing the port (SO_REUSEPORT)")
    parser.add_argument(
        "--model", dest="models", action="append", default=[], help="model to serve (repeatable; default all)"
    )
    parser.add_argument(
        "--no-dynamic-batching", dest="dynamic_batching", action="store_false", help="one model run per request"
    )
    parser.add_argument("--max-batch-size", type=int, help="rows per model run (default: config.pbtxt)")
    parser.add_argument(
        "--max-queue-delay-us", type=int, help="wait for a fuller batch, microseconds (default: config.pbtxt)"
    )
    parser.add_argument(
        "--max-queue-rows", type=int, help="queued rows before 503 (default: config.pbtxt max_queue_size)"
    )
    parser.add_argument("--queue-timeout-s", type=float, default=1.0, help="queued longer than this -> 503")
    parser.add_argument("--retry-after-s", type=int, default=1, help="Retry-After sent with 503")
    parser.add_argument(
        "--reload-interval-s", type=float, default=1.0, help="repository poll interval for new versions"
    )
    parser.add_argument("--ort-threads", type=int, default=1, help="ONNX Runtime intra-op threads per worker")
    parser.add_argument(
        "--inline-max-rows",
        type=int,
        default=64,
        help="batches up to this many rows may run on the event loop thread (0: always the batcher thread)",
    )
    parser.add_argument(
        "--inline-max-us", type=int, default=200, help="...while the model's runs average at most this many us"
    )
    parser.add_argument(
        "--max-body-bytes", type=int, default=4 * 1024 * 1024, help="larger bodies get 413 (gRPC: RESOURCE_EXHAUSTED)"
    )
    parser.add_argument(
        "--grpc-port", type=int, default=0, help="also serve the Open Inference Protocol over gRPC here (0: off)"
    )
    parser.add_argument("--kafka-bootstrap-servers", help="Kafka for the prediction log (default: no log)")
    parser.add_argument("--prediction-topic", default="predictions", help="prediction log topic")
    parser.add_argument(
        "--prediction-log-max-pending", type=int, default=10_000, help="queued log requests before drops"
    )
    parser.add_argument("--feature-spec", help="module:attribute of the FeatureSpec")
    parser.add_argument(
        "--feature-function", help="module:attribute of the online feature function (/models/{name}/score)"
    )
    parser.add_argument("--log-level", default="INFO", help="logging level")
    parser.add_argument("--worker-process", action="store_true", help=argparse.SUPPRESS)
    args = vars(parser.parse_args(argv))
    worker = args.pop("worker_process")
    logging.basicConfig(
        level=args.pop("log_level"), format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s"
    )
    args["models"] = tuple(args["models"])
    return ServerConfig(**args), worker


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    config, worker = parse_args(argv)
    if config.workers == 1 or worker:
        run_worker(config)
        return 0
    return supervise(config, argv)


if __name__ == "__main__":
    sys.exit(main())
