"""The micro-batcher on its own: batches form, respect max_batch, never split a request, answer each request its rows."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from lstm_deploy.serve.batching import MicroBatcher, Overloaded, describe


def _run(coro):
    return asyncio.run(coro)


class Recorder:
    """A fake model: output row = input row sum; records batch sizes and how many calls overlap."""

    def __init__(self, delay: float = 0.0) -> None:
        self.sizes: list[int] = []
        self.delay, self.active, self.peak = delay, 0, 0
        self.lock = threading.Lock()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
            self.sizes.append(len(x))
        time.sleep(self.delay)
        with self.lock:
            self.active -= 1
        return x.reshape(len(x), -1).sum(axis=1)


async def _submit_all(batcher: MicroBatcher, xs: list[np.ndarray]) -> list[np.ndarray]:
    await batcher.start()
    try:
        return await asyncio.gather(*(batcher.submit(x) for x in xs))
    finally:
        await batcher.stop()


def test_concurrent_requests_share_batches_and_get_their_own_rows():
    model = Recorder(delay=0.01)
    batcher = MicroBatcher(model, max_batch=8, max_wait_ms=50)
    xs = [np.full((1, 2), i, np.float32) for i in range(20)]
    ys = _run(_submit_all(batcher, xs))
    assert [float(y[0]) for y in ys] == [2.0 * i for i in range(20)]
    assert sum(model.sizes) == 20 and max(model.sizes) == 8 and len(model.sizes) < 20
    assert describe(batcher)["mean_batch"] == round(20 / len(model.sizes), 2)


def test_requests_are_never_split_and_batches_never_exceed_max_batch():
    model = Recorder()
    batcher = MicroBatcher(model, max_batch=5, max_wait_ms=30)
    xs = [np.full((n, 1), n, np.float32) for n in (3, 3, 2, 4, 1, 5)]
    ys = _run(_submit_all(batcher, xs))
    assert [y.tolist() for y in ys] == [[float(len(x))] * len(x) for x in xs]
    assert max(model.sizes) <= 5 and sum(model.sizes) == 18


def test_max_batch_one_is_one_call_per_request_and_workers_overlap():
    model = Recorder(delay=0.05)
    batcher = MicroBatcher(model, max_batch=1, max_wait_ms=10, workers=3)
    _run(_submit_all(batcher, [np.ones((1, 1), np.float32)] * 6))
    assert model.sizes == [1] * 6 and model.peak == 3


def test_a_failing_model_fails_only_its_batch_and_the_batcher_goes_on():
    calls = []

    def flaky(x):
        calls.append(len(x))
        if len(calls) == 1:
            raise ValueError("boom")
        return x[:, 0]

    async def scenario():
        batcher = MicroBatcher(flaky, max_batch=4, max_wait_ms=1)
        await batcher.start()
        with pytest.raises(ValueError, match="boom"):
            await batcher.submit(np.ones((1, 1), np.float32))
        y = await batcher.submit(np.full((1, 1), 7, np.float32))
        await batcher.stop()
        return y

    assert _run(scenario()).tolist() == [7.0]


def test_overload_is_refused_not_queued_forever():
    async def scenario():
        batcher = MicroBatcher(Recorder(delay=0.2), max_batch=1, max_wait_ms=0, max_queue=2)
        await batcher.start()
        first = asyncio.ensure_future(batcher.submit(np.ones((2, 1), np.float32)))
        await asyncio.sleep(0)  # queued, not yet taken
        with pytest.raises(Overloaded, match="2 sequences are waiting \\(limit 2\\)"):
            await batcher.submit(np.ones((1, 1), np.float32))
        await first
        await batcher.stop()

    _run(scenario())


def test_several_input_requests_are_joined_input_by_input_and_counted_in_rows():
    """``{name: (n, ...)}`` requests (captioners): each input concatenated, each request its own rows, n counted."""
    calls: list[dict[str, np.ndarray]] = []

    def two_inputs(x: dict[str, np.ndarray]) -> np.ndarray:
        calls.append(x)
        return x["image"].reshape(len(x["image"]), -1).sum(axis=1) * 100 + x["tokens"].sum(axis=1)

    batcher = MicroBatcher(two_inputs, max_batch=6, max_wait_ms=50)
    xs = [{"image": np.full((n, 2, 2), i, np.float32), "tokens": np.full((n, 3), i, np.int32)} for i, n in enumerate((1, 3, 2, 4))]
    ys = _run(_submit_all(batcher, xs))
    assert [y.tolist() for y in ys] == [[400.0 * i + 3 * i] * len(x["image"]) for i, x in enumerate(xs)]
    assert all(len(c["image"]) == len(c["tokens"]) <= 6 for c in calls) and sum(len(c["tokens"]) for c in calls) == 10
    assert len(calls) < 4 and describe(batcher)["sequences"] == 10 and describe(batcher)["requests"] == 4


def test_a_late_request_waits_for_company_and_healthz_counts_it():
    """The second request arrives 20 ms after the first, inside max_wait: one batch (killed `deadline = now - max_wait`)."""
    rec = Recorder()

    async def scenario():
        batcher = MicroBatcher(rec, max_batch=8, max_wait_ms=300)
        await batcher.start()
        try:
            first = asyncio.create_task(batcher.submit(np.ones((2, 3), np.float32)))
            await asyncio.sleep(0.02)
            second = asyncio.create_task(batcher.submit(np.full((1, 3), 2.0, np.float32)))
            return await first, await second, describe(batcher)
        finally:
            await batcher.stop()

    a, b, health = _run(scenario())
    assert rec.sizes == [3] and a.tolist() == [3.0, 3.0] and b.tolist() == [6.0]
    assert health == {"requests": 2, "batches": 1, "sequences": 3, "mean_batch": 3.0, "queued": 0}


def test_queued_rows_add_up_across_requests():
    """max_queue counts every waiting row: 2 + 2 + 2 > 5 is refused while the only worker is busy (killed `_queued = n`)."""
    async def scenario():
        batcher = MicroBatcher(Recorder(delay=0.3), max_batch=1, max_wait_ms=1, max_queue=5)
        await batcher.start()
        try:
            busy = asyncio.create_task(batcher.submit(np.ones((1, 3), np.float32)))
            await asyncio.sleep(0.05)  # the worker is busy with it for 0.3 s
            waiting = [asyncio.create_task(batcher.submit(np.ones((2, 3), np.float32))) for _ in range(2)]
            await asyncio.sleep(0.01)
            with pytest.raises(Overloaded, match=r"^4 sequences are waiting \(limit 5\)$"):
                await batcher.submit(np.ones((2, 3), np.float32))
            await busy
            return [await w for w in waiting]
        finally:
            await batcher.stop()

    assert [y.tolist() for y in _run(scenario())] == [[3.0, 3.0], [3.0, 3.0]]


def test_stop_fails_what_is_still_queued():
    async def scenario():
        batcher = MicroBatcher(Recorder(delay=0.3), max_batch=1, max_wait_ms=1)
        await batcher.start()
        first = asyncio.create_task(batcher.submit(np.ones((1, 3), np.float32)))
        await asyncio.sleep(0.05)
        queued = asyncio.create_task(batcher.submit(np.ones((1, 3), np.float32)))
        await asyncio.sleep(0.01)
        await batcher.stop()
        return await first, await asyncio.gather(asyncio.wait_for(queued, 5), return_exceptions=True)

    first, (queued,) = _run(scenario())
    assert first.tolist() == [3.0]  # the batch in flight finished
    assert isinstance(queued, Overloaded) and str(queued) == "the service is shutting down"
