"""The keyvalue role in PostgreSQL tables (`postgres-only`): what a good PostgreSQL engineer would build instead of
Redis. Caches, rate limits and locks are UNLOGGED (fast, and emptied after a crash, like a cache should be).
"""

from __future__ import annotations

import secrets

from psycopg.types.json import Jsonb

from polysocial.domain.analytics import Ranked
from polysocial.domain.limits import RateDecision, RateLimit
from polysocial.stores.postgres_common import PostgresBackedStore

SCHEMA_LOCK = 7_150_002

SCHEMA = """
CREATE UNLOGGED TABLE IF NOT EXISTS kv_rate_limits (
    key        text PRIMARY KEY,
    tat_ms     double precision NOT NULL,
    expires_at timestamptz NOT NULL
);

CREATE UNLOGGED TABLE IF NOT EXISTS kv_cache (
    key        text PRIMARY KEY,
    value      bytea NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE UNLOGGED TABLE IF NOT EXISTS kv_cache_generations (
    key        text PRIMARY KEY,
    generation bigint NOT NULL DEFAULT 0
);

CREATE UNLOGGED TABLE IF NOT EXISTS kv_carts (
    user_id    bigint PRIMARY KEY,
    lines      jsonb NOT NULL DEFAULT '{}',
    expires_at timestamptz NOT NULL
);

CREATE UNLOGGED TABLE IF NOT EXISTS kv_boards (
    board      text NOT NULL,
    member     text NOT NULL,
    score      double precision NOT NULL,
    expires_at timestamptz,
    PRIMARY KEY (board, member)
);
CREATE INDEX IF NOT EXISTS kv_boards_rank ON kv_boards (board, score DESC, member DESC);

CREATE UNLOGGED TABLE IF NOT EXISTS kv_locks (
    key        text PRIMARY KEY,
    token      text NOT NULL,
    expires_at timestamptz NOT NULL
);

-- GCRA in one atomic call, the same arithmetic as domain/limits.py and the Redis script. The row is created if
-- missing and then locked, so concurrent callers on one key take turns.
CREATE OR REPLACE FUNCTION kv_gcra(p_key text, p_interval double precision, p_limit integer, p_cost integer,
                                   OUT allowed boolean, OUT retry_after_ms double precision, OUT remaining integer)
LANGUAGE plpgsql AS $$
DECLARE
    now_ms   double precision := extract(epoch FROM clock_timestamp()) * 1000;
    tat      double precision;
    base     double precision;
    new_tat  double precision;
    allow_at double precision;
BEGIN
    INSERT INTO kv_rate_limits (key, tat_ms, expires_at) VALUES (p_key, 0, clock_timestamp())
        ON CONFLICT (key) DO NOTHING;
    SELECT r.tat_ms INTO tat FROM kv_rate_limits r WHERE r.key = p_key FOR UPDATE;
    IF tat IS NULL OR tat < 1 OR (SELECT r.expires_at FROM kv_rate_limits r WHERE r.key = p_key) < clock_timestamp()
    THEN
        tat := now_ms;
    END IF;
    base := greatest(tat, now_ms);
    new_tat := base + p_interval * greatest(p_cost, 1);
    allow_at := new_tat - p_interval * p_limit;
    IF now_ms < allow_at THEN
        allowed := false; retry_after_ms := ceil(allow_at - now_ms); remaining := 0;
        RETURN;
    END IF;
    remaining := floor((now_ms - allow_at) / p_interval);
    allowed := true; retry_after_ms := 0;
    IF p_cost = 0 THEN
        remaining := remaining + 1;
        RETURN;
    END IF;
    UPDATE kv_rate_limits SET tat_ms = new_tat,
        expires_at = clock_timestamp() + make_interval(secs => (new_tat - now_ms) / 1000)
        WHERE key = p_key;
END $$;
"""


class PostgresKeyValueStore(PostgresBackedStore):
    note = "limits and caches in tables"
    tables = ("kv_rate_limits", "kv_cache", "kv_cache_generations", "kv_locks", "kv_carts", "kv_boards")
    timelines = None  # feeds are read from the sources of truth (services/feed.py)

    async def create_schema(self) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            await conn.execute(SCHEMA)

    # -- rate limiting --------------------------------------------------------------------------------------------

    async def rate_limit(self, key: str, rule: RateLimit, *, cost: int = 1) -> RateDecision:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT allowed, retry_after_ms, remaining FROM kv_gcra(%s, %s, %s, %s)",
                (key, rule.interval_ms, rule.limit, cost),
            )
            row = await cur.fetchone()
        assert row is not None
        return RateDecision(bool(row[0]), float(row[1]) / 1000, int(row[2]))

    # -- cache ----------------------------------------------------------------------------------------------------

    async def cache_get(self, key: str) -> bytes | None:
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT value FROM kv_cache WHERE key = %s AND expires_at > now()", (key,))
            row = await cur.fetchone()
        return bytes(row[0]) if row else None

    async def cache_generation(self, key: str) -> int:
        async with self.pool.connection() as conn:
            # The row must exist before any cache_set, so that cache_set and cache_invalidate always meet on it.
            cur = await conn.execute(
                "INSERT INTO kv_cache_generations (key) VALUES (%s) ON CONFLICT (key) DO UPDATE SET key = excluded.key "
                "RETURNING generation",
                (key,),
            )
            row = await cur.fetchone()
        assert row is not None
        return int(row[0])

    async def cache_set(self, key: str, value: bytes, *, ttl_s: int, generation: int) -> bool:
        async with self.pool.connection() as conn, conn.transaction():
            # FOR SHARE waits for a concurrent invalidation to commit, then sees its new generation.
            cur = await conn.execute("SELECT generation FROM kv_cache_generations WHERE key = %s FOR SHARE", (key,))
            row = await cur.fetchone()
            if (int(row[0]) if row else 0) != generation:
                return False
            await conn.execute(
                "INSERT INTO kv_cache (key, value, expires_at) VALUES (%s, %s, now() + make_interval(secs => %s)) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
                (key, value, ttl_s),
            )
        return True

    async def cache_invalidate(self, key: str) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO kv_cache_generations (key, generation) VALUES (%s, 1) "
                "ON CONFLICT (key) DO UPDATE SET generation = kv_cache_generations.generation + 1",
                (key,),
            )
            await conn.execute("DELETE FROM kv_cache WHERE key = %s", (key,))

    # -- live carts (a row per cart, its lines as a JSON object, updated under the row lock) ----------------------

    async def cart_add(self, user_id: int, product_id: int, delta: int, *, ttl_s: int) -> int | None:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "UPDATE kv_carts SET lines = CASE WHEN coalesce((lines ->> %(p)s)::int, 0) + %(d)s > 0 "
                "  THEN jsonb_set(lines, ARRAY[%(p)s], to_jsonb(coalesce((lines ->> %(p)s)::int, 0) + %(d)s)) "
                "  ELSE lines - %(p)s END, expires_at = now() + make_interval(secs => %(ttl)s) "
                "WHERE user_id = %(u)s AND expires_at > now() RETURNING coalesce((lines ->> %(p)s)::int, 0)",
                {"p": str(product_id), "d": delta, "ttl": ttl_s, "u": user_id},
            )
            row = await cur.fetchone()
        return int(row[0]) if row else None

    async def cart_get(self, user_id: int) -> dict[int, int] | None:
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT lines FROM kv_carts WHERE user_id = %s AND expires_at > now()", (user_id,))
            row = await cur.fetchone()
        return {int(k): int(v) for k, v in row[0].items()} if row else None

    async def cart_put(self, user_id: int, lines: dict[int, int], *, ttl_s: int) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(
                "INSERT INTO kv_carts (user_id, lines, expires_at) VALUES (%s, %s, now() + make_interval(secs => %s)) "
                "ON CONFLICT (user_id) DO UPDATE SET lines = excluded.lines, expires_at = excluded.expires_at",
                (user_id, Jsonb({str(p): q for p, q in lines.items() if q > 0}), ttl_s),
            )

    async def cart_set_line(self, user_id: int, product_id: int, quantity: int) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(
                "UPDATE kv_carts SET lines = CASE WHEN %(q)s > 0 THEN jsonb_set(lines, ARRAY[%(p)s], to_jsonb(%(q)s)) "
                "ELSE lines - %(p)s END WHERE user_id = %(u)s AND expires_at > now()",
                {"q": quantity, "p": str(product_id), "u": user_id},
            )

    async def cart_drop(self, user_id: int) -> None:
        async with self.pool.connection() as conn:
            await conn.execute("DELETE FROM kv_carts WHERE user_id = %s", (user_id,))

    # -- leaderboards (ties ordered as Redis orders them: the greater member first) ------------------------------

    async def board_submit(self, board: str, member: str, score: float, *, keep_best: bool) -> float:
        merge = "greatest(b.score, excluded.score)" if keep_best else "b.score + excluded.score"
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "INSERT INTO kv_boards AS b (board, member, score) VALUES (%s, %s, %s) "  # noqa: S608 - fixed text
                f"ON CONFLICT (board, member) DO UPDATE SET score = {merge} RETURNING score",
                (board, member, score),
            )
            row = await cur.fetchone()
        assert row is not None
        return float(row[0])

    async def board_add(self, board: str, increments: dict[str, float], *, ttl_s: int | None = None) -> None:
        if not increments:
            return
        async with self.pool.connection() as conn:
            await conn.execute(
                "INSERT INTO kv_boards AS b (board, member, score, expires_at) "
                "SELECT %s, m, s, now() + make_interval(secs => %s) FROM unnest(%s::text[], %s::float8[]) AS t(m, s) "
                "ON CONFLICT (board, member) DO UPDATE SET score = b.score + excluded.score, "
                "expires_at = excluded.expires_at",
                (board, ttl_s if ttl_s is not None else 10**9, list(increments), list(increments.values())),
            )

    async def board_top(self, board: str, *, limit: int) -> list[Ranked]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT member, score FROM kv_boards WHERE board = %s AND (expires_at IS NULL OR expires_at > now()) "
                "ORDER BY score DESC, member DESC LIMIT %s",
                (board, limit),
            )
            rows = await cur.fetchall()
        return [Ranked(r[0], float(r[1]), i + 1) for i, r in enumerate(rows)]

    async def board_rank(self, board: str, member: str) -> Ranked | None:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT m.score, (SELECT count(*) FROM kv_boards o WHERE o.board = m.board "
                "  AND (o.expires_at IS NULL OR o.expires_at > now()) "
                "  AND (o.score > m.score OR (o.score = m.score AND o.member > m.member))) "
                "FROM kv_boards m WHERE m.board = %s AND m.member = %s "
                "AND (m.expires_at IS NULL OR m.expires_at > now())",
                (board, member),
            )
            row = await cur.fetchone()
        return Ranked(member, float(row[0]), int(row[1]) + 1) if row else None

    async def board_scores(self, member: str) -> dict[str, float]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT board, score FROM kv_boards WHERE member = %s AND (expires_at IS NULL OR expires_at > now())",
                (member,),
            )
            return {str(board): float(score) for board, score in await cur.fetchall()}

    async def board_forget(self, member: str) -> int:
        async with self.pool.connection() as conn:
            cur = await conn.execute("DELETE FROM kv_boards WHERE member = %s", (member,))
            return cur.rowcount

    # -- locks ----------------------------------------------------------------------------------------------------

    async def lock_acquire(self, key: str, *, ttl_s: float) -> str | None:
        token = secrets.token_hex(16)
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "INSERT INTO kv_locks (key, token, expires_at) VALUES (%s, %s, now() + make_interval(secs => %s)) "
                "ON CONFLICT (key) DO UPDATE SET token = excluded.token, expires_at = excluded.expires_at "
                "WHERE kv_locks.expires_at < now() RETURNING token",
                (key, token, ttl_s),
            )
            row = await cur.fetchone()
        return token if row else None

    async def lock_release(self, key: str, token: str) -> None:
        async with self.pool.connection() as conn:
            await conn.execute("DELETE FROM kv_locks WHERE key = %s AND token = %s", (key, token))

    # -- read-your-writes positions (in the cache table, under a key of their own) ----------------------------------

    async def position_put(self, user_id: int, position: str, *, ttl_s: float) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(
                "INSERT INTO kv_cache (key, value, expires_at) VALUES (%s, %s, now() + make_interval(secs => %s)) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
                (f"ryw:{user_id}", position.encode(), ttl_s),
            )

    async def position_get(self, user_id: int) -> str | None:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT value FROM kv_cache WHERE key = %s AND expires_at > now()", (f"ryw:{user_id}",)
            )
            row = await cur.fetchone()
        return bytes(row[0]).decode() if row else None
