"""The part every PostgreSQL-backed adapter shares: a pool from the registry, ping, and the server version."""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool

from polysocial.config import Role, StoreURL
from polysocial.domain.errors import StoreUnavailable
from polysocial.stores.base import EngineInfo, guarded
from polysocial.stores.postgres_pool import PostgresPools


class PostgresBackedStore:
    """Base of the PostgreSQL adapters of every role. ``note`` says how the role is held (for `doctor`)."""

    note = ""

    def __init__(self, location: StoreURL, pools: PostgresPools) -> None:
        self._location = location
        self._pools = pools
        self._pool: AsyncConnectionPool | None = None

    @property
    def role(self) -> Role:
        return self._location.role

    @property
    def location(self) -> StoreURL:
        return self._location

    @property
    def pool(self) -> AsyncConnectionPool:
        if self._pool is None:
            raise StoreUnavailable(self.role.value, self._location.masked, "store is not open")
        return self._pool

    async def open(self) -> None:
        self._pool = await self._pools.get(self._location)
        await guarded(self._location, self.create_schema)

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
