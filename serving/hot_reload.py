"""Zero-downtime reload: a ModelHost serves one model's deployment (serving/deployment_plan.py) and switches to a
new one only after every version it names loaded, matched the served signature and passed its warm-up check;
otherwise what serves keeps serving."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from serving import model_repository
from serving.deployment_plan import Deployment, DeploymentError, served_deployment
from serving.loaded_model import LoadCheck, LoadedModel, ModelLoadError, file_stamp, load_version
from serving.model_config import ModelConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReloadEvent:
    """One attempt to load a version: what happened, for logs and metrics."""

    model: str
    """Model name."""
    version: int
    """The version tried."""
    loaded: bool
    """True if it now serves."""
    reason: str
    """Why it was refused (empty when loaded)."""
    memory_bytes: int = 0
    """Resident memory the loaded version added to this worker (0 when refused)."""


@dataclass(frozen=True)
class Routing:
    """What a model serves right now: its deployment and every version that deployment names, loaded."""

    deployment: Deployment
    models: dict[int, LoadedModel]

    @property
    def primary(self) -> LoadedModel:
        return self.models[self.deployment.primary]


class ModelHost:
    """Holds what one model serves; `routing` is swapped in one assignment, never mutated, so a request sees one
    whole deployment (the old or the new one) and in-flight batches finish on the versions they started on."""

    def __init__(
        self,
        root: Path,
        name: str,
        expected: ModelConfig | None = None,
        check: LoadCheck | None = None,
        threads: int = 1,
        on_event: Callable[[ReloadEvent], None] | None = None,
    ) -> None:
        self.root = root
        self.name = name
        self.expected = expected
        self.check = check or LoadCheck()
        self.threads = threads
        self.routing: Routing | None = None
        self.refused: dict[int, tuple[tuple, str]] = {}
        """Versions that failed, with the file stamp they failed with (retried only if the files change)."""
        self.refused_deployment: tuple[int, str] | None = None
        """(sequence, reason) of the last deployment file that could not be applied."""
        self._on_event = on_event or (lambda event: None)

    @property
    def current(self) -> LoadedModel | None:
        """The primary version (the one with the most traffic), or None before anything loaded."""
        routing = self.routing
        return routing.primary if routing is not None else None

    def run(self, inputs):
        """Runs a batch on the primary version current when the batch starts (in-flight batches finish on theirs)."""
        model = self.current
        if model is None:
            raise ModelLoadError(f"model '{self.name}' has no version loaded")
        return model.run(inputs)

    def wanted(self) -> Deployment | None:
        """The deployment the repository asks for: its deployment.json, else its pinned version, else its newest
        complete one (None when nothing can be read or nothing is complete)."""
        try:
            return served_deployment(self.root, self.name)
        except DeploymentError as exc:
            self._refuse_deployment(-1, str(exc))
            return None
        except (OSError, ValueError) as exc:  # a config.pbtxt being replaced, or a bad pin: keep serving
            log.warning("model '%s': cannot read which version to serve (%s); keeping the current one", self.name, exc)
            return None

    def candidate(self) -> int | None:
        """The next version to load for the wanted deployment: one it names that is not loaded and did not fail
        with these same files (None when nothing is left to load)."""
        wanted = self.wanted()
        if wanted is None:
            return None
        return next(iter(self._to_load(wanted)), None)

    def _to_load(self, wanted: Deployment) -> list[int]:
        loaded = self.routing.models if self.routing is not None else {}
        missing = []
        for version in wanted.versions:
            if version in loaded:
                continue
            if version in self.refused and self.refused[version][0] == self._stamp(version):
                return []  # a version it needs failed with these files: nothing to do until they change
            missing.append(version)
        return missing

    def _stamp(self, version: int) -> tuple:
        try:
            config = model_repository.read_config(self.root, self.name)
            return file_stamp(model_repository.version_path(self.root, self.name, version) / config.model_file)
        except (OSError, ValueError, RuntimeError):
            return ()

    def _load(self, version: int) -> LoadedModel | ReloadEvent:
        """Loads and checks one version (blocking); a refusal is recorded and returned as its event."""
        current = self.current
        expected = current.config if current is not None else self.expected
        try:
            return load_version(
                self.root, self.name, version, expected=expected, check=self.check, threads=self.threads
            )
        except ModelLoadError as exc:
            self.refused[version] = (self._stamp(version), str(exc))
            log.error("refused %s", exc)
            return ReloadEvent(self.name, version, False, str(exc))

    def try_load(self, version: int) -> ReloadEvent:
        """Loads and checks `version` (blocking: call it off the event loop); switches all traffic to it only if it
        passed."""
        return self.apply(Deployment({version: 100}))

    def apply(self, deployment: Deployment) -> ReloadEvent:
        """Loads every version `deployment` names that is not loaded yet, then switches to it in one assignment;
        if any version is refused, nothing changes. The event names the primary version (or the refused one)."""
        routing = self.routing
        loaded = dict(routing.models) if routing is not None else {}
        models: dict[int, LoadedModel] = {}
        for version in deployment.versions:
            model = loaded.get(version)
            if model is None:
                result = self._load(version)
                if isinstance(result, ReloadEvent):
                    self._refuse_deployment(deployment.sequence, result.reason)
                    self._on_event(result)
                    return result
                model = result
                self.refused.pop(version, None)
            models[version] = model
        previous = routing.deployment.primary if routing is not None else None
        self.routing = Routing(deployment, models)
        self.refused_deployment = None
        memory = sum(m.memory_bytes for m in models.values())
        event = ReloadEvent(self.name, deployment.primary, True, "", memory)
        log.info(
            "model '%s' now serves %s%s (primary was %s)",
            self.name,
            {v: w for v, w in sorted(deployment.weights.items()) if w > 0},
            f", shadow {list(deployment.shadow)}" if deployment.shadow else "",
            previous,
        )
        self._on_event(event)
        return event

    def _refuse_deployment(self, sequence: int, reason: str) -> None:
        if self.refused_deployment != (sequence, reason):
            log.error(
                "model '%s': deployment %s not applied, the current one keeps serving: %s", self.name, sequence, reason
            )
        self.refused_deployment = (sequence, reason)

    def poll(self) -> ReloadEvent | None:
        """One reload step: apply the wanted deployment if it differs from what serves and can be loaded."""
        wanted = self.wanted()
        if wanted is None:
            return None
        routing = self.routing
        if routing is not None and wanted.same_serving(routing.deployment):
            if wanted != routing.deployment:  # only the controller's state or the rollback count changed
                self.routing = Routing(wanted, routing.models)
            return None
        loaded = routing.models if routing is not None else {}
        if not self._to_load(wanted) and any(v not in loaded for v in wanted.versions):
            return None  # a version it needs was refused with these files
        return self.apply(wanted)


async def watch(hosts: list[ModelHost], interval_s: float, stop: asyncio.Event) -> None:
    """Polls the repository every `interval_s` and loads new versions on a thread, until `stop` is set."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        for host in list(hosts):  # models may be attached or detached while a poll awaits
            try:
                await loop.run_in_executor(None, host.poll)
            except Exception:  # noqa: BLE001 - a reload bug must never take the serving version down
                log.exception("reload of model '%s' failed unexpectedly; the current version keeps serving", host.name)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)
