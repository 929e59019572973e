"""The document store's feed query, side by side: posts by any of a user's followees, newest first, 20 of them
(the seed's ``find({'user_id': {'$in': following}}).sort(...)``, with a cursor instead of skip), on PostgreSQL JSONB
(embedded) and on the MongoDB wire protocol (seed; served here by FerretDB 1.24 on its PostgreSQL backend, which is
NOT MongoDB's engine: its figures say nothing about MongoDB's speed).

    python -m polysocial.bench.document_feed [--users 100000] [--follows-each 20] [--posts-per-user 2] [--samples 400]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections import defaultdict

from polysocial.bench.common import console, print_table, profile_settings, summary
from polysocial.config import Role, Settings
from polysocial.domain.ids import new_id
from polysocial.stores.documents.protocol import POSTS, DocumentStore
from polysocial.stores.factory import make_store
from polysocial.stores.postgres_pool import PostgresPools
from polysocial.synthetic import skewed_follow_graph


def synthetic_posts(users: int, per_user: int, seed: int) -> list[dict[str, object]]:
    rng = random.Random(seed)  # noqa: S311 - reproducible synthetic data
    authors = [a for a in range(1, users + 1) for _ in range(per_user)]
    rng.shuffle(authors)
    start_ms = int(time.time() * 1000) - len(authors) * 1000
    return [
        {
            "id": new_id(start_ms + i * 1000),
            "author_id": author,
            "text": f"post {i}",
            "deleted": False,
            "stats": {"likes": 0, "comments": 0, "shares": 0},
            "media": [],
            "latest_comments": [],
        }
        for i, author in enumerate(authors)
    ]


async def measure(
    settings: Settings, posts: list[dict[str, object]], following: dict[int, list[int]], samples: list[int]
) -> dict[str, dict[str, float]]:
    pools = PostgresPools()
    store = make_store(settings.store_url(Role.DOCUMENTS), pools)
    await store.open()
    docs: DocumentStore = store  # type: ignore[assignment]
    try:
        started = time.perf_counter()
        await docs.bulk_insert(POSTS, posts)
        load_s = time.perf_counter() - started
        for user in samples[: min(50, len(samples) // 4)]:  # warm-up
            await docs.find_any(
                POSTS, field="author_id", values=following[user], equals={"deleted": False}, before_id=None, limit=20
            )
        timings = []
        for user in samples:
            t0 = time.perf_counter()
            page = await docs.find_any(
                POSTS, field="author_id", values=following[user], equals={"deleted": False}, before_id=None, limit=20
            )
            timings.append((time.perf_counter() - t0) * 1000)
            assert len(page) <= 20
        return {"feed_query": summary(timings), "load": {"seconds": load_s, "docs_per_s": len(posts) / load_s}}
    finally:
        await store.close()
        await pools.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--follows-each", type=int, default=20)
    parser.add_argument("--posts-per-user", type=int, default=2)
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--profiles", default="embedded,seed")
    parser.add_argument("--slow-samples", type=int, default=20, help="samples on FerretDB, which evaluates $in itself")
    args = parser.parse_args()

    edges = skewed_follow_graph(args.users, args.follows_each, seed=2026)
    following: dict[int, list[int]] = defaultdict(list)
    for a, b in edges:
        following[a].append(b)
    rng = random.Random(7)  # noqa: S311 - the same sample for every engine
    samples = [rng.randrange(1, args.users + 1) for _ in range(args.samples)]
    posts = synthetic_posts(args.users, args.posts_per_user, seed=2026)
    console.print(f"{args.users:,} users, {len(edges):,} follows, {len(posts):,} posts")
    names = {"embedded": "PostgreSQL JSONB", "seed": "FerretDB 1.24 on PostgreSQL (MongoDB wire protocol, not MongoDB)"}
    results = {}
    for profile in args.profiles.split(","):
        console.print(f"[bold]{profile}[/]: loading {len(posts):,} posts ...")
        with profile_settings(profile) as settings:
            chosen = samples if profile != "seed" else samples[: args.slow_samples]
            results[names[profile]] = asyncio.run(measure(settings, posts, following, chosen))
    print_table("feed query: $in over ~20 followees, newest 20 (ms)", {k: v["feed_query"] for k, v in results.items()})
    print_table("bulk load", {k: v["load"] for k, v in results.items()})
    console.print("FerretDB is not MongoDB's engine: its figures measure FerretDB, not MongoDB.")
    print(json.dumps({"document_feed": results}))


if __name__ == "__main__":
    main()
