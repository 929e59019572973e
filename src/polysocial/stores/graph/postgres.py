"""The graph role in PostgreSQL tables (`postgres-only`): the article's "could we just use PostgreSQL?"."""

from __future__ import annotations

from collections.abc import Sequence

from polysocial.domain.graph import GraphUser, last_write_wins
from polysocial.stores.postgres_common import PostgresBackedStore

SCHEMA_LOCK = 7_150_003

SCHEMA = """
CREATE TABLE IF NOT EXISTS graph_users (
    user_id bigint PRIMARY KEY,
    name    text NOT NULL
);
"""


class PostgresGraphStore(PostgresBackedStore):
    note = "follow graph in SQL tables"

    async def create_schema(self) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            await conn.execute(SCHEMA)

    async def upsert_users(self, users: Sequence[GraphUser]) -> None:
        unique = last_write_wins(users)
        if not unique:
            return
        async with self.pool.connection() as conn:
            await conn.execute(
                "INSERT INTO graph_users (user_id, name) SELECT * FROM unnest(%s::bigint[], %s::text[]) "
                "ON CONFLICT (user_id) DO UPDATE SET name = excluded.name",
                ([u.user_id for u in unique], [u.name for u in unique]),
            )

    async def missing_users(self, user_ids: Sequence[int]) -> list[int]:
        if not user_ids:
            return []
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT id FROM unnest(%s::bigint[]) AS id "
                "WHERE NOT EXISTS (SELECT 1 FROM graph_users g WHERE g.user_id = id) ORDER BY id",
                (list(user_ids),),
            )
            return [int(row[0]) for row in await cur.fetchall()]

    async def duplicate_user_ids(self) -> list[int]:
        return []  # the primary key makes a second row for one user impossible

    async def count_users(self) -> int:
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT count(*) FROM graph_users")
            row = await cur.fetchone()
        return int(row[0]) if row else 0
