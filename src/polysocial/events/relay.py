"""The relay: delivers outbox events to their handlers, at least once, in order per aggregate.

Two sources: the PostgreSQL outbox (claimed with FOR UPDATE SKIP LOCKED, only the oldest event of each aggregate, so
any number of relays keep per-aggregate order) and the events riding inside documents (leased per document). A
handler that fails is retried with jittered exponential backoff; after ``max_attempts`` the event goes to the
dead-letter table with the error text. A crash at any point loses nothing: the event stays until marked done, and
handlers are idempotent and tracked, so a redelivery applies nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass

from polysocial import failpoints
from polysocial.domain.errors import StoreUnavailable
from polysocial.domain.events import Event
from polysocial.events.handlers import Handler
from polysocial.logging import get_logger
from polysocial.stores.base import describe
from polysocial.stores.documents.protocol import DocumentStore, PendingDocument
from polysocial.stores.relational.protocol import OutboxStats, RelationalStore

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class RelayConfig:
    batch_size: int = 100
    max_attempts: int = 8
    base_backoff_s: float = 0.5
    max_backoff_s: float = 300.0
    poll_s: float = 0.25  # documents cannot notify; the PostgreSQL outbox wakes the relay at once
    lease_s: float = 30.0
    document_collections: tuple[str, ...] = ()
    processed_retention_s: float = 7 * 86_400
    prune_every_s: float = 600.0


@dataclass(frozen=True, slots=True)
class RelayStatus:
    outbox: OutboxStats
    document_pending: int


class Relay:
    def __init__(
        self,
        relational: RelationalStore,
        documents: DocumentStore,
        handlers: Sequence[Handler],
        config: RelayConfig | None = None,
    ) -> None:
        self.relational = relational
        self.documents = documents
        self.handlers = list(handlers)
        self.config = config or RelayConfig()
        self._last_prune = 0.0

    def handlers_for(self, event_type: str) -> list[Handler]:
        return [h for h in self.handlers if event_type in h.event_types]

    def backoff_s(self, attempts: int) -> float:
        """Delay before the next try, after ``attempts`` failures so far: exponential, capped, jittered."""
        delay: float = min(self.config.max_backoff_s, self.config.base_backoff_s * 2.0**attempts)
        return delay * random.uniform(0.5, 1.5)  # noqa: S311 - jitter, not security

    def retry_in(self, attempts_after_this_failure: int, error: Exception | None = None) -> float | None:
        """Seconds until the next try, or None for the dead-letter table. A store that is down is not the event's
        fault: such failures are retried (at the capped backoff) for as long as the store stays down, so that,
        say, timelines catch up once Redis is back instead of losing their fan-out to the dead letters."""
        if isinstance(error, StoreUnavailable):
            return self.backoff_s(min(attempts_after_this_failure - 1, 16))
        if attempts_after_this_failure >= self.config.max_attempts:
            return None
        return self.backoff_s(attempts_after_this_failure - 1)

    async def status(self) -> RelayStatus:
        return RelayStatus(
            await self.relational.outbox_stats(),
            await self.documents.pending_count(self.config.document_collections),
        )

    # -- delivery -------------------------------------------------------------------------------------------------

    async def deliver(self, event: Event) -> None:
        """Every handler of one event that has not taken it yet (the document path: one event at a time)."""
        failed = await self.deliver_many([event])
        if failed:
            raise failed[event.event_id]

    async def deliver_many(self, events: Sequence[Event]) -> dict[uuid.UUID, Exception]:
        """Every handler of these events (at most one per aggregate) that has not taken them yet, each handler
        once for all of its events; returns the events that failed, with the error. A handler's batch that fails
        is retried one event at a time, so that one bad event does not hold back the others."""
        failed: dict[uuid.UUID, Exception] = {}
        for handler in self.handlers:
            relevant = [e for e in events if e.event_type in handler.event_types and e.event_id not in failed]
            if not relevant:
                continue
            taken = await self.relational.processed(handler.name, [e.event_id for e in relevant])
            todo = [e for e in relevant if e.event_id not in taken]
            if not todo:
                continue
            succeeded = await self._apply(handler, todo, failed)
            failpoints.failpoint(failpoints.RELAY_AFTER_HANDLER)
            await self.relational.mark_processed(handler.name, [e.event_id for e in succeeded])
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

    async def run_once(self) -> int:
        """One batch from each source; the number of events delivered."""
        delivered = await self._outbox_batch()
        if self.config.document_collections:
            delivered += await self._document_batch()
        await self._maybe_prune()
        return delivered

    async def _outbox_batch(self) -> int:
        async with self.relational.claim_outbox(self.config.batch_size) as batch:
            if not batch.events:
                return 0
            failpoints.failpoint(failpoints.RELAY_AFTER_CLAIM)
            failed = await self.deliver_many([item.event for item in batch.events])
            for item in batch.events:
                error = failed.get(item.event.event_id)
                if error is None:
                    continue
                retry = self.retry_in(item.attempts + 1, error)
                await batch.failed(item, describe(error), retry_in_s=retry)
                log.warning(
                    "event delivery failed",
                    event_id=str(item.event.event_id),
                    event_type=item.event.event_type,
                    attempts=item.attempts + 1,
                    retry_in_s=retry,
                    error=describe(error),
                )
            delivered = [item for item in batch.events if item.event.event_id not in failed]
            await batch.done(delivered)
            failpoints.failpoint(failpoints.RELAY_AFTER_MARK_DONE)
        failpoints.failpoint(failpoints.RELAY_AFTER_COMMIT)
        return len(delivered)

    async def _document_batch(self) -> int:
        pending = await self.documents.claim_pending(
            self.config.document_collections, limit=self.config.batch_size, lease_s=self.config.lease_s
        )
        delivered = 0
        for doc in pending:
            delivered += await self._deliver_document(doc)
        return delivered

    async def _deliver_document(self, doc: PendingDocument) -> int:
        delivered = 0
        for event, attempts in zip(doc.events, doc.attempts, strict=True):
            try:
                await self.deliver(event)
                failpoints.failpoint(failpoints.DOCUMENT_AFTER_HANDLER)
            except Exception as exc:  # as above: the event fails, the relay goes on
                retry = self.retry_in(attempts + 1, exc)
                log.warning("document event delivery failed", event_id=str(event.event_id), error=describe(exc))
                if retry is not None:
                    await self.documents.retry_later(doc.collection, doc.doc_id, event.event_id, delay_s=retry)
                    return delivered  # the rest wait behind it: order per document
                await self.relational.dead_letter(
                    event, source=f"documents:{doc.collection}", attempts=attempts + 1, error=describe(exc)
                )
            if not await self.documents.ack(doc.collection, doc.doc_id, event.event_id):
                return delivered  # another relay took over after our lease ran out
            failpoints.failpoint(failpoints.DOCUMENT_AFTER_ACK)
            delivered += 1
        await self.documents.release(doc.collection, doc.doc_id)
        return delivered

    async def _maybe_prune(self) -> None:
        now = time.monotonic()
        if now - self._last_prune >= self.config.prune_every_s:
            self._last_prune = now
            await self.relational.prune_processed(self.config.processed_retention_s)

    # -- loops ----------------------------------------------------------------------------------------------------

    async def drain(self, *, timeout_s: float = 30.0) -> None:
        """Deliver until nothing is due (tests, benchmarks, CLI)."""
        deadline = time.monotonic() + timeout_s
        while await self.run_once() > 0:
            if time.monotonic() > deadline:
                raise TimeoutError("the relay did not drain in time")

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set. Survives store outages: it waits and starts again. The relational outbox
        (woken by NOTIFY) and the document outboxes (polled) are two loops, so that a slow or unreachable document
        store delays only its own events: FerretDB's outbox query scans the whole collection, which at 3,000 posts
        held every sign-up's graph node back by half a second when both shared one loop."""
        loops = [self._relational_loop(stop)]
        if self.config.document_collections:
            loops.append(self._document_loop(stop))
        await asyncio.gather(*loops)

    async def _relational_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                async with self.relational.wait_for_events() as wait:
                    while not stop.is_set():
                        delivered = await self._outbox_batch()
                        await self._maybe_prune()
                        if delivered == 0:
                            await _first_of(wait(self.config.poll_s), stop)
            except Exception as exc:  # a store went away: log, wait, reconnect
                await self._pause_after(exc, stop, source="outbox")

    async def _document_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                if await self._document_batch() == 0:
                    await _first_of(asyncio.sleep(self.config.poll_s), stop)
            except Exception as exc:
                await self._pause_after(exc, stop, source="documents")

    @staticmethod
    async def _pause_after(exc: Exception, stop: asyncio.Event, *, source: str) -> None:
        log.warning("relay interrupted; retrying", source=source, error=describe(exc))
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
