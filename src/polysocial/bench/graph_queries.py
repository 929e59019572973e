"""Graph queries at scale, side by side on FalkorDB (embedded), PostgreSQL (postgres-only) and Neo4j (seed):
friends-of-friends suggestions, users within 3 hops, and the shortest follow path.

    python -m polysocial.bench.graph_queries [--users 100000] [--follows-each 20] [--samples 400]
                                       [--profiles embedded,postgres-only,seed]

The same generated network (skewed popularity, deterministic seed) is bulk-loaded into each engine, then each query
runs for the same sampled users, one at a time, through the adapters the application uses. Printed as p50/p99 with
the load time; the machine is shared, so compare the variants within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time

from polysocial.bench.common import console, print_table, profile_settings, summary
from polysocial.config import Role, Settings
from polysocial.domain.graph import GraphUser
from polysocial.stores.factory import make_store
from polysocial.stores.graph.protocol import GraphStore
from polysocial.stores.postgres_pool import PostgresPools
from polysocial.synthetic import skewed_follow_graph

TARGET_SUGGESTIONS_P50_MS = 2.0  # on the embedded profile (issue 4)


async def measure(
    settings: Settings, users: int, edges: list[tuple[int, int]], samples: int
) -> dict[str, dict[str, float]]:
    pools = PostgresPools()
    store = make_store(settings.store_url(Role.GRAPH), pools)
    await store.open()
    graph: GraphStore = store  # type: ignore[assignment]
    try:
        started = time.perf_counter()
        await graph.bulk_load([GraphUser(i, f"user {i}") for i in range(1, users + 1)], edges)
        load_s = time.perf_counter() - started
        rng = random.Random(42)  # noqa: S311 - the same sample for every engine
        sampled = [rng.randrange(1, users + 1) for _ in range(samples)]
        pairs = [(rng.randrange(1, users + 1), rng.randrange(1, users + 1)) for _ in range(samples)]
        for user in sampled[:50]:  # warm caches and plans
            await graph.suggestions(user, limit=10)
        timings: dict[str, list[float]] = {"suggestions": [], "within_3_hops": [], "shortest_path": []}
        for user, (a, b) in zip(sampled, pairs, strict=True):
            t0 = time.perf_counter()
            await graph.suggestions(user, limit=10)
            t1 = time.perf_counter()
            await graph.within_hops(user, hops=3, limit=50)
            t2 = time.perf_counter()
            await graph.path_length(a, b)
            t3 = time.perf_counter()
            timings["suggestions"].append((t1 - t0) * 1000)
            timings["within_3_hops"].append((t2 - t1) * 1000)
            timings["shortest_path"].append((t3 - t2) * 1000)
        result = {name: summary(values) for name, values in timings.items()}
        result["load"] = {"seconds": load_s, "edges_per_s": len(edges) / load_s}
        return result
    finally:
        await store.close()
        await pools.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--follows-each", type=int, default=20)
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--profiles", default="embedded,postgres-only,seed")
    args = parser.parse_args()

    started = time.perf_counter()
    edges = skewed_follow_graph(args.users, args.follows_each, seed=2026)
    console.print(f"generated {args.users:,} users, {len(edges):,} follows in {time.perf_counter() - started:.1f} s")
    engines = {"embedded": "FalkorDB", "postgres-only": "PostgreSQL", "seed": "Neo4j"}
    results: dict[str, dict[str, dict[str, float]]] = {}
    for profile in args.profiles.split(","):
        console.print(f"[bold]{profile}[/] ({engines[profile]}): loading ...")
        with profile_settings(profile) as settings:
            results[f"{profile} ({engines[profile]})"] = asyncio.run(measure(settings, args.users, edges, args.samples))
    for query in ("suggestions", "within_3_hops", "shortest_path"):
        print_table(
            f"{query} (ms), {args.users:,} users, {len(edges):,} follows", {v: r[query] for v, r in results.items()}
        )
    print_table("bulk load", {v: r["load"] for v, r in results.items()})
    embedded = next((r for v, r in results.items() if v.startswith("embedded")), None)
    if embedded:
        p50 = embedded["suggestions"]["p50_ms"]
        verdict = "met" if p50 < TARGET_SUGGESTIONS_P50_MS else "MISSED"
        console.print(f"target: suggestions p50 < {TARGET_SUGGESTIONS_P50_MS} ms on embedded: {p50:.2f} ms, {verdict}")
    print(json.dumps({"graph_queries": results, "users": args.users, "follows": len(edges)}))


if __name__ == "__main__":
    main()
