"""The relational role on PostgreSQL (every profile)."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

import psycopg
from psycopg import AsyncConnection, errors, sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from polysocial.config import StoreURL
from polysocial.domain.accounts import (
    EmailTaken,
    Session,
    UserCard,
    UserRole,
)
from polysocial.domain.consistency import BASE_BACKOFF_S, MAX_BACKOFF_S
from polysocial.domain.errors import TooMuchContention
from polysocial.domain.events import CART, FOLLOW, USER, Event
from polysocial.logging import get_logger
from polysocial.stores.batching import Batcher
from polysocial.stores.breaker import StoreOptions
from polysocial.stores.postgres_common import PostgresBackedStore
from polysocial.stores.postgres_pool import PostgresPools
from polysocial.stores.relational.accounts_tx import PostgresAccounts
from polysocial.stores.relational.carts_tx import PostgresCarts
from polysocial.stores.relational.follows_tx import PostgresFollows
from polysocial.stores.relational.idempotency_tx import PostgresIdempotency
from polysocial.stores.relational.outbox_tx import OUTBOX_CHANNEL, PostgresOutbox
from polysocial.stores.relational.protocol import DeadLetter, Isolation, OutboxEvent, OutboxStats, RelationalTx
from polysocial.stores.relational.schema import MIGRATION_LOCK, MIGRATIONS
from polysocial.stores.relational.seats_tx import PostgresSeats
from polysocial.stores.relational.shop_tx import PostgresShop
from polysocial.stores.relational.wallet_tx import PostgresWallet

log = get_logger(__name__)

# Retry jitter from an instance of our own: the random module's shared state is left to whoever relies on it (a
# property-based test's generator in another thread).
_RANDOM = random.Random()  # noqa: S311 - jitter, not security

T = TypeVar("T")


def _event(row: dict[str, Any]) -> Event:
    return Event(
        aggregate_type=row["aggregate_type"],
        aggregate_id=row["aggregate_id"],
        event_type=row["event_type"],
        payload=row["payload"],
        event_id=row["event_id"],
        created_at=row["created_at"],
        trace=row.get("trace") or {},
    )


class PostgresTx:
    """One open transaction: each capability's verbs on the same connection, so that everything done through them
    commits or rolls back together."""

    def __init__(self, conn: AsyncConnection[Any]) -> None:
        self.conn = conn
        self.accounts = PostgresAccounts(conn)
        self.wallet = PostgresWallet(conn)
        self.shop = PostgresShop(conn)
        self.seats = PostgresSeats(conn)
        self.carts = PostgresCarts(conn)
        self.follows = PostgresFollows(conn)
        self.idempotency = PostgresIdempotency(conn)
        self.outbox = PostgresOutbox(conn)
        self._after_commit: list[Callable[[], Awaitable[None]]] = []

    def after_commit(self, callback: Callable[[], Awaitable[None]]) -> None:
        self._after_commit.append(callback)

    async def run_after_commit(self) -> None:
        for callback in self._after_commit:
            await callback()


class PostgresOutboxBatch:
    def __init__(self, conn: AsyncConnection[Any], events: list[OutboxEvent]) -> None:
        self.conn = conn
        self.events = events

    async def done(self, items: Sequence[OutboxEvent]) -> None:
        if items:
            await self.conn.execute("DELETE FROM outbox WHERE position = ANY(%s)", ([i.position for i in items],))

    async def failed(self, item: OutboxEvent, error: str, *, retry_in_s: float | None) -> None:
        if retry_in_s is None:
            await self.conn.execute("DELETE FROM outbox WHERE position = %s", (item.position,))
            await _insert_dead_letter(self.conn, item.event, "outbox", item.attempts + 1, error)
            return
        await self.conn.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = %s, "
            "next_attempt_at = now() + make_interval(secs => %s) WHERE position = %s",
            (error[:2000], retry_in_s, item.position),
        )


async def _insert_dead_letter(conn: AsyncConnection[Any], event: Event, source: str, attempts: int, error: str) -> None:
    await conn.execute(
        "INSERT INTO outbox_dead_letter (event_id, source, aggregate_type, aggregate_id, event_type, payload, "
        "created_at, attempts, error) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING",
        (
            event.event_id,
            source,
            event.aggregate_type,
            event.aggregate_id,
            event.event_type,
            Jsonb(event.payload),
            event.created_at,
            attempts,
            error[:2000],
        ),
    )


CLAIM_QUERY = """
SELECT o.position, o.event_id, o.aggregate_type, o.aggregate_id, o.event_type, o.payload, o.created_at, o.attempts,
       o.trace
FROM outbox o
WHERE o.next_attempt_at <= now()
  AND NOT EXISTS (
        SELECT 1 FROM outbox earlier
        WHERE earlier.aggregate_type = o.aggregate_type
          AND earlier.aggregate_id = o.aggregate_id
          AND earlier.position < o.position)
ORDER BY o.position
LIMIT %s
FOR UPDATE SKIP LOCKED
"""


class PostgresRelationalStore(PostgresBackedStore):
    note = ""

    def __init__(self, location: StoreURL, pools: PostgresPools, options: StoreOptions | None = None) -> None:
        super().__init__(location, pools, options)
        self._balances = Batcher(self._balances_batch)

    async def balance(self, user_id: int) -> Decimal | None:
        return await self._balances(user_id)

    async def _balances_batch(self, user_ids: list[int]) -> list[Decimal | None]:
        """One query for the balances that concurrent requests asked for (the primary's, committed as the query
        starts: after each caller asked, so a caller's own earlier deposit is in it)."""
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT user_id, balance FROM users WHERE user_id = ANY(%s)", (user_ids,))
            found = {int(row[0]): Decimal(row[1]) for row in await cur.fetchall()}
        return [found.get(u) for u in user_ids]

    async def own_tables(self) -> list[str]:
        """Every table of the database that no other role names (accounts, money, the outbox, ...)."""
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
            return [str(name) for (name,) in await cur.fetchall() if name not in self._named_elsewhere]

    async def create_schema(self) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            cur = await conn.execute("SELECT version FROM schema_migrations")
            applied = {row[0] for row in await cur.fetchall()}
            for version, name, statements in MIGRATIONS:
                if version in applied:
                    continue
                await conn.execute(statements)  # static DDL from schema.py
                await conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name))
                log.info("applied migration", version=version, name=name)

    @asynccontextmanager
    async def transaction(self, isolation: Isolation = Isolation.READ_COMMITTED) -> AsyncIterator[PostgresTx]:
        async with self.pool.connection() as conn:
            tx = PostgresTx(conn)
            async with conn.transaction():
                if isolation is not Isolation.READ_COMMITTED:
                    await conn.execute(f"SET TRANSACTION ISOLATION LEVEL {isolation.value.upper()}")
                yield tx
        await tx.run_after_commit()

    @asynccontextmanager
    async def reading(self, *, stale_ok: bool = False) -> AsyncIterator[PostgresTx]:
        # The pool's connections are in autocommit: with no BEGIN each statement commits (reads: ends) by itself.
        async with self.stale_ok() if stale_ok else self.pool.connection() as conn:
            yield PostgresTx(conn)

    async def run(self, work: Callable[[RelationalTx], Awaitable[T]], *, isolation: Isolation, attempts: int) -> T:
        for attempt in range(1, attempts + 1):
            try:
                async with self.transaction(isolation) as tx:
                    return await work(tx)
            except (errors.SerializationFailure, errors.DeadlockDetected) as exc:
                if attempt == attempts:
                    raise TooMuchContention(
                        f"gave up after {attempts} attempts: {type(exc).__name__}; try again"
                    ) from exc
                delay = min(MAX_BACKOFF_S, BASE_BACKOFF_S * 2**attempt) * _RANDOM.uniform(0.5, 1.5)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    @asynccontextmanager
    async def claim_outbox(self, limit: int) -> AsyncIterator[PostgresOutboxBatch]:
        async with self.pool.connection() as conn, conn.transaction():
            async with conn.cursor(row_factory=dict_row) as cur:
                await cur.execute(CLAIM_QUERY, (limit,))
                rows = await cur.fetchall()
            events = [OutboxEvent(row["position"], _event(row), row["attempts"]) for row in rows]
            yield PostgresOutboxBatch(conn, events)

    async def dead_letter(self, event: Event, *, source: str, attempts: int, error: str) -> None:
        async with self.pool.connection() as conn:
            await _insert_dead_letter(conn, event, source, attempts, error)

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute("SELECT * FROM outbox_dead_letter ORDER BY failed_at DESC LIMIT %s", (limit,))
            rows = await cur.fetchall()
        return [DeadLetter(_event(r), r["source"], r["attempts"], r["error"]) for r in rows]

    async def outbox_stats(self) -> OutboxStats:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0), "
                "(SELECT count(*) FROM outbox_dead_letter) FROM outbox"
            )
            row = await cur.fetchone()
        assert row is not None
        return OutboxStats(pending=int(row[0]), oldest_age_s=float(row[1]), dead_letters=int(row[2]))

    async def pending_about_user(self, user_id: int, before: uuid.UUID | None = None) -> int:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT count(*) FROM outbox "
                "WHERE (%(e)s::uuid IS NULL OR position < (SELECT position FROM outbox WHERE event_id = %(e)s)) "
                "AND ((aggregate_type IN (%(user)s, %(cart)s) AND aggregate_id = %(id)s) "
                "  OR (aggregate_type = %(follow)s "
                "      AND %(id)s IN (split_part(aggregate_id, ':', 1), split_part(aggregate_id, ':', 2))))",
                {"e": before, "user": USER, "cart": CART, "follow": FOLLOW, "id": str(user_id)},
            )
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def processed(self, handler: str, event_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        if not event_ids:
            return set()
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT event_id FROM processed_events WHERE handler = %s AND event_id = ANY(%s)",
                (handler, list(event_ids)),
            )
            return {row[0] for row in await cur.fetchall()}

    async def mark_processed(self, handler: str, event_ids: Sequence[uuid.UUID]) -> None:
        if not event_ids:
            return
        async with self.pool.connection() as conn:
            await conn.execute(
                "INSERT INTO processed_events (handler, event_id) SELECT %s, unnest(%s::uuid[]) ON CONFLICT DO NOTHING",
                (handler, list(event_ids)),
            )

    async def prune_processed(self, older_than_s: float) -> int:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "DELETE FROM processed_events WHERE processed_at < now() - make_interval(secs => %s)", (older_than_s,)
            )
        return cur.rowcount

    @asynccontextmanager
    async def wait_for_events(self) -> AsyncIterator[Callable[[float], Awaitable[None]]]:
        conn = await psycopg.AsyncConnection.connect(self.location.url, autocommit=True)
        try:
            await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(OUTBOX_CHANNEL)))

            async def wait(timeout_s: float) -> None:
                async for _ in conn.notifies(timeout=timeout_s, stop_after=1):
                    break

            yield wait
        finally:
            await conn.close()

    async def iter_user_ids(self, batch_size: int = 5000) -> AsyncIterator[list[int]]:
        last = 0
        while True:
            async with self.pool.connection() as conn:
                cur = await conn.execute(
                    "SELECT user_id FROM users WHERE user_id > %s ORDER BY user_id LIMIT %s", (last, batch_size)
                )
                ids = [row[0] for row in await cur.fetchall()]
            if not ids:
                return
            yield ids
            last = ids[-1]

    async def user_names(self, user_ids: Sequence[int]) -> dict[int, str]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT user_id, name FROM user_profiles WHERE user_id = ANY(%s)", (list(user_ids),)
            )
            return {row[0]: row[1] for row in await cur.fetchall()}

    async def session_backup_put(self, token_hash: str, session: Session, *, absolute_s: int) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO session_backups (token_hash, user_id, role, created_at, absolute_end) "
                "VALUES (%s, %s, %s, %s, to_timestamp(%s)) ON CONFLICT (token_hash) DO NOTHING",
                (token_hash, session.user_id, session.role.value, session.created_at, session.created_at + absolute_s),
            )
            # Ended sessions go lazily, a few at a time.
            await conn.execute(
                "DELETE FROM session_backups WHERE token_hash IN "
                "(SELECT token_hash FROM session_backups WHERE absolute_end < now() LIMIT 100)"
            )

    async def session_backup_get(self, token_hash: str) -> Session | None:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT user_id, role, created_at FROM session_backups WHERE token_hash = %s AND absolute_end > now()",
                (token_hash,),
            )
            row = await cur.fetchone()
        return Session(int(row[0]), UserRole(row[1]), float(row[2])) if row else None

    async def session_backup_delete(self, token_hash: str) -> None:
        async with self.pool.connection() as conn:
            await conn.execute("DELETE FROM session_backups WHERE token_hash = %s", (token_hash,))

    async def session_backup_delete_user(self, user_id: int) -> None:
        async with self.pool.connection() as conn:
            await conn.execute("DELETE FROM session_backups WHERE user_id = %s", (user_id,))

    async def session_backup_clear(self) -> None:
        async with self.pool.connection() as conn:
            await conn.execute("TRUNCATE session_backups")

    async def bulk_load_accounts(
        self, accounts: Sequence[tuple[str, str]], *, password_hash: str, birthdate: date, deposits: Sequence[Decimal]
    ) -> list[int]:
        emails = [e for e, _ in accounts]
        try:
            async with self.pool.connection() as conn, conn.transaction():
                cur = await conn.execute(
                    "INSERT INTO users (email, password_hash, balance) "
                    "SELECT e, %s, d FROM unnest(%s::text[], %s::numeric[]) WITH ORDINALITY AS t(e, d, n) ORDER BY n "
                    "RETURNING user_id, email",
                    (password_hash, emails, list(deposits)),
                )
                ids = {email: int(uid) for uid, email in await cur.fetchall()}
                ordered = [ids[e] for e in emails]
                await conn.execute(
                    "INSERT INTO user_profiles (user_id, name, avatar_url, birthdate) "
                    "SELECT u, n, 'https://cdn.example.com/avatars/' || u || '.jpg', %s "
                    "FROM unnest(%s::bigint[], %s::text[]) AS t(u, n)",
                    (birthdate, ordered, [n for _, n in accounts]),
                )
                await conn.execute(
                    "INSERT INTO ledger_entries (movement_id, account, user_id, amount, kind, reference) "
                    "SELECT m, a, u2, x, 'deposit', r FROM ("
                    "  SELECT gen_random_uuid() AS m, u, d FROM unnest(%s::bigint[], %s::numeric[]) AS t(u, d)"
                    ") moves CROSS JOIN LATERAL (VALUES ('wallet', u, d, 'deposit'), "
                    "  ('deposits', NULL::bigint, -d, 'to user ' || u)) AS pair(a, u2, x, r)",
                    (ordered, list(deposits)),
                )
        except errors.UniqueViolation as exc:
            raise EmailTaken("some of these accounts exist already") from exc
        return ordered

    async def bulk_load_follows(self, edges: Sequence[tuple[int, int]]) -> None:
        copy_in = "COPY follow_record (follower, followee) FROM STDIN"
        async with self.pool.connection() as conn, conn.cursor() as cur, cur.copy(copy_in) as copy:
            for edge in edges:
                await copy.write_row(edge)

    async def followees_of(self, followers: Sequence[int]) -> dict[int, set[int]]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT follower, followee FROM follow_record WHERE follower = ANY(%s)", (list(followers),)
            )
            found: dict[int, set[int]] = {}
            for follower, followee in await cur.fetchall():
                found.setdefault(int(follower), set()).add(int(followee))
            return found

    async def follow_record_size(self) -> int:
        async with self.pool.connection() as conn:
            row = await (await conn.execute("SELECT count(*) FROM follow_record")).fetchone()
            return int(row[0]) if row else 0

    async def bulk_load_products(self, products: Sequence[tuple[str, Decimal, int]]) -> list[int]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "INSERT INTO products (name, price, stock) SELECT n, p, s FROM "
                "unnest(%s::text[], %s::numeric[], %s::integer[]) WITH ORDINALITY AS t(n, p, s, o) ORDER BY o "
                "RETURNING product_id",
                ([n for n, _, _ in products], [p for _, p, _ in products], [s for _, _, s in products]),
            )
            return [int(r[0]) for r in await cur.fetchall()]

    async def user_cards(self, user_ids: Sequence[int]) -> dict[int, UserCard]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT user_id, name, avatar_url FROM user_profiles WHERE user_id = ANY(%s)", (list(user_ids),)
            )
            return {row[0]: UserCard(row[0], row[1], row[2]) for row in await cur.fetchall()}
