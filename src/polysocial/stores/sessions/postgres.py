"""Sessions in a PostgreSQL table (`postgres-only`): logged, so a crash signs nobody out, and indexed by user for
"sign out everywhere". The idle timer is ``expires_at``, restarted by each read, never past the absolute end."""

from __future__ import annotations

from psycopg.rows import dict_row

from polysocial.domain.accounts import Session, UserRole
from polysocial.stores.postgres_common import PostgresBackedStore

SCHEMA_LOCK = 7_150_006

SCHEMA = """
CREATE TABLE IF NOT EXISTS user_sessions (
    token_hash text PRIMARY KEY,
    user_id    bigint NOT NULL,
    role       text NOT NULL,
    created_at double precision NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS user_sessions_expires ON user_sessions (expires_at);
CREATE INDEX IF NOT EXISTS user_sessions_user ON user_sessions (user_id);
"""


class PostgresSessionStore(PostgresBackedStore):
    note = "a table, indexed by user"
    tables = ("user_sessions",)
    durable = True  # a logged table: sessions survive a restart and need no second copy

    async def create_schema(self) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            await conn.execute(SCHEMA)

    async def create(self, token_hash: str, session: Session, *, idle_s: int, absolute_s: int) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(
                "INSERT INTO user_sessions (token_hash, user_id, role, created_at, expires_at) "
                "VALUES (%s, %s, %s, %s, now() + make_interval(secs => %s)) "
                "ON CONFLICT (token_hash) DO UPDATE SET user_id = excluded.user_id, role = excluded.role, "
                "created_at = excluded.created_at, expires_at = excluded.expires_at",
                (token_hash, session.user_id, session.role.value, session.created_at, min(idle_s, absolute_s)),
            )
            # Expired sessions go lazily, a few at a time, so the table does not grow without end.
            await conn.execute(
                "DELETE FROM user_sessions WHERE token_hash IN "
                "(SELECT token_hash FROM user_sessions WHERE expires_at < now() LIMIT 100)"
            )

    async def read(self, token_hash: str, *, idle_s: int, absolute_s: int) -> Session | None:
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "UPDATE user_sessions SET expires_at = least("
                "  now() + make_interval(secs => %s),"
                "  to_timestamp(created_at + %s)) "
                "WHERE token_hash = %s AND expires_at > now() AND to_timestamp(created_at + %s) > now() "
                "RETURNING user_id, role, created_at",
                (idle_s, absolute_s, token_hash, absolute_s),
            )
            row = await cur.fetchone()
        return Session(row["user_id"], UserRole(row["role"]), row["created_at"]) if row else None

    async def revoke(self, token_hash: str, *, absolute_s: int) -> None:
        async with self.pool.connection() as conn:
            await conn.execute("DELETE FROM user_sessions WHERE token_hash = %s", (token_hash,))

    async def revoke_user(self, user_id: int, *, absolute_s: int) -> None:
        async with self.pool.connection() as conn:
            await conn.execute("DELETE FROM user_sessions WHERE user_id = %s", (user_id,))
