"""The home feed four ways, on the same data in one run (the seed's "2 seconds to 50 milliseconds" claim, measured):

  (a) naive       the seed's 6-table join (posts, users, followers, likes, comments, likes again) on PostgreSQL,
                  every join column indexed;
  (b) postgres    the postgres-only profile's feed: followees from the SQL graph, then one LATERAL probe per
                  followee on the posts' (author_id, id DESC) index, cards and likes from the same rows;
  (c) timelines   the embedded profile's feed: Redis timeline (fan-out on write) + celebrity merge, post and
                  card caches (MGET), likes from the document store;
  (d) feed doc    the seed's own story: one denormalized feed document per user, read with one findOne (here
                  on the embedded profile's document store, PostgreSQL JSONB), maintained by the same fan-out.

Then the write side: fan-out throughput (timeline inserts per second), the time from a post to its last follower's
timeline for an author with 10,000 followers (through the outbox relay), the same fan-out into (d)'s feed
documents, and Redis memory per timeline entry.

    python -m polysocial.bench.home_feed [--users 100000] [--follows-each 20] [--posts 1000000] [--samples 400]

Data: users follow ``follows-each`` others with power-law popularity (synthetic.skewed_follow_graph); authors of
posts are drawn with a milder power law over the same ranking (popular accounts post more); likes and comments on
uniformly random posts. Every variant reads pages of 20.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg

from polysocial.bench.common import console, print_table, profile_settings, summary
from polysocial.bootstrap import App, bootstrap
from polysocial.config import Role, Settings
from polysocial.domain.graph import GraphUser
from polysocial.domain.ids import new_id, to_bytes
from polysocial.stores.documents.protocol import POSTS
from polysocial.stores.keyvalue.protocol import TimelineKind
from polysocial.stores.keyvalue.redis import RedisKeyValueStore
from polysocial.stores.keyvalue.timelines import timeline_key
from polysocial.synthetic import skewed_follow_graph

PAGE = 20
FEEDS = "feeds"
AUTHOR_SKEW = 0.6
BIG_AUTHOR_FOLLOWERS = 10_000

NAIVE_QUERY = """
SELECT p.post_id, p.content, p.created_at, u.user_id, u.name, u.avatar_url,
       COUNT(DISTINCT l.like_id) AS like_count,
       COUNT(DISTINCT c.comment_id) AS comment_count,
       EXISTS (SELECT 1 FROM seed_feed.likes WHERE post_id = p.post_id AND user_id = %(me)s) AS user_has_liked
FROM seed_feed.posts p
INNER JOIN seed_feed.users u ON p.author_id = u.user_id
INNER JOIN seed_feed.followers f ON f.followed_id = p.author_id
LEFT JOIN seed_feed.likes l ON l.post_id = p.post_id
LEFT JOIN seed_feed.comments c ON c.post_id = p.post_id
WHERE f.follower_id = %(me)s
GROUP BY p.post_id, u.user_id
ORDER BY p.created_at DESC
LIMIT %(limit)s
"""

SEED_SCHEMA = """
DROP SCHEMA IF EXISTS seed_feed CASCADE;
CREATE SCHEMA seed_feed;
CREATE TABLE seed_feed.users (user_id bigint PRIMARY KEY, name text NOT NULL, avatar_url text);
CREATE TABLE seed_feed.followers (follower_id bigint NOT NULL, followed_id bigint NOT NULL,
                                  PRIMARY KEY (follower_id, followed_id));
CREATE TABLE seed_feed.posts (post_id bigint PRIMARY KEY, author_id bigint NOT NULL, content text NOT NULL,
                              created_at timestamptz NOT NULL);
CREATE TABLE seed_feed.likes (like_id bigint PRIMARY KEY, post_id bigint NOT NULL, user_id bigint NOT NULL);
CREATE TABLE seed_feed.comments (comment_id bigint PRIMARY KEY, post_id bigint NOT NULL, user_id bigint NOT NULL,
                                 text text NOT NULL);
"""

SEED_INDEXES = """
CREATE INDEX ON seed_feed.followers (followed_id);
CREATE INDEX ON seed_feed.posts (author_id, created_at);
CREATE INDEX ON seed_feed.likes (post_id, user_id);
CREATE INDEX ON seed_feed.comments (post_id);
ANALYZE seed_feed.users, seed_feed.followers, seed_feed.posts, seed_feed.likes, seed_feed.comments;
"""


# -- data -------------------------------------------------------------------------------------------------------------


class Data:
    """The synthetic network, deterministic in its seed."""

    def __init__(self, users: int, follows_each: int, posts: int, seed: int) -> None:
        self.users = users
        self.edges = skewed_follow_graph(users, follows_each, seed=seed)
        rng = random.Random(seed)  # noqa: S311 - reproducible synthetic data
        followers = Counter(b for _, b in self.edges)
        ranked = [u for u, _ in followers.most_common()] + [u for u in range(1, users + 1) if u not in followers]
        weights = list(itertools.accumulate(1 / (r + 1) ** AUTHOR_SKEW for r in range(users)))
        self.authors = rng.choices(ranked, cum_weights=weights, k=posts)
        start_ms = int(time.time() * 1000) - posts * 100
        self.post_ids = [new_id(start_ms + i * 100) for i in range(posts)]
        self.created_ms = [start_ms + i * 100 for i in range(posts)]
        self.likes = [(rng.randrange(posts), rng.randrange(1, users + 1)) for _ in range(posts * 2)]
        self.comments = [(rng.randrange(posts), rng.randrange(1, users + 1)) for _ in range(posts)]
        self.followers = followers
        self.following: dict[int, list[int]] = defaultdict(list)
        for a, b in self.edges:
            self.following[a].append(b)

    def likers(self) -> dict[int, list[int]]:
        found: dict[int, set[int]] = defaultdict(set)
        for post, user in self.likes:
            found[post].add(user)
        return {post: sorted(users) for post, users in found.items()}

    def documents(self) -> Iterator[list[dict[str, Any]]]:
        likers = self.likers()
        comments = Counter(post for post, _ in self.comments)
        batch: list[dict[str, Any]] = []
        for i, (post_id, author) in enumerate(zip(self.post_ids, self.authors, strict=True)):
            liked = likers.get(i, [])
            batch.append(
                {
                    "id": post_id,
                    "author_id": author,
                    "text": f"post {i} by {author}",
                    "media": [],
                    "stats": {"likes": len(liked), "comments": comments[i], "shares": 0},
                    "likers": liked,
                    "latest_comments": [],
                    "created_at": datetime.fromtimestamp(self.created_ms[i] / 1000, UTC).isoformat(),
                    "deleted": False,
                }
            )
            if len(batch) == 50_000:
                yield batch
                batch = []
        if batch:
            yield batch


async def timed(label: str, work: Awaitable[Any]) -> Any:
    started = time.perf_counter()
    result = await work
    console.print(f"  {label}: {time.perf_counter() - started:.1f} s")
    return result


async def load(data: Data, timelines_app: App, sql_app: App, relational_url: str) -> None:
    console.print(f"[bold]loading[/] {data.users:,} users, {len(data.edges):,} follows, {len(data.post_ids):,} posts")
    async with await psycopg.AsyncConnection.connect(relational_url, autocommit=True) as conn:

        async def users() -> None:
            await conn.execute(
                "INSERT INTO users (user_id, email, password_hash) OVERRIDING SYSTEM VALUE "
                "SELECT g, 'user' || g || '@example.com', '$argon2id$benchmark' FROM generate_series(1, %s) g",
                (data.users,),
            )
            await conn.execute(
                "INSERT INTO user_profiles (user_id, name, avatar_url, birthdate) SELECT g, 'User ' || g, "
                "'https://cdn.example.com/' || g || '.jpg', '1990-01-01' FROM generate_series(1, %s) g",
                (data.users,),
            )

        await timed("accounts (users, profiles)", users())
        await timed("seed's relational tables", load_seed_tables(conn, data))

    async def documents() -> None:
        for batch in data.documents():
            await timelines_app.stores.documents.bulk_insert(POSTS, batch)

    await timed("posts in the document store (JSONB)", documents())
    graph_users = [GraphUser(u, f"User {u}") for u in range(1, data.users + 1)]
    await timed("graph, SQL (postgres-only)", sql_app.stores.graph.bulk_load(graph_users, data.edges))
    await timed("graph, FalkorDB (embedded)", timelines_app.stores.graph.bulk_load(graph_users, data.edges))


async def load_seed_tables(conn: psycopg.AsyncConnection[Any], data: Data) -> None:
    await conn.execute(SEED_SCHEMA)
    await conn.execute("INSERT INTO seed_feed.users SELECT user_id, name, avatar_url FROM user_profiles")
    async with conn.cursor() as cur:
        async with cur.copy("COPY seed_feed.followers FROM STDIN") as copy:
            for edge in data.edges:
                await copy.write_row(edge)
        async with cur.copy("COPY seed_feed.posts FROM STDIN") as copy:
            for i, author in enumerate(data.authors):
                created = datetime.fromtimestamp(data.created_ms[i] / 1000, UTC)
                await copy.write_row((i, author, f"post {i} by {author}", created))
        async with cur.copy("COPY seed_feed.likes FROM STDIN") as copy:
            for like_id, (post, user) in enumerate(data.likes):
                await copy.write_row((like_id, post, user))
        async with cur.copy("COPY seed_feed.comments FROM STDIN") as copy:
            for comment_id, (post, user) in enumerate(data.comments):
                await copy.write_row((comment_id, post, user, "nice"))
    await conn.execute(SEED_INDEXES)


# -- reads ------------------------------------------------------------------------------------------------------------


async def sample_times(samples: list[int], read: Callable[[int], Awaitable[int]]) -> tuple[list[float], int]:
    timings, items = [], 0
    for reader in samples:
        started = time.perf_counter()
        items += await read(reader)
        timings.append((time.perf_counter() - started) * 1000)
    return timings, items


async def reads(
    data: Data, timelines_app: App, sql_app: App, relational_url: str, samples: list[int], naive_samples: int
) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    async with await psycopg.AsyncConnection.connect(relational_url, autocommit=True) as conn:

        async def naive(reader: int) -> int:
            cur = await conn.execute(NAIVE_QUERY, {"me": reader, "limit": PAGE})
            return len(await cur.fetchall())

        await sample_times(samples[:5], naive)  # warm the buffer cache a little
        timings, items = await sample_times(samples[:naive_samples], naive)
        results["(a) naive: seed's 6-table join"] = {**summary(timings), "items": items / len(timings)}

    async def by_sql(reader: int) -> int:
        return len((await sql_app.services.feeds.home(reader, before=None, limit=PAGE)).rendered)

    await sample_times(samples, by_sql)
    timings, items = await sample_times(samples, by_sql)
    results["(b) postgres-only: LATERAL per followee"] = {**summary(timings), "items": items / len(timings)}

    async def by_timeline(reader: int) -> int:
        return len((await timelines_app.services.feeds.home(reader, before=None, limit=PAGE)).rendered)

    with console.status("rebuilding the sampled readers' timelines (first read) ..."):
        await sample_times(samples, by_timeline)
    timings, items = await sample_times(samples, by_timeline)
    results["(c) timelines: Redis fan-out + merge"] = {**summary(timings), "items": items / len(timings)}

    # (d): each sampled reader's feed as one denormalized document, built from the same answer (c) gives.
    docs = []
    for reader in samples:
        page = await timelines_app.services.feeds.home(reader, before=None, limit=PAGE)
        docs.append({"id": f"feed_user_{reader}", "user_id": reader, "posts": page.items})
    await timelines_app.stores.documents.bulk_insert(FEEDS, docs)

    async def by_document(reader: int) -> int:
        doc = await timelines_app.stores.documents.get(FEEDS, f"feed_user_{reader}")
        return len(doc["posts"]) if doc else 0

    await sample_times(samples, by_document)
    timings, items = await sample_times(samples, by_document)
    results["(d) feed document: one findOne (JSONB)"] = {**summary(timings), "items": items / len(timings)}
    return results


# -- writes -----------------------------------------------------------------------------------------------------------


async def make_all_timelines_live(app: App, users: Iterable[int]) -> None:
    """Every user gets a ready (empty) home timeline, as if all had read their feed recently: the worst case for
    fan-out, which writes only to live timelines."""
    timelines = app.services.feeds.timelines
    assert timelines is not None
    for user in users:
        if await timelines.timeline_begin_rebuild(TimelineKind.HOME, user):
            await timelines.timeline_finish_rebuild(TimelineKind.HOME, user, [])


async def fan_out_throughput(data: Data, app: App) -> dict[str, float]:
    """Fan out posts by the most followed non-celebrities, straight through the service (no relay)."""
    authors = [a for a, n in data.followers.most_common() if n <= app.services.feeds.celebrity_followers][:20]
    inserts = 0
    started = time.perf_counter()
    for author in authors:
        before = app.services.feeds.stats.fanned_out
        await app.services.feeds.post_created(new_id(), author)
        inserts += app.services.feeds.stats.fanned_out - before
    seconds = time.perf_counter() - started
    return {"posts": len(authors), "inserts": inserts, "seconds": seconds, "inserts_per_s": inserts / seconds}


async def post_to_last_follower(data: Data, app: App, rounds: int) -> dict[str, float]:
    """An author with exactly 10,000 followers posts through the API's service; the relay (running as in `serve`)
    fans it out; the clock stops when the post is in the last follower's timeline."""
    author = data.users + 1
    followers = list(range(1, BIG_AUTHOR_FOLLOWERS + 1))
    await app.stores.graph.follow_many([(f, author) for f in followers])
    keyvalue = app.stores.keyvalue
    assert isinstance(keyvalue, RedisKeyValueStore)
    last = timeline_key(TimelineKind.HOME, followers[-1])
    stop = asyncio.Event()
    relay = asyncio.create_task(app.relay.run_forever(stop))
    timings = []
    try:
        for i in range(rounds):
            started = time.perf_counter()
            doc = await app.services.posts.create(author, {"text": f"big {i}", "media": []}, {})
            deadline = started + 60
            while await keyvalue.client.zscore(last, to_bytes(doc["id"])) is None:
                if time.perf_counter() > deadline:
                    raise TimeoutError("the post did not reach the last follower within 60 s")
                await asyncio.sleep(0.001)
            timings.append((time.perf_counter() - started) * 1000)
    finally:
        stop.set()
        await relay
    return summary(timings)


async def feed_document_fan_out(app: App) -> dict[str, float]:
    """(d)'s maintenance: the same 10,000-follower post pushed into 10,000 feed documents (20 posts each)."""
    followers = range(1, BIG_AUTHOR_FOLLOWERS + 1)
    item = {
        "id": new_id(),
        "author_id": 0,
        "text": "x" * 80,
        "stats": {"likes": 0, "comments": 0},
        "author": {"user_id": 0, "name": "User 0", "avatar_url": None},
        "user_has_liked": False,
    }
    await app.stores.documents.bulk_insert(
        FEEDS, [{"id": f"fanout_{u}", "user_id": u, "posts": [item] * PAGE, "count": PAGE} for u in followers]
    )
    started = time.perf_counter()
    for user in followers:
        await app.stores.documents.push_capped(
            FEEDS, f"fanout_{user}", field="posts", item=item, keep_last=PAGE, counter="count"
        )
    seconds = time.perf_counter() - started
    return {"documents": len(followers), "seconds": seconds, "updates_per_s": len(followers) / seconds}


async def memory_per_entry(app: App, samples: list[int]) -> dict[str, float]:
    keyvalue = app.stores.keyvalue
    assert isinstance(keyvalue, RedisKeyValueStore)
    total_bytes = entries = 0
    encodings: Counter[str] = Counter()
    for reader in samples:
        key = timeline_key(TimelineKind.HOME, reader)
        size = await keyvalue.client.zcard(key)
        if size > 1:
            total_bytes += int(await keyvalue.client.memory_usage(key, samples=0) or 0)
            entries += size - 1
            encodings[(await keyvalue.client.object("encoding", key)).decode()] += 1
    used = (await keyvalue.client.info("memory"))["used_memory"]
    return {
        "timelines": float(sum(encodings.values())),
        "entries": float(entries),
        "bytes_per_entry": total_bytes / max(1, entries),
        "listpack_share": encodings["listpack"] / max(1, sum(encodings.values())),
        "redis_used_mb": used / 2**20,
    }


async def run(args: argparse.Namespace, embedded: Settings, postgres_only: Settings) -> dict[str, Any]:
    data = Data(args.users, args.follows_each, args.posts, seed=2026)
    timelines_app = await bootstrap(embedded)
    sql_app = await bootstrap(postgres_only)
    try:
        await load(data, timelines_app, sql_app, embedded.store_url(Role.RELATIONAL).url)
        rng = random.Random(7)  # noqa: S311 - the same readers for every variant
        samples = rng.sample(range(1, args.users + 1), args.samples)
        console.print("[bold]reads[/] (page of 20, service level, one reader at a time)")
        read_results = await reads(
            data, timelines_app, sql_app, embedded.store_url(Role.RELATIONAL).url, samples, args.naive_samples
        )
        memory = await memory_per_entry(timelines_app, samples)
        console.print("[bold]writes[/]")
        await make_all_timelines_live(timelines_app, range(1, args.users + 1))
        throughput = await fan_out_throughput(data, timelines_app)
        latency = await post_to_last_follower(data, timelines_app, args.rounds)
        documents = await feed_document_fan_out(timelines_app)
    finally:
        await timelines_app.aclose()
        await sql_app.aclose()
    celebrities = sum(1 for n in data.followers.values() if n > embedded.feed_celebrity_followers)
    return {
        "reads": read_results,
        "memory": memory,
        "fan_out": throughput,
        "post_to_last_follower": latency,
        "feed_document_fan_out": documents,
        "celebrities": celebrities,
    }


def report(results: dict[str, Any]) -> None:
    reads = results["reads"]
    print_table("home feed, page of 20 (ms)", reads)
    naive, sql_feed, timelines, document = (reads[k]["p50_ms"] for k in reads)
    console.print(
        f"ratios at p50: naive / timelines = {naive / timelines:,.0f}x; postgres-only / timelines = "
        f"{sql_feed / timelines:.1f}x; naive / postgres-only = {naive / sql_feed:,.0f}x; "
        f"feed document / timelines = {document / timelines:.1f}x"
    )
    c = reads[list(reads)[2]]
    last = results["post_to_last_follower"]
    checks = [
        ("(c) p50 <= 1 ms", c["p50_ms"] <= 1.0, f"{c['p50_ms']:.3f} ms"),
        ("(c) p99 <= 5 ms", c["p99_ms"] <= 5.0, f"{c['p99_ms']:.3f} ms"),
        ("(c) >= 100x faster than (a) at p50", naive / timelines >= 100, f"{naive / timelines:,.0f}x"),
        ("(c) faster than (b) at p50", timelines < sql_feed, f"{sql_feed / timelines:.1f}x"),
        (
            "fan-out >= 200,000 inserts/s",
            results["fan_out"]["inserts_per_s"] >= 200_000,
            f"{results['fan_out']['inserts_per_s']:,.0f}/s",
        ),
        (
            "post -> last of 10,000 followers <= 1 s (p99)",
            last["p99_ms"] <= 1000,
            f"{last['p50_ms']:.0f} ms p50, {last['p99_ms']:.0f} ms p99",
        ),
        (
            "Redis memory <= 100 bytes per timeline entry",
            results["memory"]["bytes_per_entry"] <= 100,
            f"{results['memory']['bytes_per_entry']:.1f} B",
        ),
    ]
    for title, numbers in (
        ("fan-out into live timelines (c)", results["fan_out"]),
        ("post -> last of 10,000 followers, through the relay (ms)", results["post_to_last_follower"]),
        ("the same post into 10,000 feed documents (d)", results["feed_document_fan_out"]),
        ("timeline memory (the sampled readers' home timelines)", results["memory"]),
    ):
        print_table(title, {"": numbers})
    for name, ok, figure in checks:
        console.print(f"{'[green]met[/]' if ok else '[red]MISSED[/]'}  {name}: {figure}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--follows-each", type=int, default=20)
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--naive-samples", type=int, default=100, help="samples of (a), which is slow")
    parser.add_argument("--rounds", type=int, default=20, help="posts by the 10,000-follower author")
    args = parser.parse_args()
    with profile_settings("embedded") as embedded:
        postgres_only = Settings(profile="postgres-only", data_dir=embedded.data_dir).for_bulk_work()
        results = asyncio.run(run(args, embedded, postgres_only))
    report(results)
    print(json.dumps({"home_feed": results}))


if __name__ == "__main__":
    main()
