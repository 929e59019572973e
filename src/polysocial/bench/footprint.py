"""`python -m polysocial.bench.footprint`: what each unit of data costs in each store, the inputs of docs/CAPACITY.md.

On the embedded engines, a synthetic network (``--users``, ``--avg-follows``, ``--posts``, as `seed-data` makes
them) is loaded, then measured where it lies:

- PostgreSQL: bytes per account (users, profiles, ledger and their indexes), per recorded follow, per post and per
  comment (JSONB documents, their share of the table and its indexes), from ``pg_total_relation_size`` and
  ``pg_column_size``;
- FalkorDB: bytes per follow edge (with its share of the nodes), from Redis's ``used_memory`` before and after the
  graph's bulk load;
- Redis timelines: bytes per home-timeline entry, from ``MEMORY USAGE`` of rebuilt home timelines;
- fan-out: timeline inserts per post, from the network's follower counts below the celebrity threshold;
- the relay: follow events delivered per second by one relay (a time: the one figure the machine's load changes).

Writes benchmarks/footprint.json and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import secrets
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from polysocial.bench.common import console, profile_settings
from polysocial.bootstrap import bootstrap
from polysocial.config import Settings
from polysocial.domain.events import followed
from polysocial.engines.embedded import EmbeddedEngines
from polysocial.stores.keyvalue.protocol import TimelineKind
from polysocial.stores.keyvalue.timelines import timeline_key
from polysocial.stores.postgres_common import PostgresBackedStore
from polysocial.synthetic import synthetic_network

TIMELINE_SAMPLE = 200
RELAY_EVENTS = 20_000


async def _rows(store: PostgresBackedStore, query: str) -> list[tuple[Any, ...]]:
    async with store.pool.connection() as conn:
        return list(await (await conn.execute(query)).fetchall())


async def _table_bytes(store: PostgresBackedStore, *tables: str) -> int:
    found = await _rows(store, "SELECT " + " + ".join(f"pg_total_relation_size('{t}')" for t in tables))
    return int(found[0][0])


async def measure(settings: Settings, users: int, avg_follows: int, posts: int) -> dict[str, Any]:
    network = synthetic_network(users, avg_follows, posts, seed=1, products=100)
    redis = Redis.from_url(EmbeddedEngines(settings).redis.url)
    app = await bootstrap(settings)
    try:
        relational = app.stores.relational
        documents = app.stores.documents
        assert isinstance(relational, PostgresBackedStore)
        assert isinstance(documents, PostgresBackedStore)
        before = int((await redis.info("memory"))["used_memory"])
        with console.status("loading the network ..."):
            loaded = await app.services.operations.load_network(
                network, seed=1, password=secrets.token_urlsafe(12), step=lambda *_: None
            )
        graph_bytes = int((await redis.info("memory"))["used_memory"]) - before
        async with relational.pool.connection() as conn:
            await conn.execute("VACUUM ANALYZE")  # settled sizes, not the load's leftovers

        account_bytes = await _table_bytes(relational, "users", "user_profiles", "ledger_entries")
        follow_bytes = await _table_bytes(relational, "follow_record")
        per_collection = {
            str(c): (int(n), int(b))
            for c, n, b in await _rows(
                documents, "SELECT collection, count(*), sum(pg_column_size(body)) FROM documents GROUP BY 1"
            )
        }
        doc_total = await _table_bytes(documents, "documents")
        body_total = sum(b for _, b in per_collection.values()) or 1

        feeds = app.services.feeds
        timelines = app.stores.timelines
        assert timelines is not None
        sample = loaded.user_ids[:: max(1, len(loaded.user_ids) // TIMELINE_SAMPLE)][:TIMELINE_SAMPLE]
        entries = memory = 0
        for user in sample:
            held = await feeds.rebuild_now(user) or 0
            if held >= 50:  # a timeline long enough for the per-entry figure to mean something
                entries += held
                memory += int(await redis.memory_usage(timeline_key(TimelineKind.HOME, user), samples=0) or 0)

        # The relay's throughput: follow events (graph MERGE, the follower's timeline) written to the outbox in one
        # transaction, then delivered by one relay, as a worker would.
        rng = random.Random(2)  # noqa: S311 - a reproducible sample
        pairs = {(rng.choice(loaded.user_ids), rng.choice(loaded.user_ids)) for _ in range(RELAY_EVENTS)}
        events = [followed(a, b) for a, b in pairs if a != b]
        async with relational.transaction() as tx:
            await tx.outbox.add(events)
        started = time.perf_counter()
        await app.relay.drain(timeout_s=600)
        relay_per_s = len(events) / (time.perf_counter() - started)

        followers = Counter(b for _, b in network.edges)
        threshold = settings.feed_celebrity_followers
        per_post = [followers.get(p_author, 0) for p_author in (int(p["author_id"]) for p in network.posts)]
        fanned = [n + 1 for n in per_post if n <= threshold]  # the author's own timeline too
        return {
            "network": {
                "users": users,
                "follows": len(network.edges),
                "posts": posts,
                "comments": per_collection.get("comments", (0, 0))[0],
            },
            "postgres_bytes_per_account": round(account_bytes / users),
            "postgres_bytes_per_recorded_follow": round(follow_bytes / max(1, len(network.edges))),
            "postgres_bytes_per_post": round(
                doc_total * per_collection["posts"][1] / body_total / per_collection["posts"][0]
            ),
            "postgres_bytes_per_comment": round(
                doc_total * per_collection["comments"][1] / body_total / max(1, per_collection["comments"][0])
            ),
            "falkordb_bytes_per_follow_edge": round(graph_bytes / max(1, len(network.edges))),
            "redis_bytes_per_timeline_entry": round(memory / entries, 1) if entries else None,
            "timelines_sampled": len(sample),
            "fanout_inserts_per_post_mean": round(statistics.fmean(fanned), 1) if fanned else 0,
            "posts_by_celebrities_share": round(1 - len(fanned) / max(1, len(per_post)), 4),
            "celebrity_threshold": threshold,
            "relay_events_per_s": round(relay_per_s),
            "relay_events_measured": len(events),
        }
    finally:
        await app.aclose()
        await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--avg-follows", type=int, default=20)
    parser.add_argument("--posts", type=int, default=200_000)
    parser.add_argument("--output", type=Path, default=Path("benchmarks/footprint.json"))
    args = parser.parse_args()
    with profile_settings("embedded") as settings:
        figures = asyncio.run(measure(settings, args.users, args.avg_follows, args.posts))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(figures, indent=2) + "\n")
    for key, value in figures.items():
        console.print(f"{key:<40} {value}")
    console.print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
