"""Analytics under load: ingest through the buffer into each time-series store, then trending and a post's hourly
series with 10,000,000 view events stored (embedded profile: PostgreSQL raw events + hourly rollups).

    python -m polysocial.bench.analytics [--ingest 500000] [--stored 10000000] [--posts 100000] [--samples 200]

Ingest: ``--ingest`` views recorded into the buffer (as the API does, one call per view) and flushed in batches of
10,000; events per second over the whole (record + flush). Then ``--stored`` views spread over the last 7 days with
skewed popularity are loaded through the same store verb, and trending (top 20 of the last hour) and the hourly
series of one popular post over 7 days are timed.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from polysocial.bench.common import console, print_table, profile_settings, summary
from polysocial.config import Role, Settings, StoreURL
from polysocial.domain.analytics import PostView, last_hours
from polysocial.engines.seed_stack import start_influxdb
from polysocial.services.analytics import AnalyticsBuffer, BufferConfig
from polysocial.stores.factory import make_store
from polysocial.stores.postgres_pool import PostgresPools
from polysocial.stores.timeseries.postgres import PostgresTimeSeriesStore
from polysocial.stores.timeseries.protocol import TimeSeriesStore

BATCH = 10_000


def post_ids(posts: int) -> list[str]:
    return [f"post{p:07d}" for p in range(posts)]


def views(n: int, ids: Sequence[str], seed: int, *, spread: timedelta) -> list[PostView]:
    """``n`` views of ``ids`` over the last ``spread``, popularity falling with the position in ``ids``."""
    rng = random.Random(seed)  # noqa: S311 - reproducible synthetic load
    weights = list(itertools.accumulate(1 / (r + 1) ** 0.9 for r in range(len(ids))))
    now = datetime.now(UTC)
    chosen = rng.choices(ids, cum_weights=weights, k=n)
    seconds = spread.total_seconds()
    return [
        PostView(post, rng.randrange(1, 100_000), now - timedelta(seconds=rng.random() * seconds)) for post in chosen
    ]


class NoBoards:
    """The leaderboard feed is Redis's business; here only the time-series store is measured."""

    async def board_add(self, board: str, increments: dict[str, float], *, ttl_s: int | None = None) -> None:
        return None


async def ingest(store: TimeSeriesStore, events: list[PostView]) -> dict[str, float]:
    buffer = AnalyticsBuffer(store, NoBoards(), BufferConfig(max_pending=len(events) + 1, batch_size=BATCH))  # type: ignore[arg-type]
    started = time.perf_counter()
    for event in events:
        buffer.record_view(event)
    written = await buffer.flush()
    seconds = time.perf_counter() - started
    assert written == len(events)
    assert buffer.stats.dropped == 0
    return {"events": len(events), "seconds": seconds, "events_per_s": len(events) / seconds}


async def timed(samples: int, call: Any) -> dict[str, float]:
    await call()
    timings = []
    for _ in range(samples):
        started = time.perf_counter()
        await call()
        timings.append((time.perf_counter() - started) * 1000)
    return summary(timings)


async def open_store(url: StoreURL) -> tuple[TimeSeriesStore, PostgresPools]:
    pools = PostgresPools()
    store = make_store(url, pools)
    await store.open()
    return store, pools  # type: ignore[return-value]


async def run(args: argparse.Namespace, settings: Settings, influx_url: str) -> dict[str, Any]:
    results: dict[str, Any] = {"ingest": {}, "queries": {}}
    sample = views(args.ingest, post_ids(args.posts), 1, spread=timedelta(hours=2))
    for name, url in (
        ("PostgreSQL (embedded)", settings.store_url(Role.TIMESERIES)),
        ("InfluxDB 1.6 (seed)", StoreURL(Role.TIMESERIES, influx_url)),
    ):
        store, pools = await open_store(url)
        try:
            with console.status(f"ingest into {name} ..."):
                results["ingest"][name] = await ingest(store, sample)
            start, end = last_hours(1, datetime.now(UTC))
            results["queries"][f"trending, {name}, {args.ingest:,} events"] = await timed(
                20, lambda s=store, a=start, b=end: s.trending(a, b, limit=20)
            )
        finally:
            await store.close()
            await pools.close()

    store, pools = await open_store(settings.store_url(Role.TIMESERIES))
    try:
        loaded = args.ingest
        ids = post_ids(args.posts)
        started = time.perf_counter()
        with console.status(f"loading {args.stored:,} views over 7 days into PostgreSQL ..."):
            chunk = 500_000
            for part in range(0, args.stored - loaded, chunk):
                batch = views(min(chunk, args.stored - loaded - part), ids, 100 + part, spread=timedelta(days=7))
                for at in range(0, len(batch), 50_000):
                    await store.write_views(batch[at : at + 50_000])
        results["load"] = {"events": args.stored - loaded, "seconds": time.perf_counter() - started}
        assert isinstance(store, PostgresTimeSeriesStore)
        async with store.pool.connection() as conn:
            await conn.execute("ANALYZE ts_post_views, ts_post_views_hourly")
        start, end = last_hours(1, datetime.now(UTC))
        results["queries"][f"trending (top 20, last hour), PostgreSQL, {args.stored:,} events"] = await timed(
            args.samples, lambda: store.trending(start, end, limit=20)
        )
        week_start, week_end = last_hours(24 * 7, datetime.now(UTC))
        results["queries"]["one post's views per hour over 7 days, PostgreSQL"] = await timed(
            args.samples, lambda: store.views_per_hour("post0000001", week_start, week_end)
        )
    finally:
        await store.close()
        await pools.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ingest", type=int, default=500_000)
    parser.add_argument("--stored", type=int, default=10_000_000)
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    with profile_settings("embedded") as settings, tempfile.TemporaryDirectory(prefix="polysocial-influx-") as tmp:
        influx = start_influxdb(Path(tmp))
        try:
            results = asyncio.run(run(args, settings, influx.url))
        finally:
            influx.stop()
    print_table("ingest through the buffer (views)", results["ingest"])
    print_table("queries (ms)", results["queries"])
    console.print(f"load of the stored events: {results['load']}")
    trending = next(v for k, v in results["queries"].items() if k.startswith("trending (top 20"))
    checks = [
        (f"ingest >= 50,000 events/s into {name}", r["events_per_s"] >= 50_000, f"{r['events_per_s']:,.0f}/s")
        for name, r in results["ingest"].items()
    ] + [("trending p50 <= 20 ms with the stored events", trending["p50_ms"] <= 20, f"{trending['p50_ms']:.2f} ms")]
    for name, ok, figure in checks:
        console.print(f"{'[green]met[/]' if ok else '[red]MISSED[/]'}  {name}: {figure}")
    print(json.dumps({"analytics": results}))


if __name__ == "__main__":
    main()
