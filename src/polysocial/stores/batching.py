"""Natural batching of one kind of read: calls made while a batch is on the wire wait and leave together as the next
batch, so that under load one round trip answers many requests (group commit, applied to reads). Under light load a
call leaves at the next turn of the event loop, with whatever else was asked in that turn: it waits for nothing.

A round trip's cost on a small machine is mostly system calls and waking the server's process, not the query: the
home feed's one PostgreSQL read (which of these posts the reader liked) was a fifth of a feed request's CPU, most of
it in ``send``. Batched, 32 concurrent readers share a handful of round trips.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Q = TypeVar("Q")
R = TypeVar("R")

MAX_BATCH = 128


class Batcher(Generic[Q, R]):
    """``await batcher(query)``: the answer to ``query``, from ``run(queries) -> answers`` (same order) over a batch.

    At most ``max_in_flight`` batches run at once; a batch that fails fails each of its calls with the same error
    (a store that is down is down for all of them). A caller that gives up (cancelled) leaves the batch unharmed."""

    def __init__(
        self, run: Callable[[list[Q]], Awaitable[Sequence[R]]], *, max_in_flight: int = 2, max_batch: int = MAX_BATCH
    ) -> None:
        self._run = run
        self._max_in_flight = max_in_flight
        self._max_batch = max_batch
        self._waiting: list[tuple[Q, asyncio.Future[R]]] = []
        self._in_flight = 0
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches = 0  # batches sent, and calls answered: their ratio is the batching achieved
        self.calls = 0

    async def __call__(self, query: Q) -> R:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[R] = loop.create_future()
        self._waiting.append((query, answer))
        if not self._scheduled and self._in_flight < self._max_in_flight:
            self._scheduled = True
            loop.call_soon(self._send)  # after the other callbacks of this turn: they join the batch
        return await answer

    def _send(self) -> None:
        self._scheduled = False
        while self._waiting and self._in_flight < self._max_in_flight:
            batch, self._waiting = self._waiting[: self._max_batch], self._waiting[self._max_batch :]
            batch = [(q, f) for q, f in batch if not f.done()]  # callers that gave up are not asked for
            if not batch:
                continue
            self._in_flight += 1
            # A context of its own: the batch serves many callers, and must not run inside any one's (a circuit
            # breaker's nesting marker, a log context).
            task = asyncio.get_running_loop().create_task(self._answer(batch), context=contextvars.Context())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _answer(self, batch: list[tuple[Q, asyncio.Future[R]]]) -> None:
        self.batches += 1
        self.calls += len(batch)
        try:
            answers = await self._run([q for q, _ in batch])
        except asyncio.CancelledError:  # the server is shutting down: so are the calls
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
        else:
            for (_, future), answer in zip(batch, answers, strict=True):
                if not future.done():
                    future.set_result(answer)
        finally:
            self._in_flight -= 1
            if self._waiting and not self._scheduled:
                self._send()
