"""Where the relay takes events from. Both outboxes look the same to it: a claim holds, per aggregate, its pending
events oldest first, against every other relay, until the claim ends.

- ``RelationalOutbox``: the PostgreSQL outbox table, claimed with FOR UPDATE SKIP LOCKED, only the oldest pending
  event of each aggregate (so any number of relays keep per-aggregate order); NOTIFY wakes the relay at once.
- ``DocumentOutbox``: the events that ride inside documents (posts, articles), leased per document; polled, since a
  document store cannot notify. Its dead letters go to the PostgreSQL table with the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

from polysocial import failpoints
from polysocial.domain.events import Event
from polysocial.stores.documents.protocol import DocumentStore, PendingDocument
from polysocial.stores.relational.protocol import OutboxBatch, OutboxEvent, RelationalStore

Wait = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Pending:
    event: Event
    attempts: int  # failed deliveries so far
    handle: object  # the source's own record of it (an outbox row, a document)


class Claim(Protocol):
    streams: list[list[Pending]]  # one per aggregate, oldest first

    async def done(self, items: Sequence[Pending]) -> set[int]:
        """Mark delivered; returns the ``id()`` of each handle this relay no longer held (another took over):
        their aggregates stop here."""

    async def failed(self, item: Pending, error: str, *, retry_in_s: float | None) -> None:
        """Try again in ``retry_in_s`` seconds (the aggregate waits behind it), or (None) dead-letter it."""


class EventSource(Protocol):
    name: str

    def claim(self, limit: int) -> AbstractAsyncContextManager[Claim]: ...

    def waiter(self, poll_s: float) -> AbstractAsyncContextManager[Wait]:
        """A wait that returns when new events may be pending, or after its timeout."""

    async def pending(self) -> int: ...


class _OutboxClaim:
    def __init__(self, batch: OutboxBatch) -> None:
        self.batch = batch
        self.streams = [[Pending(item.event, item.attempts, item)] for item in batch.events]

    async def done(self, items: Sequence[Pending]) -> set[int]:
        await self.batch.done([_row(p) for p in items])
        failpoints.failpoint(failpoints.RELAY_AFTER_MARK_DONE)
        return set()

    async def failed(self, item: Pending, error: str, *, retry_in_s: float | None) -> None:
        await self.batch.failed(_row(item), error, retry_in_s=retry_in_s)


def _row(item: Pending) -> OutboxEvent:
    assert isinstance(item.handle, OutboxEvent)  # this source made it
    return item.handle


class RelationalOutbox:
    name = "outbox"

    def __init__(self, relational: RelationalStore) -> None:
        self.relational = relational

    @asynccontextmanager
    async def claim(self, limit: int) -> AsyncIterator[Claim]:
        async with self.relational.claim_outbox(limit) as batch:
            if batch.events:
                failpoints.failpoint(failpoints.RELAY_AFTER_CLAIM)
            yield _OutboxClaim(batch)
        if batch.events:
            failpoints.failpoint(failpoints.RELAY_AFTER_COMMIT)

    def waiter(self, poll_s: float) -> AbstractAsyncContextManager[Wait]:
        return self.relational.wait_for_events()

    async def pending(self) -> int:
        return (await self.relational.outbox_stats()).pending


class _DocumentClaim:
    def __init__(self, source: DocumentOutbox, docs: list[PendingDocument]) -> None:
        self.source = source
        self.streams = [
            [Pending(event, attempts, doc) for event, attempts in zip(doc.events, doc.attempts, strict=True)]
            for doc in docs
        ]
        self.held: set[int] = set()  # documents left leased: waiting out a backoff, or taken over

    async def done(self, items: Sequence[Pending]) -> set[int]:
        lost: set[int] = set()
        for item in items:
            failpoints.failpoint(failpoints.DOCUMENT_AFTER_HANDLER)
            doc = _doc(item)
            if not await self.source.documents.ack(doc.collection, doc.doc_id, item.event.event_id):
                lost.add(id(doc))  # another relay took over after our lease ran out
                self.held.add(id(doc))
                continue
            failpoints.failpoint(failpoints.DOCUMENT_AFTER_ACK)
        return lost

    async def failed(self, item: Pending, error: str, *, retry_in_s: float | None) -> None:
        doc = _doc(item)
        if retry_in_s is not None:
            await self.source.documents.retry_later(doc.collection, doc.doc_id, item.event.event_id, delay_s=retry_in_s)
            self.held.add(id(doc))
            return
        await self.source.relational.dead_letter(
            item.event, source=f"documents:{doc.collection}", attempts=item.attempts + 1, error=error
        )
        if not await self.source.documents.ack(doc.collection, doc.doc_id, item.event.event_id):
            self.held.add(id(doc))

    async def release(self) -> None:
        for stream in self.streams:
            doc = _doc(stream[0])
            if id(doc) not in self.held:
                await self.source.documents.release(doc.collection, doc.doc_id)


def _doc(item: Pending) -> PendingDocument:
    assert isinstance(item.handle, PendingDocument)  # this source made it
    return item.handle


class DocumentOutbox:
    name = "documents"

    def __init__(
        self, documents: DocumentStore, relational: RelationalStore, collections: Sequence[str], *, lease_s: float
    ) -> None:
        self.documents = documents
        self.relational = relational  # the dead-letter table
        self.collections = tuple(collections)
        self.lease_s = lease_s

    @asynccontextmanager
    async def claim(self, limit: int) -> AsyncIterator[Claim]:
        docs = await self.documents.claim_pending(self.collections, limit=limit, lease_s=self.lease_s)
        claim = _DocumentClaim(self, [d for d in docs if d.events])
        yield claim
        await claim.release()

    @asynccontextmanager
    async def waiter(self, poll_s: float) -> AsyncIterator[Wait]:
        yield asyncio.sleep

    async def pending(self) -> int:
        return await self.documents.pending_count(self.collections)


def outboxes(
    relational: RelationalStore, documents: DocumentStore, collections: Sequence[str], *, lease_s: float
) -> list[EventSource]:
    """The relay's sources: the PostgreSQL outbox, and the events riding in the documents of ``collections``."""
    sources: list[EventSource] = [RelationalOutbox(relational)]
    if collections:
        sources.append(DocumentOutbox(documents, relational, collections, lease_s=lease_s))
    return sources
