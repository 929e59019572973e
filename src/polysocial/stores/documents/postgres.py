"""The documents role on PostgreSQL JSONB (`embedded` and `postgres-only`): one table, a JSONB body per document,
and the document's own outbox beside it in the same row, so a change and its events are one atomic UPDATE."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from psycopg import errors
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from polysocial.domain.errors import Conflict
from polysocial.domain.events import Event
from polysocial.stores.documents.protocol import INTERNAL_FIELDS, PendingDocument
from polysocial.stores.postgres_common import PostgresBackedStore

SCHEMA_LOCK = 7_150_004

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    collection  text NOT NULL,
    id          text NOT NULL,
    body        jsonb NOT NULL,
    outbox      jsonb NOT NULL DEFAULT '[]',
    pending     integer NOT NULL DEFAULT 0 CHECK (pending >= 0),
    lease_until timestamptz NOT NULL DEFAULT 'epoch',
    PRIMARY KEY (collection, id)
);
CREATE INDEX IF NOT EXISTS documents_pending ON documents (collection, lease_until) WHERE pending > 0;
"""


def _stored(events: Sequence[Event]) -> Jsonb:
    return Jsonb([{**e.to_json(), "attempts": 0} for e in events])


def _own(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if k not in INTERNAL_FIELDS and k != "id"}


class PostgresDocumentStore(PostgresBackedStore):
    note = "JSONB documents"

    async def create_schema(self) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            await conn.execute(SCHEMA)

    async def insert(self, collection: str, doc_id: str, doc: dict[str, Any], events: Sequence[Event] = ()) -> None:
        try:
            async with self.pool.connection() as conn:
                await conn.execute(
                    "INSERT INTO documents (collection, id, body, outbox, pending) VALUES (%s, %s, %s, %s, %s)",
                    (collection, doc_id, Jsonb(_own(doc)), _stored(events), len(events)),
                )
        except errors.UniqueViolation as exc:
            raise Conflict(f"{collection} {doc_id!r} already exists") from exc

    async def get(self, collection: str, doc_id: str) -> dict[str, Any] | None:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT body FROM documents WHERE collection = %s AND id = %s", (collection, doc_id)
            )
            row = await cur.fetchone()
        return {**row[0], "id": doc_id} if row else None

    async def update(self, collection: str, doc_id: str, fields: dict[str, Any], events: Sequence[Event] = ()) -> bool:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "UPDATE documents SET body = body || %s, outbox = outbox || %s, pending = pending + %s "
                "WHERE collection = %s AND id = %s",
                (Jsonb(_own(fields)), _stored(events), len(events), collection, doc_id),
            )
        return cur.rowcount == 1

    async def claim_pending(self, collections: Sequence[str], *, limit: int, lease_s: float) -> list[PendingDocument]:
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "UPDATE documents d SET lease_until = now() + make_interval(secs => %s) "
                "FROM (SELECT collection, id FROM documents WHERE collection = ANY(%s) AND pending > 0 "
                "      AND lease_until <= now() ORDER BY lease_until LIMIT %s FOR UPDATE SKIP LOCKED) due "
                "WHERE d.collection = due.collection AND d.id = due.id "
                "RETURNING d.collection, d.id, d.outbox",
                (lease_s, list(collections), limit),
            )
            rows = await cur.fetchall()
        return [
            PendingDocument(
                r["collection"],
                r["id"],
                [Event.from_json(e) for e in r["outbox"]],
                [int(e.get("attempts", 0)) for e in r["outbox"]],
            )
            for r in rows
            if r["outbox"]
        ]

    async def ack(self, collection: str, doc_id: str, event_id: uuid.UUID) -> bool:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "UPDATE documents SET outbox = outbox - 0, pending = pending - 1 "
                "WHERE collection = %s AND id = %s AND outbox -> 0 ->> 'event_id' = %s",
                (collection, doc_id, str(event_id)),
            )
        return cur.rowcount == 1

    async def release(self, collection: str, doc_id: str) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(
                "UPDATE documents SET lease_until = 'epoch' WHERE collection = %s AND id = %s", (collection, doc_id)
            )

    async def retry_later(self, collection: str, doc_id: str, event_id: uuid.UUID, *, delay_s: float) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(
                "UPDATE documents SET "
                "  outbox = jsonb_set(outbox, '{0,attempts}', to_jsonb((outbox -> 0 ->> 'attempts')::int + 1)), "
                "  lease_until = now() + make_interval(secs => %s) "
                "WHERE collection = %s AND id = %s AND outbox -> 0 ->> 'event_id' = %s",
                (delay_s, collection, doc_id, str(event_id)),
            )

    async def pending_count(self, collections: Sequence[str]) -> int:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT coalesce(sum(pending), 0) FROM documents WHERE collection = ANY(%s) AND pending > 0",
                (list(collections),),
            )
            row = await cur.fetchone()
        return int(row[0]) if row else 0
