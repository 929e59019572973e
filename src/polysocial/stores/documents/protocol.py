"""The documents role: posts, comments and articles, one read per post (docs/ARCHITECTURE.md). MongoDB in `seed`,
PostgreSQL JSONB elsewhere.

A document carries the events its own change caused (docs/ARCHITECTURE.md): the write that changes the document
appends them to the document's ``_outbox`` in the same single-document atomic update, so no multi-document
transaction is needed (FerretDB and a standalone MongoDB have none). The relay claims a document with a lease (one
relay per document at a time, so its events go out in order), delivers the oldest event, and pops it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from polysocial.domain.events import Event
from polysocial.stores.base import Store

OUTBOX_FIELD = "_outbox"
PENDING_FIELD = "_outbox_pending"
# ``true`` on every document whose outbox may hold events (set with each event appended, cleared when a lease ends
# with the count back at 0): the relay finds work by equality on it, which FerretDB filters in PostgreSQL, where
# ``_outbox_pending > 0`` made FerretDB read and decode the whole collection at every poll.
DUE_FIELD = "_outbox_due"
LEASE_FIELD = "_outbox_lease"
INTERNAL_FIELDS = frozenset({OUTBOX_FIELD, PENDING_FIELD, DUE_FIELD, LEASE_FIELD})

POSTS = "posts"
ARTICLES = "articles"
COMMENTS = "comments"


@dataclass(frozen=True, slots=True)
class PendingDocument:
    collection: str
    doc_id: str
    events: list[Event]  # oldest first
    attempts: list[int]  # failed deliveries so far, one count per event


class DocumentStore(Store, Protocol):
    async def insert(self, collection: str, doc_id: str, doc: dict[str, Any], events: Sequence[Event] = ()) -> None:
        """Insert a document and its events atomically. Raises Conflict if the id exists."""

    async def get(self, collection: str, doc_id: str) -> dict[str, Any] | None:
        """The document's own fields (plus ``id``), without the outbox."""

    async def update(self, collection: str, doc_id: str, fields: dict[str, Any], events: Sequence[Event] = ()) -> bool:
        """Set ``fields`` and append ``events`` in one atomic write. False when there is no such document."""

    async def find_page(
        self, collection: str, *, equals: dict[str, Any], before_id: str | None, limit: int, stale_ok: bool = False
    ) -> list[dict[str, Any]]:
        """Documents whose top-level fields equal ``equals``, newest id first, ids below ``before_id``. ``stale_ok``:
        a replica may answer (a PostgreSQL read replica; a MongoDB secondary), for lists people read."""

    async def find_one(self, collection: str, equals: dict[str, Any]) -> dict[str, Any] | None: ...

    def iter_pages(self, collection: str, *, batch_size: int) -> AsyncIterator[list[dict[str, Any]]]:
        """Every document of ``collection``, ``batch_size`` at a time, in no set order (reconcile's full passes)."""
        ...

    async def get_many(self, collection: str, doc_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The documents of ``doc_ids`` that exist, by id, in one round trip (the feed's hydration)."""

    async def having_member(self, collection: str, doc_ids: Sequence[str], *, field: str, member: int) -> set[str]:
        """Those of ``doc_ids`` whose set ``field`` holds ``member`` (which of these posts the reader liked)."""

    async def find_any(
        self,
        collection: str,
        *,
        field: str,
        values: Sequence[int],
        equals: dict[str, Any],
        before_id: str | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        """Documents whose ``field`` is one of ``values`` (the feed's ``$in`` over followees), newest id first."""

    async def count_by(self, collection: str, *, field: str, values: Sequence[str]) -> dict[str, int]:
        """How many documents have each of ``values`` in the top-level ``field`` (reconcile's comment counts); a
        value no document has is absent."""

    async def count_all_by(self, collection: str, *, field: str) -> dict[str, int]:
        """How many documents have each value of the top-level ``field``, over the whole collection, in one pass: one
        entry per value held (some 100 bytes each in memory). For stores where ``in_filter_scans``."""

    @property
    def in_filter_scans(self) -> bool:
        """A ``field in values`` filter reads the whole collection (FerretDB 1.x evaluates ``$in`` itself): one
        ``count_all_by`` is then cheaper than ``count_by`` page after page."""

    async def bulk_insert(self, collection: str, docs: Sequence[dict[str, Any]]) -> None:
        """Insert many documents (each with its ``id``) without events, as fast as the engine allows: for seeding
        and benchmarks, never for live traffic."""

    async def push_capped(
        self,
        collection: str,
        doc_id: str,
        *,
        field: str,
        item: dict[str, Any],
        keep_last: int,
        counter: str,
        events: Sequence[Event] = (),
    ) -> bool:
        """Append ``item`` to the array ``field`` keeping its last ``keep_last`` items, add 1 to the ``counter``
        path (dotted), and append the events: one atomic write. False when there is no such document."""

    async def add_member(
        self, collection: str, doc_id: str, *, field: str, member: int, counter: str, events: Sequence[Event] = ()
    ) -> bool:
        """Add ``member`` to the set ``field`` and 1 to ``counter``, atomically and only if it was not there: True
        when added. Twice is once."""

    async def remove_member(
        self, collection: str, doc_id: str, *, field: str, member: int, counter: str, events: Sequence[Event] = ()
    ) -> bool:
        """The reverse of add_member: True when removed."""

    # -- an account's erasure (services/erasure.py): rare, operator-driven; none is on a request's path ---------------

    async def strip(
        self, collection: str, doc_id: str, *, keep: Sequence[str], fields: dict[str, Any], events: Sequence[Event] = ()
    ) -> bool:
        """Remove every field but ``keep``, set ``fields`` and append ``events`` (a tombstone with no content left);
        the undelivered events stay. False when there is no such document."""

    async def delete_where(self, collection: str, equals: dict[str, Any]) -> int:
        """Delete the documents whose top-level fields equal ``equals`` (documents without events: comments); how
        many went."""

    async def ids_having_member(
        self, collection: str, *, field: str, member: int, after_id: str | None, limit: int
    ) -> list[str]:
        """Ids above ``after_id`` of up to ``limit`` documents whose set ``field`` holds ``member`` (the posts a user
        liked), in id order."""

    async def pull_items(
        self, collection: str, doc_id: str, *, field: str, items: Sequence[dict[str, Any]], counter: str, delta: int
    ) -> bool:
        """Remove these exact ``items`` from the array ``field`` and add ``delta`` to ``counter``, atomically. False
        when there is no such document."""

    async def pending_before(self, collections: Sequence[str], created_before: datetime) -> int:
        """How many documents still hold an undelivered event made before ``created_before`` (a barrier: what an
        erasure waits for, so that no older event brings back what it removes)."""

    async def claim_pending(self, collections: Sequence[str], *, limit: int, lease_s: float) -> list[PendingDocument]:
        """Lease up to ``limit`` documents that hold undelivered events and whose lease has run out."""

    async def ack(self, collection: str, doc_id: str, event_id: uuid.UUID) -> bool:
        """Remove ``event_id`` if it is still the oldest pending event of the document. False when it was not
        (another relay, after this one's lease ran out, got there first)."""

    async def release(self, collection: str, doc_id: str) -> None:
        """End the lease, so that events appended meanwhile go out without waiting for it to run out."""

    async def retry_later(self, collection: str, doc_id: str, event_id: uuid.UUID, *, delay_s: float) -> None:
        """Count a failed delivery of the head event and keep the document leased for ``delay_s`` (the backoff)."""

    async def pending_count(self, collections: Sequence[str]) -> int:
        """How many undelivered events the documents hold."""
