"""Dynamic micro-batching: concurrent requests gathered into one inference call, answered one by one.

A request waits at most ``max_wait_ms`` for others to join its batch; a batch holds at
most ``max_batch`` sequences (a request is never split: one that does not fit starts the
next batch). Batches run on a pool of ``workers`` threads, so the event loop keeps
accepting requests while the model computes; each request gets exactly its own rows of
the batch's output. Correctness does not depend on batching: ``predict`` treats every
sequence as independent (state reset for TFLite, fixed batches padded), which is what
makes a batched answer the one-at-a-time answer.

A request is an ``(n, ...)`` array, or for a model with several inputs a dict
``{input name: (n, ...) array}`` with the same ``n`` in every input: those are
concatenated input by input, and ``n`` (the sequences, or samples) is what
``max_batch``, ``max_queue`` and the counters count.

Example:
    >>> import asyncio, numpy as np
    >>> async def demo():
    ...     batcher = MicroBatcher(lambda x: x.sum(axis=1), max_batch=8, max_wait_ms=5)
    ...     await batcher.start()
    ...     ys = await asyncio.gather(*(batcher.submit(np.full((1, 3), i, np.float32)) for i in range(4)))
    ...     await batcher.stop()
    ...     return [float(y[0]) for y in ys], batcher.stats["batches"]
    >>> asyncio.run(demo())
    ([0.0, 3.0, 6.0, 9.0], 1)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..runtime import rows


class Overloaded(Exception):
    """More sequences are waiting than the queue allows (the caller answers 503)."""


Inputs = np.ndarray | dict[str, np.ndarray]
"""One request's rows: an array, or ``{input name: array}`` (the same number of rows in each)."""


def _concatenate(xs: list[Inputs]) -> Inputs:
    """The requests' rows one after the other (input by input for dicts)."""
    if len(xs) == 1:
        return xs[0]
    if isinstance(xs[0], dict):
        return {name: np.concatenate([x[name] for x in xs]) for name in xs[0]}  # type: ignore[index]
    return np.concatenate(xs)  # type: ignore[arg-type]


@dataclass
class _Request:
    x: Inputs
    future: asyncio.Future[np.ndarray]

    @property
    def rows(self) -> int:
        return rows(self.x)


class MicroBatcher:
    """Gathers ``submit(x)`` calls into ``predict`` calls of up to ``max_batch`` sequences.

    Args:
        predict: ``(n, ...) -> (n, ...)`` over independent sequences (or ``{name: (n, ...)}``
            -> ``(n, ...)`` for several inputs), safe to call from ``workers`` threads at once
            (``lstm_deploy.runtime.Model.predict`` is).
        max_batch: most sequences per call; 1 disables batching.
        max_wait_ms: how long a batch's first request waits for company.
        workers: calls in flight at the same time.
        max_queue: most sequences waiting; ``submit`` raises :class:`Overloaded` beyond.
    """

    def __init__(self, predict: Callable[[Any], np.ndarray], *, max_batch: int = 32, max_wait_ms: float = 2.0,
                 workers: int = 1, max_queue: int = 4096) -> None:
        self._predict = predict
        self.max_batch, self.max_wait = max_batch, max_wait_ms / 1000.0
        self.workers, self.max_queue = workers, max_queue
        self.stats: dict[str, int] = {"requests": 0, "batches": 0, "sequences": 0}
        self._queued = 0  # sequences submitted and not yet handed to a worker

    async def start(self) -> None:
        """Start the gathering loop (call inside the running event loop)."""
        self._queue: asyncio.Queue[_Request] = asyncio.Queue()
        self._slots = asyncio.Semaphore(self.workers)
        self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="lstm-deploy-infer")
        self._running: set[asyncio.Task[None]] = set()
        self._loop_task = asyncio.create_task(self._gather_forever())

    async def stop(self) -> None:
        """Finish the batches in flight, fail what is still queued, release the threads."""
        self._loop_task.cancel()
        await asyncio.gather(self._loop_task, return_exceptions=True)
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        while not self._queue.empty():
            request = self._queue.get_nowait()
            if not request.future.done():
                request.future.set_exception(Overloaded("the service is shutting down"))
        self._executor.shutdown(wait=True)

    @property
    def queued(self) -> int:
        """Sequences waiting for a worker."""
        return self._queued

    async def submit(self, x: Inputs) -> np.ndarray:
        """The model output for the sequences ``x`` (``(n, ...)``, or ``{name: (n, ...)}``), computed in some batch."""
        n = rows(x)
        if self._queued + n > self.max_queue:
            raise Overloaded(f"{self._queued} sequences are waiting (limit {self.max_queue})")
        request = _Request(x, asyncio.get_running_loop().create_future())
        self._queued += n
        self.stats["requests"] += 1
        self._queue.put_nowait(request)
        return await request.future

    async def _gather_forever(self) -> None:
        loop = asyncio.get_running_loop()
        carry: _Request | None = None
        while True:
            # Wait for a free worker first: requests arriving meanwhile join the next batch
            # instead of queueing behind a batch that is already closed.
            await self._slots.acquire()
            first = carry or await self._queue.get()
            carry = None
            batch, size = [first], first.rows
            deadline = loop.time() + self.max_wait
            while size < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    left = deadline - loop.time()
                    if left <= 0:
                        break
                    try:
                        nxt = await asyncio.wait_for(self._queue.get(), left)
                    except TimeoutError:
                        break
                if size + nxt.rows > self.max_batch:  # never split a request: it opens the next batch
                    carry = nxt
                    break
                batch.append(nxt)
                size += nxt.rows
            self._queued -= size
            task = asyncio.create_task(self._run(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run(self, batch: list[_Request]) -> None:
        try:
            x = _concatenate([r.x for r in batch])
            y = await asyncio.get_running_loop().run_in_executor(self._executor, self._predict, x)
            self.stats["batches"] += 1
            self.stats["sequences"] += rows(x)
            offset = 0
            for request in batch:
                if not request.future.done():  # a client that went away leaves a cancelled future
                    request.future.set_result(y[offset:offset + request.rows])
                offset += request.rows
        except Exception as exc:  # hand the failure to every waiting request; the handler decides the status
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(exc)
        finally:
            self._slots.release()


def describe(batcher: MicroBatcher) -> dict[str, Any]:
    """Counters for ``/healthz``: requests, batches, sequences, mean batch size, queue length."""
    s = batcher.stats
    return {**s, "mean_batch": round(s["sequences"] / s["batches"], 2) if s["batches"] else None, "queued": batcher.queued}
