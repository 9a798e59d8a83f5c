"""The dynamic batcher coalesces, splits, bounds its queue and times out, on a fake model."""

import asyncio
import threading
import time

import numpy as np
import pytest

from serving.dynamic_batcher import BatcherConfig, DynamicBatcher, QueueFullError, QueueTimeoutError


class RecordingModel:
    """Doubles its input; records the batch sizes it ran; can be slowed down or made to fail."""

    def __init__(self, delay_s: float = 0.0, fail: bool = False):
        self.batches: list[int] = []
        self.delay_s = delay_s
        self.fail = fail
        self.release = threading.Event()
        self.release.set()

    def __call__(self, inputs):
        self.release.wait(5)
        time.sleep(self.delay_s)
        if self.fail:
            raise RuntimeError("model exploded")
        self.batches.append(len(inputs["x"]))
        return {"y": inputs["x"] * 2}, 7


def rows(values):
    return {"x": np.asarray(values, dtype=np.float32).reshape(-1, 1)}


async def run_all(batcher, requests):
    batcher.start()
    try:
        return await asyncio.gather(*(batcher.submit(r, len(r["x"])) for r in requests), return_exceptions=True)
    finally:
        await batcher.stop()


def test_concurrent_requests_are_coalesced_and_split_back_in_order():
    model = RecordingModel()
    model.release.clear()
    batcher = DynamicBatcher(model, BatcherConfig(max_batch_size=64, max_queue_delay_s=0.0))

    async def scenario():
        batcher.start()
        first = asyncio.ensure_future(batcher.submit(rows([0]), 1))  # occupies the model while the rest queue
        await asyncio.sleep(0.05)
        rest = [asyncio.ensure_future(batcher.submit(rows([i, i + 0.5]), 2)) for i in range(1, 11)]
        await asyncio.sleep(0.05)
        model.release.set()
        results = await asyncio.gather(first, *rest)
        await batcher.stop()
        return results

    results = asyncio.run(scenario())
    assert model.batches == [1, 20], "the ten queued requests ran as one batch"
    for i, (outputs, version) in enumerate(results[1:], start=1):
        assert version == 7
        np.testing.assert_array_equal(outputs["y"].ravel(), [2 * i, 2 * i + 1])


def test_batches_never_exceed_max_batch_size():
    model = RecordingModel(delay_s=0.001)
    results = asyncio.run(
        run_all(
            DynamicBatcher(model, BatcherConfig(max_batch_size=8, max_queue_delay_s=0.002)),
            [rows([i] * 3) for i in range(20)],
        )
    )
    assert not [r for r in results if isinstance(r, Exception)]
    assert max(model.batches) <= 8 and sum(model.batches) == 60


def test_queue_delay_waits_for_more_rows():
    model = RecordingModel()
    batcher = DynamicBatcher(model, BatcherConfig(max_batch_size=64, max_queue_delay_s=0.2))

    async def scenario():
        batcher.start()
        first = asyncio.ensure_future(batcher.submit(rows([1]), 1))
        await asyncio.sleep(0.05)  # well inside the delay
        second = asyncio.ensure_future(batcher.submit(rows([2]), 1))
        await asyncio.gather(first, second)
        await batcher.stop()

    asyncio.run(scenario())
    assert model.batches == [2]


def test_batching_off_runs_each_request_alone():
    model = RecordingModel(delay_s=0.001)
    asyncio.run(run_all(DynamicBatcher(model, BatcherConfig(coalesce=False)), [rows([i]) for i in range(10)]))
    assert model.batches == [1] * 10


class ThreadRecordingModel(RecordingModel):
    """Also records which thread ran each batch."""

    def __init__(self, delay_s: float = 0.0):
        super().__init__(delay_s)
        self.threads: list[int] = []

    def __call__(self, inputs):
        self.threads.append(threading.get_ident())
        return super().__call__(inputs)


async def one_at_a_time(batcher, count: int) -> int:
    """Submits `count` single-row requests one after another; returns the event loop's thread id."""
    batcher.start()
    try:
        for i in range(count):
            outputs, version = await batcher.submit(rows([i]), 1)
            assert outputs["y"].tolist() == [[2.0 * i]] and version == 7
    finally:
        await batcher.stop()
    return threading.get_ident()


@pytest.mark.parametrize("coalesce", [True, False])
def test_a_fast_model_runs_on_the_event_loop_after_its_first_measured_run(coalesce):
    model = ThreadRecordingModel()
    batcher = DynamicBatcher(model, BatcherConfig(coalesce=coalesce, inline_max_seconds=0.05))
    loop_thread = asyncio.run(one_at_a_time(batcher, 5))
    assert model.threads[0] != loop_thread, "the first run is measured on the batcher thread"
    assert model.threads[1:] == [loop_thread] * 4
    assert batcher.run_seconds is not None and batcher.run_seconds < 0.05


def test_a_slow_model_stays_on_the_batcher_thread():
    model = ThreadRecordingModel(delay_s=0.003)
    batcher = DynamicBatcher(model, BatcherConfig(coalesce=False, inline_max_seconds=0.001))
    loop_thread = asyncio.run(one_at_a_time(batcher, 4))
    assert loop_thread not in model.threads
    assert batcher.run_seconds >= 0.003


def test_inline_runs_can_be_switched_off():
    model = ThreadRecordingModel()
    batcher = DynamicBatcher(model, BatcherConfig(inline_max_rows=0, inline_max_seconds=1.0))
    loop_thread = asyncio.run(one_at_a_time(batcher, 4))
    assert loop_thread not in model.threads


def test_a_model_failing_inline_fails_its_request_and_the_next_one_runs():
    model = RecordingModel()
    batcher = DynamicBatcher(model, BatcherConfig(coalesce=False, inline_max_seconds=1.0))

    async def scenario():
        batcher.start()
        try:
            await batcher.submit(rows([1]), 1)  # measured on the thread; the next runs inline
            model.fail = True
            with pytest.raises(RuntimeError, match="model exploded"):
                await batcher.submit(rows([2]), 1)
            model.fail = False
            return await batcher.submit(rows([3]), 1)
        finally:
            await batcher.stop()

    outputs, _ = asyncio.run(scenario())
    assert outputs["y"].tolist() == [[6.0]] and batcher.idle


def test_full_queue_refuses_instead_of_waiting():
    model = RecordingModel()
    model.release.clear()
    batcher = DynamicBatcher(model, BatcherConfig(max_batch_size=4, max_queue_rows=8, max_queue_delay_s=0))

    async def scenario():
        batcher.start()
        running = asyncio.ensure_future(batcher.submit(rows([0] * 4), 4))
        await asyncio.sleep(0.05)
        queued = [asyncio.ensure_future(batcher.submit(rows([1] * 4), 4)) for _ in range(2)]
        await asyncio.sleep(0)
        with pytest.raises(QueueFullError) as refused:
            await batcher.submit(rows([1]), 1)
        model.release.set()
        await asyncio.gather(running, *queued)
        await batcher.stop()
        return refused.value

    error = asyncio.run(scenario())
    assert error.retry_after_s > 0 and "8 of 8 rows" in str(error)


def test_requests_older_than_the_timeout_fail_fast():
    model = RecordingModel()
    model.release.clear()
    batcher = DynamicBatcher(model, BatcherConfig(max_batch_size=1, queue_timeout_s=0.05, max_queue_delay_s=0))

    async def scenario():
        batcher.start()
        running = asyncio.ensure_future(batcher.submit(rows([0]), 1))
        await asyncio.sleep(0.02)
        late = asyncio.ensure_future(batcher.submit(rows([1]), 1))
        await asyncio.sleep(0.2)
        model.release.set()
        results = await asyncio.gather(running, late, return_exceptions=True)
        await batcher.stop()
        return results

    running, late = asyncio.run(scenario())
    assert not isinstance(running, Exception)
    assert isinstance(late, QueueTimeoutError)


def test_a_failing_model_fails_its_batch_not_the_batcher():
    model = RecordingModel(fail=True)
    batcher = DynamicBatcher(model, BatcherConfig())

    async def scenario():
        batcher.start()
        failed = await asyncio.gather(batcher.submit(rows([1]), 1), return_exceptions=True)
        model.fail = False
        ok = await batcher.submit(rows([3]), 1)
        await batcher.stop()
        return failed[0], ok

    failed, (outputs, _) = asyncio.run(scenario())
    assert isinstance(failed, RuntimeError)
    assert outputs["y"].item() == 6


def test_config_is_validated():
    with pytest.raises(ValueError, match="max_queue_rows"):
        BatcherConfig(max_batch_size=10, max_queue_rows=5)
    with pytest.raises(ValueError, match="inline_max_rows"):
        BatcherConfig(inline_max_rows=-1)
