"""The graph role in PostgreSQL tables (`postgres-only`): the article's "could we just use PostgreSQL?"."""

from __future__ import annotations

from collections.abc import Sequence

from polysocial.domain.graph import GraphUser, Suggestion, last_write_wins
from polysocial.stores.postgres_common import PostgresBackedStore

SCHEMA_LOCK = 7_150_003

SCHEMA = """
CREATE TABLE IF NOT EXISTS graph_users (
    user_id bigint PRIMARY KEY,
    name    text NOT NULL
);
-- One row per edge (the primary key is the MERGE); the reverse index serves followers and the second hop.
CREATE TABLE IF NOT EXISTS follows (
    follower_id bigint NOT NULL,
    followee_id bigint NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (follower_id, followee_id),
    CHECK (follower_id <> followee_id)
);
CREATE INDEX IF NOT EXISTS follows_followee ON follows (followee_id, follower_id);
"""

SUGGESTIONS = """
SELECT f2.followee_id AS id, count(*) AS strength
FROM follows f1
JOIN follows f2 ON f2.follower_id = f1.followee_id
WHERE f1.follower_id = %(id)s
  AND f2.followee_id <> %(id)s
  AND NOT EXISTS (SELECT 1 FROM follows x WHERE x.follower_id = %(id)s AND x.followee_id = f2.followee_id)
GROUP BY f2.followee_id
ORDER BY strength DESC, id
LIMIT %(limit)s
"""

# Breadth-first, one level per step, each user kept at its first (smallest) distance.
WITHIN_HOPS = """
WITH RECURSIVE reach(id, distance) AS (
    SELECT followee_id, 1 FROM follows WHERE follower_id = %(id)s
  UNION
    SELECT f.followee_id, r.distance + 1
    FROM reach r JOIN follows f ON f.follower_id = r.id
    WHERE r.distance < %(hops)s
)
SELECT id, min(distance) AS distance FROM reach WHERE id <> %(id)s
GROUP BY id ORDER BY distance, id LIMIT %(limit)s
"""


class PostgresGraphStore(PostgresBackedStore):
    note = "follow graph in SQL tables"
    tables = ("follows", "graph_users")

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

    # -- follows --------------------------------------------------------------------------------------------------

    async def bulk_load(self, users: Sequence[GraphUser], edges: Sequence[tuple[int, int]]) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            async with conn.cursor().copy("COPY graph_users (user_id, name) FROM STDIN") as copy:
                for user in users:
                    await copy.write_row((user.user_id, user.name))
            async with conn.cursor().copy("COPY follows (follower_id, followee_id) FROM STDIN") as copy:
                for edge in edges:
                    await copy.write_row(edge)
            await conn.execute("ANALYZE graph_users")
            await conn.execute("ANALYZE follows")

    async def follow_many(self, edges: Sequence[tuple[int, int]]) -> None:
        unique = list(dict.fromkeys(edges))
        if not unique:
            return
        ids = sorted({u for edge in unique for u in edge})
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO graph_users (user_id, name) SELECT unnest(%s::bigint[]), '' ON CONFLICT DO NOTHING",
                (ids,),
            )
            await conn.execute(
                "INSERT INTO follows (follower_id, followee_id) SELECT * FROM unnest(%s::bigint[], %s::bigint[]) "
                "ON CONFLICT DO NOTHING",
                ([a for a, _ in unique], [b for _, b in unique]),
            )

    async def unfollow_many(self, edges: Sequence[tuple[int, int]]) -> None:
        unique = list(dict.fromkeys(edges))
        if unique:
            async with self.pool.connection() as conn:
                await conn.execute(
                    "DELETE FROM follows f USING unnest(%s::bigint[], %s::bigint[]) AS e(a, b) "
                    "WHERE f.follower_id = e.a AND f.followee_id = e.b",
                    ([a for a, _ in unique], [b for _, b in unique]),
                )

    async def erase_user(self, user_id: int) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute(
                "DELETE FROM follows WHERE follower_id = %(id)s OR followee_id = %(id)s", {"id": user_id}
            )
            await conn.execute("DELETE FROM graph_users WHERE user_id = %s", (user_id,))

    async def _ids(self, query: str, params: dict[str, int], *, stale_ok: bool = False) -> list[int]:
        async with self.stale_ok() if stale_ok else self.pool.connection() as conn:
            cur = await conn.execute(query, params)
            return [int(row[0]) for row in await cur.fetchall()]

    async def follows(self, follower: int, followee: int) -> bool:
        found = await self._ids(
            "SELECT 1 FROM follows WHERE follower_id = %(a)s AND followee_id = %(b)s", {"a": follower, "b": followee}
        )
        return bool(found)

    async def followers(self, user_id: int, *, after: int, limit: int) -> list[int]:
        return await self._ids(
            "SELECT follower_id FROM follows WHERE followee_id = %(id)s AND follower_id > %(after)s "
            "ORDER BY follower_id LIMIT %(limit)s",
            {"id": user_id, "after": after, "limit": limit},
            stale_ok=True,  # a list for people to read: a replica's may lag (not the fan-out's follower_ids)
        )

    async def follower_ids(self, user_id: int) -> list[int]:
        return await self._ids("SELECT follower_id FROM follows WHERE followee_id = %(id)s", {"id": user_id})

    async def following(self, user_id: int, *, after: int, limit: int) -> list[int]:
        return await self._ids(
            "SELECT followee_id FROM follows WHERE follower_id = %(id)s AND followee_id > %(after)s "
            "ORDER BY followee_id LIMIT %(limit)s",
            {"id": user_id, "after": after, "limit": limit},
            stale_ok=True,
        )

    async def follow_counts(self, user_id: int) -> tuple[int, int]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT (SELECT count(*) FROM follows WHERE followee_id = %(id)s), "
                "       (SELECT count(*) FROM follows WHERE follower_id = %(id)s)",
                {"id": user_id},
            )
            row = await cur.fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    async def mutual_follows(self, a: int, b: int, *, after: int, limit: int) -> list[int]:
        return await self._ids(
            "SELECT x.followee_id FROM follows x JOIN follows y ON y.followee_id = x.followee_id "
            "WHERE x.follower_id = %(a)s AND y.follower_id = %(b)s AND x.followee_id > %(after)s "
            "ORDER BY x.followee_id LIMIT %(limit)s",
            {"a": a, "b": b, "after": after, "limit": limit},
        )

    async def suggestions(self, user_id: int, *, limit: int) -> list[Suggestion]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(SUGGESTIONS, {"id": user_id, "limit": limit})
            return [Suggestion(int(r[0]), int(r[1])) for r in await cur.fetchall()]

    async def within_hops(self, user_id: int, *, hops: int, limit: int) -> list[tuple[int, int]]:
        if not 1 <= hops <= 4:
            raise ValueError("hops must be 1 to 4")
        async with self.pool.connection() as conn:
            cur = await conn.execute(WITHIN_HOPS, {"id": user_id, "hops": hops, "limit": limit})
            return [(int(r[0]), int(r[1])) for r in await cur.fetchall()]

    async def path_length(self, source: int, target: int, *, max_hops: int = 6) -> int | None:
        """Bidirectional breadth-first search, one query per level on the smaller frontier."""
        if source == target:
            return 0
        forward, backward = {source}, {target}
        seen_forward, seen_backward = {source}, {target}
        async with self.pool.connection() as conn:
            for depth in range(1, max_hops + 1):
                expand_forward = len(forward) <= len(backward)
                frontier = forward if expand_forward else backward
                query = (
                    "SELECT DISTINCT followee_id FROM follows WHERE follower_id = ANY(%s)"
                    if expand_forward
                    else "SELECT DISTINCT follower_id FROM follows WHERE followee_id = ANY(%s)"
                )
                cur = await conn.execute(query, (list(frontier),))
                seen = seen_forward if expand_forward else seen_backward
                other = seen_backward if expand_forward else seen_forward
                nxt = {int(r[0]) for r in await cur.fetchall()} - seen
                if nxt & other:
                    return depth
                if not nxt:
                    return None
                seen |= nxt
                if expand_forward:
                    forward = nxt
                else:
                    backward = nxt
        return None
