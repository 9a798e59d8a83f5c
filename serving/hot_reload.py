"""Zero-downtime reload: a ModelHost serves one model and switches to a newer version only after it loaded,
matched the served signature and passed its warm-up check; otherwise the old version keeps serving."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from serving import model_repository
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


class ModelHost:
    """Holds the serving version of one model; `current` is swapped in one assignment, never mutated."""

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
        self.current: LoadedModel | None = None
        self.refused: dict[int, tuple[tuple, str]] = {}
        """Versions that failed, with the file stamp they failed with (retried only if the files change)."""
        self._on_event = on_event or (lambda event: None)

    def run(self, inputs):
        """Runs a batch on whichever version is current when the batch starts (in-flight batches finish on theirs)."""
        model = self.current
        if model is None:
            raise ModelLoadError(f"model '{self.name}' has no version loaded")
        return model.run(inputs)

    def candidate(self) -> int | None:
        """The version to load next: the one the repository says to serve (pinned, else newest), if it is not
        serving already and did not fail with these same files."""
        try:
            latest = model_repository.serving_version(self.root, self.name)
        except (OSError, ValueError) as exc:  # a config.pbtxt being replaced, or a bad pin: keep serving
            log.warning("model '%s': cannot read which version to serve (%s); keeping the current one", self.name, exc)
            return None
        if latest is None or (self.current is not None and latest == self.current.version):
            return None
        if latest in self.refused:
            stamp, _ = self.refused[latest]
            if stamp == self._stamp(latest):
                return None
        return latest

    def _stamp(self, version: int) -> tuple:
        try:
            config = model_repository.read_config(self.root, self.name)
            return file_stamp(model_repository.version_path(self.root, self.name, version) / config.model_file)
        except (OSError, ValueError, RuntimeError):
            return ()

    def try_load(self, version: int) -> ReloadEvent:
        """Loads and checks `version` (blocking: call it off the event loop); switches to it only if it passed."""
        expected = self.current.config if self.current is not None else self.expected
        try:
            model = load_version(
                self.root, self.name, version, expected=expected, check=self.check, threads=self.threads
            )
        except ModelLoadError as exc:
            self.refused[version] = (self._stamp(version), str(exc))
            event = ReloadEvent(self.name, version, False, str(exc))
            log.error("refused %s", exc)
        else:
            previous = self.current
            self.current = model
            self.refused.pop(version, None)
            event = ReloadEvent(self.name, version, True, "", model.memory_bytes)
            log.info(
                "model '%s' now serves version %s (was %s)", self.name, version, previous.version if previous else None
            )
        self._on_event(event)
        return event

    def poll(self) -> ReloadEvent | None:
        """One reload step: load the candidate version if there is one."""
        version = self.candidate()
        return self.try_load(version) if version is not None else None


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
