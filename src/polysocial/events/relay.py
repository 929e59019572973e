"""The relay: delivers outbox events to their handlers, at least once, in order per aggregate.

Every source (events/sources.py: the PostgreSQL outbox, the events riding in documents) goes through one delivery
path: a claim holds each aggregate's pending events oldest first; the relay hands the handlers the head of every
aggregate together (one batch per handler), then the next, and an aggregate whose head fails waits behind it. A
failure is retried by the RetryPolicy (events/retry.py); past its attempts the event goes to the dead-letter table
with the error text. A crash at any point loses nothing: the event stays until marked done, and a handler either is
idempotent by construction or has what it took recorded (processed_events), so a redelivery applies nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass

from polysocial import failpoints
from polysocial.domain.events import Event
from polysocial.events.handlers import Handler
from polysocial.events.retry import Deferred, RetryPolicy
from polysocial.events.sources import Claim, EventSource, Pending
from polysocial.logging import get_logger
from polysocial.stores.base import describe
from polysocial.stores.relational.protocol import OutboxStats, RelationalStore

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class RelayConfig:
    batch_size: int = 100
    poll_s: float = 0.25  # documents cannot notify; the PostgreSQL outbox wakes the relay at once
    lease_s: float = 30.0
    processed_retention_s: float = 7 * 86_400
    prune_every_s: float = 600.0


@dataclass(frozen=True, slots=True)
class RelayStatus:
    outbox: OutboxStats
    document_pending: int


class Relay:
    def __init__(
        self,
        *,
        sources: Sequence[EventSource],
        handlers: Sequence[Handler],
        tracking: RelationalStore,
        retry: RetryPolicy | None = None,
        config: RelayConfig | None = None,
    ) -> None:
        self.sources = list(sources)
        self.handlers = list(handlers)
        self.tracking = tracking  # processed-event records, dead letters and the outbox's figures
        self.retry = retry or RetryPolicy()
        self.config = config or RelayConfig()
        self._last_prune = 0.0
        self.delivered = 0  # events this relay delivered since it started (the worker's progress lines)

    async def status(self) -> RelayStatus:
        others = [s for s in self.sources if s.name != "outbox"]
        return RelayStatus(await self.tracking.outbox_stats(), sum([await s.pending() for s in others]))

    # -- delivery -------------------------------------------------------------------------------------------------

    async def deliver_many(self, events: Sequence[Event]) -> dict[uuid.UUID, Exception]:
        """Every handler of these events (at most one per aggregate) that has not taken them yet, each handler
        once for all of its events; returns the events that failed, with the error. A handler's batch that fails
        is retried one event at a time, so that one bad event does not hold back the others."""
        failed: dict[uuid.UUID, Exception] = {}
        for handler in self.handlers:
            relevant = [e for e in events if e.event_type in handler.event_types and e.event_id not in failed]
            if not relevant:
                continue
            todo = relevant
            if handler.tracked:
                taken = await self.tracking.processed(handler.name, [e.event_id for e in relevant])
                todo = [e for e in relevant if e.event_id not in taken]
            if not todo:
                continue
            succeeded = await self._apply(handler, todo, failed)
            failpoints.failpoint(failpoints.RELAY_AFTER_HANDLER)
            if handler.tracked:
                await self.tracking.mark_processed(handler.name, [e.event_id for e in succeeded])
            failpoints.failpoint(failpoints.RELAY_AFTER_MARK_PROCESSED)
        return failed

    @staticmethod
    async def _apply(handler: Handler, todo: list[Event], failed: dict[uuid.UUID, Exception]) -> list[Event]:
        try:
            await handler.apply(todo)
            return todo
        except Exception as exc:
            if len(todo) == 1:
                failed[todo[0].event_id] = exc
                return []
        succeeded = []  # find the culprit: one at a time
        for event in todo:
            try:
                await handler.run(event)
                succeeded.append(event)
            except Exception as exc:  # the event fails, the relay goes on
                failed[event.event_id] = exc
        return succeeded

    async def _deliver_claim(self, claim: Claim) -> int:
        """Deliver a claim round by round: the head of every aggregate still going, together."""
        delivered = 0
        streams = [list(s) for s in claim.streams if s]
        while streams:
            heads = [s.pop(0) for s in streams]
            failed = await self.deliver_many([h.event for h in heads])
            going: list[list[Pending]] = []
            succeeded: list[tuple[list[Pending], Pending]] = []
            for stream, head in zip(streams, heads, strict=True):
                error = failed.get(head.event.event_id)
                if error is None:
                    succeeded.append((stream, head))
                elif await self._failed(claim, head, error) is None:
                    going.append(stream)  # dead-lettered: the events behind it go on
            lost = await claim.done([h for _, h in succeeded])
            for stream, head in succeeded:
                if id(head.handle) not in lost:
                    delivered += 1
                    going.append(stream)
            streams = [s for s in going if s]
        return delivered

    async def _failed(self, claim: Claim, item: Pending, error: Exception) -> float | None:
        retry = self.retry.retry_in(item.attempts + 1, error)
        await claim.failed(item, describe(error), retry_in_s=retry)
        report = log.info if isinstance(error, Deferred) else log.warning
        report(
            "event delivery deferred" if isinstance(error, Deferred) else "event delivery failed",
            event_id=str(item.event.event_id),
            event_type=item.event.event_type,
            attempts=item.attempts + 1,
            retry_in_s=retry,
            error=describe(error),
        )
        return retry

    async def run_source_once(self, source: EventSource) -> int:
        async with source.claim(self.config.batch_size) as claim:
            delivered = await self._deliver_claim(claim)
        self.delivered += delivered
        return delivered

    async def run_once(self) -> int:
        """One batch from each source; the number of events delivered."""
        delivered = 0
        for source in self.sources:
            delivered += await self.run_source_once(source)
        await self._maybe_prune()
        return delivered

    async def _maybe_prune(self) -> None:
        now = time.monotonic()
        if now - self._last_prune >= self.config.prune_every_s:
            self._last_prune = now
            await self.tracking.prune_processed(self.config.processed_retention_s)

    # -- loops ----------------------------------------------------------------------------------------------------

    async def drain(self, *, timeout_s: float = 30.0) -> None:
        """Deliver until nothing is due (tests, benchmarks, CLI)."""
        deadline = time.monotonic() + timeout_s
        while await self.run_once() > 0:
            if time.monotonic() > deadline:
                raise TimeoutError("the relay did not drain in time")

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set, one loop per source, so that a slow or unreachable source delays only its
        own events (FerretDB's outbox query scans a whole collection: at 3,000 posts it held every sign-up's graph
        node back by half a second when both shared one loop). Survives store outages: it waits and starts again."""
        await asyncio.gather(*(self._loop(source, stop) for source in self.sources))

    async def _loop(self, source: EventSource, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                async with source.waiter(self.config.poll_s) as wait:
                    while not stop.is_set():
                        delivered = await self.run_source_once(source)
                        await self._maybe_prune()
                        if delivered == 0:
                            await _first_of(wait(self.config.poll_s), stop)
            except Exception as exc:  # a store went away: log, wait, reconnect
                log.warning("relay interrupted; retrying", source=source.name, error=describe(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=1.0)


async def _first_of(waiting: Awaitable[None], stop: asyncio.Event) -> None:
    tasks = [asyncio.ensure_future(waiting), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
