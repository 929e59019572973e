"""The part every PostgreSQL-backed adapter shares: a pool from the registry, ping, and the server version."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, ClassVar

import psycopg
from psycopg import sql

from polysocial.config import StoreURL
from polysocial.stores.base import Adapter, EngineInfo, guarded
from polysocial.stores.breaker import CircuitBreaker, StoreOptions
from polysocial.stores.postgres_pool import GuardedPool, PostgresPools

if TYPE_CHECKING:
    from polysocial.stores.replicas import Replicas


class PostgresBackedStore(Adapter):
    """Base of the PostgreSQL adapters of every role. ``note`` says how the role is held (for `doctor`)."""

    note = ""
    guard_methods = False  # the pooled connections are guarded instead (transactions span many calls)
    # The tables this role keeps (wipe and item_count work on them). In `postgres-only` every role shares one
    # database, so each names its own; the relational role takes every table that no other role names.
    tables: ClassVar[tuple[str, ...]] = ()
    _named_elsewhere: ClassVar[set[str]] = {"schema_migrations"}

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        PostgresBackedStore._named_elsewhere.update(cls.tables)

    def __init__(self, location: StoreURL, pools: PostgresPools, options: StoreOptions | None = None) -> None:
        super().__init__(location, options)
        self._pools = pools
        self._pool: GuardedPool | None = None
        self.replicas: Replicas | None = None  # set by the factory when this database has read replicas

    def stale_ok(self) -> AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]:
        """A connection for a read that may be a little stale: a replica's when there is one (stores/replicas.py),
        the primary's otherwise."""
        return self.replicas.reading(self.pool) if self.replicas is not None else self.pool.connection()

    @property
    def pool(self) -> GuardedPool:
        if self._pool is None:
            raise self.not_open()
        return self._pool

    @property
    def circuit(self) -> CircuitBreaker:
        # the database's breaker, shared by the roles in it, once open; before that the adapter's own (unused)
        return self._pool.breaker if self._pool is not None else self.breaker

    def pool_usage(self) -> tuple[int, int] | None:
        return self._pool.usage() if self._pool is not None else None

    async def _connect(self) -> None:
        self._pool = await self._pools.guarded(self._location, self.options.breaker)
        await self.create_schema()

    async def create_schema(self) -> None:
        """Create this role's tables and indexes if missing (idempotent). Subclasses extend it."""

    async def close(self) -> None:
        # The pool belongs to the registry (other roles may share it); it is closed by the composition root.
        self._pool = None

    async def ping(self) -> None:
        async def run() -> None:
            async with self.pool.connection() as conn:
                await conn.execute("SELECT 1")

        await guarded(self._location, run)

    async def engine_info(self) -> EngineInfo:
        async def run() -> str:
            async with self.pool.connection() as conn:
                cur = await conn.execute("SHOW server_version")
                row = await cur.fetchone()
                return str(row[0]).split()[0] if row else "unknown"

        version = await guarded(self._location, run)
        return EngineInfo("PostgreSQL", version, self.note)

    async def own_tables(self) -> list[str]:
        return list(self.tables)

    async def wipe(self) -> None:
        async def run() -> None:
            tables = await self.own_tables()
            if tables:
                async with self.pool.connection() as conn:
                    names = sql.SQL(", ").join(sql.Identifier(t) for t in tables)
                    await conn.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(names))

        await guarded(self._location, run)

    async def item_count(self) -> int:
        async def run() -> int:
            total = 0
            async with self.pool.connection() as conn:
                for table in await self.own_tables():
                    query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
                    row = await (await conn.execute(query)).fetchone()
                    total += int(row[0]) if row else 0
            return total

        return await guarded(self._location, run)
