"""Dynamic batching: requests queue (bounded, in rows), and one worker coalesces them into a single model run."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import numpy as np

Arrays = dict[str, np.ndarray]
RunBatch = Callable[[Arrays], tuple[Arrays, int]]
"""Runs one batch; returns the outputs (same leading dimension) and the model version that produced them."""


class QueueFullError(Exception):
    """The queue holds as many rows as it may: answer 503 with Retry-After rather than wait without bound."""

    def __init__(self, queued_rows: int, limit: int, retry_after_s: float) -> None:
        super().__init__(f"the batching queue is full ({queued_rows} of {limit} rows queued); retry later")
        self.retry_after_s = retry_after_s


class QueueTimeoutError(Exception):
    """A request waited in the queue longer than the configured timeout and was not run."""


class BatchObserver(Protocol):
    """Receives batching events (the server forwards them to Prometheus)."""

    def batch_ran(self, rows: int, requests: int, seconds: float) -> None: ...

    def queue_depth(self, rows: int) -> None: ...


class _NoObserver:
    def batch_ran(self, rows: int, requests: int, seconds: float) -> None:
        pass

    def queue_depth(self, rows: int) -> None:
        pass


@dataclass(frozen=True)
class BatcherConfig:
    """How requests are coalesced and how far the queue may grow."""

    max_batch_size: int = 256
    """Most rows in one model run (a single request may carry up to this many)."""
    max_queue_delay_s: float = 0.0005
    """How long the oldest queued request may wait for more rows before a partial batch runs."""
    max_queue_rows: int = 4096
    """Rows queued before new requests are refused with QueueFullError."""
    queue_timeout_s: float = 1.0
    """A request still queued after this long fails with QueueTimeoutError instead of waiting on."""
    coalesce: bool = True
    """False runs each request on its own (dynamic batching off, for comparison)."""
    inline_max_rows: int = 64
    """Batches up to this many rows may run on the event loop itself: for a model that takes microseconds, the thread
    hand-off (a future, a wake-up of the loop from another thread) costs more than the run. Larger batches run on the
    batcher thread (ONNX Runtime releases the GIL). 0: always the thread."""
    inline_max_seconds: float = 0.0002
    """...and only while this batcher's runs take at most this long (an exponentially weighted average of the
    measured run times; the first run goes to the thread to be measured): a model that takes longer runs on the
    thread, so requests on other connections never wait behind it on the event loop."""

    def __post_init__(self) -> None:
        if self.max_batch_size < 1 or self.max_queue_rows < self.max_batch_size:
            raise ValueError("need max_batch_size >= 1 and max_queue_rows >= max_batch_size")
        if self.max_queue_delay_s < 0 or self.queue_timeout_s <= 0:
            raise ValueError("max_queue_delay_s must be >= 0 and queue_timeout_s > 0")
        if self.inline_max_rows < 0 or self.inline_max_seconds < 0:
            raise ValueError("inline_max_rows and inline_max_seconds must be >= 0")


RUN_TIME_SMOOTHING = 0.1
"""Weight of the newest run in the batcher's moving average of run times."""


@dataclass(eq=False)
class _Pending:
    inputs: Arrays
    rows: int
    future: asyncio.Future
    enqueued: float


class DynamicBatcher:
    """Coalesces concurrent requests into one model run (on a dedicated thread, or inline when the run is cheap),
    with a bounded queue."""

    def __init__(
        self,
        run_batch: RunBatch,
        config: BatcherConfig,
        observer: BatchObserver | None = None,
        executor: Executor | None = None,
    ) -> None:
        self._run_batch = run_batch
        self.config = config
        self._observer = observer or _NoObserver()
        self._executor = executor or ThreadPoolExecutor(max_workers=1, thread_name_prefix="batcher")
        self._queue: collections.deque[_Pending] = collections.deque()
        self._queued_rows = 0
        self._wake = asyncio.Event()
        self._full = asyncio.Event()
        self._worker: asyncio.Task | None = None
        self._running = False
        self._run_seconds: float | None = None
        """Moving average of measured run times (None until the first run)."""

    @property
    def queued_rows(self) -> int:
        return self._queued_rows

    @property
    def idle(self) -> bool:
        """Nothing queued and no batch running: stopping it now fails no request."""
        return not self._queue and not self._running

    def start(self) -> None:
        """Starts the worker task on the running loop."""
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._work(), name="dynamic-batcher")

    async def stop(self) -> None:
        """Stops taking batches; queued requests fail with QueueTimeoutError."""
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None
        while self._queue:
            pending = self._queue.popleft()
            if not pending.future.done():
                pending.future.set_exception(QueueTimeoutError("the server is shutting down"))
        self._queued_rows = 0

    @property
    def run_seconds(self) -> float | None:
        """Moving average of this batcher's model run times (None before the first run)."""
        return self._run_seconds

    def _inline(self, rows: int) -> bool:
        """Whether a batch of `rows` rows runs on the event loop (see BatcherConfig.inline_max_seconds)."""
        average = self._run_seconds
        return rows <= self.config.inline_max_rows and average is not None and average <= self.config.inline_max_seconds

    def _ran(self, rows: int, requests: int, seconds: float) -> None:
        average = self._run_seconds
        self._run_seconds = seconds if average is None else average + RUN_TIME_SMOOTHING * (seconds - average)
        self._observer.batch_ran(rows, requests, seconds)

    async def submit(self, inputs: Arrays, rows: int) -> tuple[Arrays, int]:
        """Queues one request of `rows` rows and waits for its slice of the batch outputs and the model version.

        With batching off and nothing queued or running, a request small and fast enough to run inline runs at once:
        no queue entry, future or wake-up of the worker task (they were a third of such a request's CPU)."""
        if not self.config.coalesce and not self._queue and not self._running and self._inline(rows):
            self._running = True
            started = time.perf_counter()
            try:
                outputs, version = self._run_batch(inputs)
            finally:
                self._running = False
            self._ran(rows, 1, time.perf_counter() - started)
            return outputs, version
        return await self.submit_nowait(inputs, rows)

    def submit_nowait(self, inputs: Arrays, rows: int) -> asyncio.Future:
        """Queues one request and returns the future of its (outputs, version) without awaiting it: for work nobody
        waits on (a shadow's mirrored requests), a callback on the future costs less than a task per request."""
        limit = self.config.max_queue_rows
        if self._queued_rows + rows > limit:
            raise QueueFullError(self._queued_rows, limit, retry_after_s=max(self.config.max_queue_delay_s, 0.05))
        future = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(inputs, rows, future, time.monotonic()))
        self._queued_rows += rows
        self._observer.queue_depth(self._queued_rows)
        self._wake.set()
        if self._queued_rows >= self.config.max_batch_size:
            self._full.set()
        return future

    def _take_batch(self) -> list[_Pending]:
        batch: list[_Pending] = []
        rows = 0
        deadline = time.monotonic() - self.config.queue_timeout_s
        while self._queue:
            pending = self._queue[0]
            if pending.future.done():  # cancelled by its caller
                self._queue.popleft()
                self._queued_rows -= pending.rows
                continue
            if pending.enqueued < deadline:
                self._queue.popleft()
                self._queued_rows -= pending.rows
                pending.future.set_exception(
                    QueueTimeoutError(f"request waited over {self.config.queue_timeout_s:g} s in the batching queue")
                )
                continue
            if batch and (rows + pending.rows > self.config.max_batch_size or not self.config.coalesce):
                break
            self._queue.popleft()
            self._queued_rows -= pending.rows
            batch.append(pending)
            rows += pending.rows
        if self._queued_rows < self.config.max_batch_size:
            self._full.clear()
        self._observer.queue_depth(self._queued_rows)
        return batch

    async def _wait_for_rows(self) -> None:
        """Holds a partial batch until it fills or its oldest request is max_queue_delay_s old."""
        delay = self.config.max_queue_delay_s
        if delay <= 0 or not self.config.coalesce or self._queued_rows >= self.config.max_batch_size:
            return
        remaining = self._queue[0].enqueued + delay - time.monotonic()
        if remaining > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), remaining)

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            await self._wait_for_rows()
            batch = self._take_batch()
            if not batch:
                continue
            if len(batch) == 1:
                merged = batch[0].inputs
            else:
                merged = {name: np.concatenate([p.inputs[name] for p in batch]) for name in batch[0].inputs}
            started = time.perf_counter()
            rows = sum(p.rows for p in batch)
            self._running = True
            try:
                if self._inline(rows):
                    outputs, version = self._run_batch(merged)
                else:
                    outputs, version = await loop.run_in_executor(self._executor, self._run_batch, merged)
            except Exception as exc:  # noqa: BLE001 - the model failed: every request of this batch gets the error
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(exc)
                continue
            finally:
                self._running = False
            self._ran(rows, len(batch), time.perf_counter() - started)
            offset = 0
            for pending in batch:
                if not pending.future.done():
                    sliced = {name: array[offset : offset + pending.rows] for name, array in outputs.items()}
                    pending.future.set_result((sliced, version))
                offset += pending.rows
