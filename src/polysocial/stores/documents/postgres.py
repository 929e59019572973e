"""The documents role on PostgreSQL JSONB (`embedded` and `postgres-only`): one table, a JSONB body per document,
and the document's own outbox beside it in the same row, so a change and its events are one atomic UPDATE."""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import errors, sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from polysocial.config import StoreURL
from polysocial.domain.errors import Conflict
from polysocial.domain.events import Event
from polysocial.stores.batching import Batcher
from polysocial.stores.breaker import StoreOptions
from polysocial.stores.documents.protocol import INTERNAL_FIELDS, PendingDocument
from polysocial.stores.postgres_common import PostgresBackedStore
from polysocial.stores.postgres_pool import PostgresPools

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
-- A user's posts, newest first; articles by their unique slug.
CREATE INDEX IF NOT EXISTS documents_posts_author ON documents ((body ->> 'author_id'), id DESC)
    WHERE collection = 'posts';
CREATE UNIQUE INDEX IF NOT EXISTS documents_articles_slug ON documents ((body ->> 'slug'))
    WHERE collection = 'articles';
-- The posts a user liked (the feed's copy of a reader's likes is filled from it; an erasure withdraws them).
CREATE INDEX IF NOT EXISTS documents_posts_likers ON documents USING gin ((body -> 'likers') jsonb_path_ops)
    WHERE collection = 'posts';
"""


def _path(dotted: str) -> str:
    parts = dotted.split(".")
    if not all(p.isidentifier() for p in parts):
        raise ValueError(f"not a field path: {dotted!r}")
    return "{" + ",".join(parts) + "}"


def _as_text(value: Any) -> str:
    """What ``body ->> key`` gives for a JSON value: strings as they are, other values as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def _stored(events: Sequence[Event]) -> Jsonb:
    return Jsonb([{**e.to_json(), "attempts": 0} for e in events])


def _own(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if k not in INTERNAL_FIELDS and k != "id"}


# Which of these documents have ``member`` in their array ``field``, for many callers at once (stores/batching.py):
# one row per (caller, document) that matches.
HAVING_MEMBER_BATCH = """
SELECT q.n, q.id
FROM unnest(%(n)s::int[], %(ids)s::text[], %(members)s::bigint[]) AS q(n, id, member)
JOIN documents d ON d.collection = %(collection)s AND d.id = q.id
WHERE d.body -> %(field)s @> jsonb_build_array(q.member)
"""


# The statements of the list queries, one per shape (collection, fields compared, with or without a cursor), built
# once: composing them with psycopg.sql on every call (the literals quoted, the parts joined) was 4% of a user
# timeline's CPU. The shapes come from the services' code, not from requests: a few dozen at most.


def _conditions(collection: str, keys: tuple[str, ...], cursor: bool) -> list[sql.Composable]:
    conditions: list[sql.Composable] = [sql.SQL("collection = {}").format(sql.Literal(collection))]
    conditions += [sql.SQL("body ->> {} = %s").format(sql.Literal(key)) for key in keys]
    if cursor:
        conditions.append(sql.SQL("id < %s"))
    return conditions


def _parameters(equals: dict[str, Any], before_id: str | None) -> list[Any]:
    """The parameters of ``_conditions``, in its order."""
    params = [_as_text(value) for value in equals.values()]
    if before_id is not None:
        params.append(before_id)
    return params


@functools.lru_cache(maxsize=256)
def _page_query(collection: str, keys: tuple[str, ...], cursor: bool) -> bytes:
    return (
        sql.SQL("SELECT id, body FROM documents WHERE {} ORDER BY id DESC LIMIT %s")
        .format(sql.SQL(" AND ").join(_conditions(collection, keys, cursor)))
        .as_bytes()
    )


@functools.lru_cache(maxsize=256)
def _any_query(collection: str, field: str, keys: tuple[str, ...], cursor: bool) -> bytes:
    # One index probe per value (LATERAL), then merge: a single "ORDER BY id DESC LIMIT n" over all of them
    # tempts the planner to walk the whole collection backwards by id, filtering (38 ms at 200,000 posts).
    conditions = [*_conditions(collection, keys, cursor), sql.SQL("body ->> {} = v.value").format(sql.Literal(field))]
    return (
        sql.SQL(
            "SELECT d.id, d.body FROM unnest(%s::text[]) AS v(value) "
            "CROSS JOIN LATERAL (SELECT id, body FROM documents WHERE {} ORDER BY id DESC LIMIT %s) d "
            "ORDER BY d.id DESC LIMIT %s"
        )
        .format(sql.SQL(" AND ").join(conditions))
        .as_bytes()
    )


@dataclass(frozen=True, slots=True)
class _MemberQuery:
    collection: str
    field: str
    member: int
    doc_ids: tuple[str, ...]


class PostgresDocumentStore(PostgresBackedStore):
    note = "JSONB documents"
    tables = ("documents",)

    def __init__(self, location: StoreURL, pools: PostgresPools, options: StoreOptions | None = None) -> None:
        super().__init__(location, options=options, pools=pools)
        self._having_member = Batcher(self._having_member_batch)

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
            raise Conflict(f"{collection} {doc_id!r}: the id or a unique field is taken already") from exc

    async def get(self, collection: str, doc_id: str) -> dict[str, Any] | None:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT body FROM documents WHERE collection = %s AND id = %s", (collection, doc_id)
            )
            row = await cur.fetchone()
        return {**row[0], "id": doc_id} if row else None

    async def update(self, collection: str, doc_id: str, fields: dict[str, Any], events: Sequence[Event] = ()) -> bool:
        try:
            async with self.pool.connection() as conn:
                cur = await conn.execute(
                    "UPDATE documents SET body = body || %s, outbox = outbox || %s, pending = pending + %s "
                    "WHERE collection = %s AND id = %s",
                    (Jsonb(_own(fields)), _stored(events), len(events), collection, doc_id),
                )
        except errors.UniqueViolation as exc:
            raise Conflict(f"{collection} {doc_id!r}: a unique field is taken already") from exc
        return cur.rowcount == 1

    async def _rows(self, query: bytes, params: list[Any], *, stale_ok: bool = False) -> list[dict[str, Any]]:
        async with self.stale_ok() if stale_ok else self.pool.connection() as conn:
            cur = await conn.execute(query, params)
            return [{**row[1], "id": row[0]} for row in await cur.fetchall()]

    async def find_page(
        self, collection: str, *, equals: dict[str, Any], before_id: str | None, limit: int, stale_ok: bool = False
    ) -> list[dict[str, Any]]:
        query = _page_query(collection, tuple(equals), before_id is not None)
        return await self._rows(query, [*_parameters(equals, before_id), limit], stale_ok=stale_ok)

    async def iter_pages(self, collection: str, *, batch_size: int) -> AsyncIterator[list[dict[str, Any]]]:
        before: str | None = None
        while page := await self.find_page(collection, equals={}, before_id=before, limit=batch_size):
            before = page[-1]["id"]
            yield page

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
        query = _any_query(collection, field, tuple(equals), before_id is not None)
        params = [[_as_text(v) for v in values], *_parameters(equals, before_id), limit, limit]
        return await self._rows(query, params)

    async def bulk_insert(self, collection: str, docs: Sequence[dict[str, Any]]) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            async with conn.cursor().copy("COPY documents (collection, id, body) FROM STDIN") as copy:
                for doc in docs:
                    await copy.write_row((collection, doc["id"], Jsonb({k: v for k, v in doc.items() if k != "id"})))
            await conn.execute("ANALYZE documents")

    async def find_one(self, collection: str, equals: dict[str, Any]) -> dict[str, Any] | None:
        found = await self.find_page(collection, equals=equals, before_id=None, limit=1)
        return found[0] if found else None

    async def get_many(self, collection: str, doc_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        if not doc_ids:
            return {}
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT id, body FROM documents WHERE collection = %s AND id = ANY(%s)", (collection, list(doc_ids))
            )
            return {row[0]: {**row[1], "id": row[0]} for row in await cur.fetchall()}

    async def having_member(self, collection: str, doc_ids: Sequence[str], *, field: str, member: int) -> set[str]:
        if not doc_ids:
            return set()
        return await self._having_member(_MemberQuery(collection, field, member, tuple(doc_ids)))

    async def _having_member_batch(self, queries: list[_MemberQuery]) -> list[set[str]]:
        found: list[set[str]] = [set() for _ in queries]
        groups: dict[tuple[str, str], list[int]] = {}
        for n, q in enumerate(queries):
            groups.setdefault((q.collection, q.field), []).append(n)
        async with self.pool.connection() as conn:
            for (collection, field), numbers in groups.items():
                ns = [n for n in numbers for _ in queries[n].doc_ids]
                params = {
                    "n": ns,
                    "ids": [i for n in numbers for i in queries[n].doc_ids],
                    "members": [queries[n].member for n in ns],
                    "collection": collection,
                    "field": field,
                }
                for n, doc_id in await (await conn.execute(HAVING_MEMBER_BATCH, params)).fetchall():
                    found[n].add(doc_id)
        return found

    async def _update(self, query: str, params: dict[str, Any], events: Sequence[Event]) -> int:
        async with self.pool.connection() as conn:
            cur = await conn.execute(query, {**params, "events": _stored(events), "n_events": len(events)})
        return cur.rowcount

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
        query = (
            "UPDATE documents SET body = jsonb_set(jsonb_set(body, %(field_path)s, coalesce(("
            "   SELECT jsonb_agg(x ORDER BY ord) FROM ("
            "     SELECT x, ord FROM jsonb_array_elements(coalesce(body -> %(field)s, '[]') || %(item)s)"
            "       WITH ORDINALITY AS t(x, ord) ORDER BY ord DESC LIMIT %(keep)s) newest), '[]')),"
            " %(counter)s, to_jsonb(coalesce((body #>> %(counter)s)::bigint, 0) + 1)), "
            "outbox = outbox || %(events)s, pending = pending + %(n_events)s "
            "WHERE collection = %(collection)s AND id = %(id)s"
        )
        params = {
            "field_path": _path(field),
            "field": field,
            "item": Jsonb([item]),
            "keep": keep_last,
            "counter": _path(counter),
            "collection": collection,
            "id": doc_id,
        }
        return await self._update(query, params, events) == 1

    async def add_member(
        self, collection: str, doc_id: str, *, field: str, member: int, counter: str, events: Sequence[Event] = ()
    ) -> bool:
        return await self._change_member(collection, doc_id, field, member, counter, events, add=True)

    async def remove_member(
        self, collection: str, doc_id: str, *, field: str, member: int, counter: str, events: Sequence[Event] = ()
    ) -> bool:
        return await self._change_member(collection, doc_id, field, member, counter, events, add=False)

    async def _change_member(
        self,
        collection: str,
        doc_id: str,
        field: str,
        member: int,
        counter: str,
        events: Sequence[Event],
        *,
        add: bool,
    ) -> bool:
        """Add or remove one set member and move the counter with it, only when the set changes. The WHERE is
        re-checked under the row lock, so concurrent callers cannot count one member twice."""
        new_set = (
            "coalesce(body -> %(field)s, '[]') || to_jsonb(%(member)s::bigint)"
            if add
            else "coalesce((SELECT jsonb_agg(x) FROM jsonb_array_elements(body -> %(field)s) x"
            "  WHERE x <> to_jsonb(%(member)s::bigint)), '[]')"
        )
        query = (
            f"UPDATE documents SET body = jsonb_set(jsonb_set(body, %(field_path)s, {new_set}),"  # noqa: S608 - fixed text
            " %(counter)s, to_jsonb(coalesce((body #>> %(counter)s)::bigint, 0) + %(delta)s)), "
            "outbox = outbox || %(events)s, pending = pending + %(n_events)s "
            "WHERE collection = %(collection)s AND id = %(id)s AND "
            + ("NOT " if add else "")
            + "coalesce(body -> %(field)s, '[]') @> to_jsonb(ARRAY[%(member)s::bigint])"
        )
        params = {
            "field_path": _path(field),
            "field": field,
            "member": member,
            "counter": _path(counter),
            "delta": 1 if add else -1,
            "collection": collection,
            "id": doc_id,
        }
        return await self._update(query, params, events) == 1

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

    async def count_by(self, collection: str, *, field: str, values: Sequence[str]) -> dict[str, int]:
        if not values:
            return {}
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                sql.SQL(
                    "SELECT body ->> {field}, count(*) FROM documents"
                    " WHERE collection = %s AND body ->> {field} = ANY(%s) GROUP BY 1"
                ).format(field=sql.Literal(field)),
                (collection, list(values)),
            )
            return {str(value): int(n) for value, n in await cur.fetchall()}

    @property
    def in_filter_scans(self) -> bool:
        return False

    async def count_all_by(self, collection: str, *, field: str) -> dict[str, int]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                sql.SQL(
                    "SELECT body ->> {field}, count(*) FROM documents"
                    " WHERE collection = %s AND body ->> {field} IS NOT NULL GROUP BY 1"
                ).format(field=sql.Literal(field)),
                (collection,),
            )
            return {str(value): int(n) for value, n in await cur.fetchall()}

    async def strip(
        self, collection: str, doc_id: str, *, keep: Sequence[str], fields: dict[str, Any], events: Sequence[Event] = ()
    ) -> bool:
        query = (
            "UPDATE documents SET body = (SELECT coalesce(jsonb_object_agg(key, value), '{}') FROM jsonb_each(body) "
            "  WHERE key = ANY(%(keep)s)) || %(fields)s, "
            "outbox = outbox || %(events)s, pending = pending + %(n_events)s "
            "WHERE collection = %(collection)s AND id = %(id)s"
        )
        params = {"keep": list(keep), "fields": Jsonb(_own(fields)), "collection": collection, "id": doc_id}
        return await self._update(query, params, events) == 1

    async def delete_where(self, collection: str, equals: dict[str, Any]) -> int:
        conditions, params = _conditions(collection, tuple(equals), cursor=False), _parameters(equals, None)
        query = sql.SQL("DELETE FROM documents WHERE {}").format(sql.SQL(" AND ").join(conditions))
        async with self.pool.connection() as conn:
            cur = await conn.execute(query, params)
        return cur.rowcount

    async def ids_having_member(
        self, collection: str, *, field: str, member: int, after_id: str | None, limit: int
    ) -> list[str]:
        # The collection and field as literals: a partial expression index (documents_posts_likers) serves only a
        # query whose plan can see both.
        query = sql.SQL(
            "SELECT id FROM documents WHERE collection = {} AND body -> {} @> to_jsonb(ARRAY[%s::bigint]) "
            "AND id > %s ORDER BY id LIMIT %s"
        ).format(sql.Literal(collection), sql.Literal(field))
        async with self.pool.connection() as conn:
            cur = await conn.execute(query, (member, after_id or "", limit))
            return [str(row[0]) for row in await cur.fetchall()]

    async def pull_items(
        self, collection: str, doc_id: str, *, field: str, items: Sequence[dict[str, Any]], counter: str, delta: int
    ) -> bool:
        query = (
            "UPDATE documents SET body = jsonb_set(jsonb_set(body, %(field_path)s, coalesce(("
            "   SELECT jsonb_agg(x ORDER BY ord) FROM jsonb_array_elements(coalesce(body -> %(field)s, '[]'))"
            "     WITH ORDINALITY AS t(x, ord) WHERE NOT %(items)s @> jsonb_build_array(x)), '[]')),"
            " %(counter)s, to_jsonb(coalesce((body #>> %(counter)s)::bigint, 0) + %(delta)s)) "
            "WHERE collection = %(collection)s AND id = %(id)s"
        )
        params = {
            "field_path": _path(field),
            "field": field,
            "items": Jsonb(list(items)),
            "counter": _path(counter),
            "delta": delta,
            "collection": collection,
            "id": doc_id,
        }
        return await self._update(query, params, ()) == 1

    async def pending_before(self, collections: Sequence[str], created_before: datetime) -> int:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT count(*) FROM documents WHERE collection = ANY(%s) AND pending > 0 "
                "AND (outbox -> 0 ->> 'created_at')::timestamptz < %s",
                (list(collections), created_before),
            )
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def pending_count(self, collections: Sequence[str]) -> int:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT coalesce(sum(pending), 0) FROM documents WHERE collection = ANY(%s) AND pending > 0",
                (list(collections),),
            )
            row = await cur.fetchone()
        return int(row[0]) if row else 0
