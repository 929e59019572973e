"""The seed's own code, as the article sketches it, on the same engines and the same data as the embedded variant:
the `naive` column of `polysocial bench`. Each function says which sketch it is and where it differs from ours.

- feed: the 6-table join (posts, users, followers, likes, comments, likes again), grouped and sorted per read;
- suggestions: the article's Cypher, ``[:FOLLOWS*2..2]`` with ``COUNT(*)``, on FalkorDB;
- orders: ``purchase_item``: SERIALIZABLE, ``SELECT ... FOR UPDATE``, no retry (a serialization failure is an
  error for the customer), no payment;
- transfers: ``update_balance`` twice in one READ COMMITTED transaction, rows locked in call order (deadlocks),
  no balance check (balances go negative);
- trending: the Flux query's count per post over the raw events of the last hour, no rollup;
- ingest: ``track_post_view``: one synchronous write per view, the viewer kept.

The seed has no fan-out to time (its ``invalidate_feed`` deletes ``feed:{id}:*``, and DEL takes no patterns: it
deletes nothing), its sign-up writes the graph inside the request (no delay, and a crash between the two writes
loses the node), and it has no HTTP API to drive the mix at: those cells are empty.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg

from polysocial.bench.commerce import drive
from polysocial.bench.home_feed import NAIVE_QUERY, PAGE, SEED_INDEXES, SEED_SCHEMA
from polysocial.stores.postgres_pool import GuardedPool
from polysocial.synthetic import Network

SUGGESTIONS_CYPHER = (  # the article's query; only the property is ours (``id``, not ``user_id``)
    "MATCH (user:User {id: $id})-[:FOLLOWS*2..2]->(suggestion) "
    "WHERE NOT (user)-[:FOLLOWS]->(suggestion) AND user <> suggestion "
    "WITH suggestion, COUNT(*) as strength ORDER BY strength DESC LIMIT $limit "
    "RETURN suggestion.id as user_id, strength"
)

# The sketches' own tables (and the table their one-write-per-view goes to), filled from ours.
SEED_TABLES = """
DROP SCHEMA IF EXISTS seed_shop CASCADE;
CREATE SCHEMA seed_shop;
CREATE TABLE seed_shop.inventory (product_id bigint PRIMARY KEY, quantity int NOT NULL);
CREATE TABLE seed_shop.orders (order_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, user_id bigint NOT NULL,
                               product_id bigint NOT NULL);
INSERT INTO seed_shop.inventory SELECT product_id, stock FROM products;
DROP SCHEMA IF EXISTS seed_bank CASCADE;
CREATE SCHEMA seed_bank;
CREATE TABLE seed_bank.accounts (user_id bigint PRIMARY KEY, balance numeric(14, 2) NOT NULL);
INSERT INTO seed_bank.accounts SELECT user_id, balance FROM users;
DROP TABLE IF EXISTS seed_post_views;
CREATE TABLE seed_post_views (post_id text NOT NULL, user_id bigint, value int NOT NULL, at timestamptz NOT NULL);
"""

NAIVE_TRENDING = """
SELECT post_id, count(*) AS views FROM ts_post_views
WHERE at >= %(start)s AND at < %(end)s
GROUP BY post_id ORDER BY views DESC LIMIT 20
"""

Timer = Callable[[Callable[[], Awaitable[Any]], int], Awaitable[list[float]]]


async def load_feed_tables(conn: psycopg.AsyncConnection[Any], network: Network, ids: Sequence[int]) -> None:
    """The seed's feed schema, filled from the same network the stores hold (user number n is ids[n - 1])."""
    await conn.execute(SEED_SCHEMA)
    await conn.execute(
        "INSERT INTO seed_feed.users SELECT u.user_id, p.name, p.avatar_url FROM users u "
        "JOIN user_profiles p USING (user_id) WHERE u.user_id = ANY(%s)",
        (list(ids),),
    )
    post_number = {post["id"]: i for i, post in enumerate(network.posts)}
    async with conn.cursor() as cur:
        async with cur.copy("COPY seed_feed.followers FROM STDIN") as copy:
            for a, b in network.edges:
                await copy.write_row((ids[a - 1], ids[b - 1]))
        async with cur.copy("COPY seed_feed.posts FROM STDIN") as copy:
            for i, post in enumerate(network.posts):
                await copy.write_row((i, ids[post["author_id"] - 1], post["text"], post["created_at"]))
        async with cur.copy("COPY seed_feed.likes FROM STDIN") as copy:
            like = 0
            for i, post in enumerate(network.posts):
                for liker in post["likers"]:
                    await copy.write_row((like, i, ids[liker - 1]))
                    like += 1
        async with cur.copy("COPY seed_feed.comments FROM STDIN") as copy:
            for n, comment in enumerate(network.comments):
                await copy.write_row((n, post_number[comment["post_id"]], ids[comment["author_id"] - 1], "nice"))
    await conn.execute(SEED_INDEXES)


async def feed(pool: GuardedPool, readers: Sequence[int], time_each: Timer) -> list[float]:
    async with pool.connection() as conn:

        async def read(reader: int) -> None:
            await (await conn.execute(NAIVE_QUERY, {"me": reader, "limit": PAGE})).fetchall()

        it = iter(readers)
        return await time_each(lambda: read(next(it)), len(readers))


async def suggestions(
    read: Callable[[str, dict[str, object]], Awaitable[Any]], users: Sequence[int], time_each: Timer
) -> list[float]:
    it = iter(users)
    return await time_each(lambda: read(SUGGESTIONS_CYPHER, {"id": next(it), "limit": 10}), len(users))


async def create_seed_tables(pool: GuardedPool) -> None:
    async with pool.connection() as conn:
        await conn.execute(SEED_TABLES)


async def orders(
    pool: GuardedPool, buyers: Sequence[int], products: Sequence[int], n: int, clients: int, seed: int
) -> tuple[dict[str, float], dict[str, int]]:
    """``purchase_item`` as written: no retry, so a serialization failure reaches the customer."""

    async def purchase(user_id: int, product_id: int) -> None:
        async with pool.connection() as conn, conn.transaction():
            await conn.execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
            row = await (
                await conn.execute("SELECT * FROM seed_shop.inventory WHERE product_id = %s FOR UPDATE", (product_id,))
            ).fetchone()
            if row is None or row[1] < 1:
                raise OutOfStock
            await conn.execute(
                "UPDATE seed_shop.inventory SET quantity = quantity - 1 WHERE product_id = %s AND quantity > 0",
                (product_id,),
            )
            await conn.execute(
                "INSERT INTO seed_shop.orders (user_id, product_id) VALUES (%s, %s)", (user_id, product_id)
            )

    rng = random.Random(seed)  # noqa: S311 - reproducible load
    jobs = [(rng.choice(buyers), rng.choice(products)) for _ in range(n)]
    numbers, outcomes = await drive([functools.partial(purchase, u, p) for u, p in jobs], clients)
    return numbers, dict(outcomes)


async def transfers(
    pool: GuardedPool, users: Sequence[int], n: int, clients: int, seed: int
) -> tuple[dict[str, float], dict[str, int]]:
    """Two ``update_balance`` calls in one transaction: no check, no lock order."""

    async def transfer(a: int, b: int, value: Decimal) -> None:
        async with pool.connection() as conn, conn.transaction():
            await conn.execute("UPDATE seed_bank.accounts SET balance = balance + %s WHERE user_id = %s", (-value, a))
            await conn.execute("UPDATE seed_bank.accounts SET balance = balance + %s WHERE user_id = %s", (value, b))

    rng = random.Random(seed)  # noqa: S311 - reproducible load
    jobs = []
    for _ in range(n):
        a, b = rng.sample(list(users), 2)
        jobs.append((a, b, Decimal(rng.randrange(1, 10_000)) / 100))
    numbers, outcomes = await drive([functools.partial(transfer, a, b, v) for a, b, v in jobs], clients)
    async with pool.connection() as conn:
        row = await (await conn.execute("SELECT count(*) FROM seed_bank.accounts WHERE balance < 0")).fetchone()
    return numbers, {**outcomes, "negative balances after": int(row[0]) if row else -1}


async def trending(pool: GuardedPool, start: datetime, end: datetime, samples: int, time_each: Timer) -> list[float]:
    async with pool.connection() as conn:

        async def query() -> None:
            await (await conn.execute(NAIVE_TRENDING, {"start": start, "end": end})).fetchall()

        return await time_each(query, samples)


async def ingest(pool: GuardedPool, post_ids: Sequence[str], n: int, seed: int) -> tuple[list[float], float]:
    """One autocommitted INSERT per view, as ``track_post_view`` writes one point per call, synchronously."""
    rng = random.Random(seed)  # noqa: S311 - reproducible load
    now = datetime.now(UTC)
    timings = []
    async with pool.connection() as conn:  # the pool's connections autocommit
        started = time.perf_counter()
        for _ in range(n):
            t0 = time.perf_counter()
            await conn.execute(
                "INSERT INTO seed_post_views (post_id, user_id, value, at) VALUES (%s, %s, 1, %s)",
                (rng.choice(post_ids), rng.randrange(1, 100_000), now - timedelta(seconds=rng.random() * 3600)),
            )
            timings.append((time.perf_counter() - t0) * 1000)
        seconds = time.perf_counter() - started
    return timings, n / seconds


class OutOfStock(Exception):
    """The seed's ``OutOfStockError``."""
