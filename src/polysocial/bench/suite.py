"""`polysocial bench`: the capability benchmarks' workloads on one generated network, for each variant, side by side.

Variants: ``embedded`` (PostgreSQL + Redis/FalkorDB started here), ``seed`` (the article's stack: FerretDB for the
MongoDB protocol, Neo4j, InfluxDB, with PostgreSQL and Redis), ``postgres-only``, and ``naive`` (the seed's own
queries, polysocial.bench.naive, on the embedded variant's engines and data). Each of the first three gets fresh
engines and the same network (synthetic.synthetic_network, deterministic in the seed), loaded in bulk; then every
workload runs through the same services the API uses.

Every figure is ``p50_ms``, ``p99_ms`` (over all operations timed) and ``ops_per_s``; what one operation is, and
what ops/s counts, is in WORKLOADS. A cell with no figure has a reason (GAPS).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import platform
import random
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import psutil
import psycopg

from polysocial.bench import http, naive
from polysocial.bench.analytics import views
from polysocial.bench.commerce import drive
from polysocial.bench.common import console, profile_settings, summary
from polysocial.bench.home_feed import make_all_timelines_live
from polysocial.bench.signup_to_graph import measure as measure_signups
from polysocial.bootstrap import App, bootstrap
from polysocial.config import Settings
from polysocial.domain.analytics import last_hours
from polysocial.domain.errors import StoreUnavailable
from polysocial.domain.ids import new_id
from polysocial.services.seeding import account_email
from polysocial.stores.graph.falkordb import FalkorGraphStore
from polysocial.stores.postgres_common import PostgresBackedStore
from polysocial.stores.relational.postgres import PostgresRelationalStore
from polysocial.stores.timeseries.postgres import PostgresTimeSeriesStore
from polysocial.synthetic import Network, synthetic_network

T = TypeVar("T")

VARIANTS = ("embedded", "seed", "postgres-only", "cluster", "naive")
CAPACITY_RELAY_WAIT_S = 300.0  # before the capacity steps: the relay delivers what earlier workloads left it
CLUSTER_WORKLOADS = ("http", "capacity")  # the cluster variant is measured where users wait: over HTTP

# Sampled workloads time up to Sizes.samples operations or BUDGET_S seconds, whichever comes first.
WORKLOADS: dict[str, str] = {
    "feed": "one home-feed page of 20 posts (with authors, like and comment counts, whether the reader liked "
    "each), one reader at a time; ops/s is that one client's rate",
    "suggestions": "friends of friends not yet followed, top 10, one user at a time",
    "fanout": "one post by one of the most followed non-celebrity authors pushed into every follower's live home "
    "timeline (every timeline live: the worst case); ops/s counts timeline inserts",
    "signup_to_graph": "from a sign-up's HTTP response to the user's node in the graph (outbox, relay woken by "
    "NOTIFY, MERGE); ops/s counts sign-ups, 8 at a time",
    "orders": "one order of one item (stock checked and reduced, order, payment: one transaction), 32 clients "
    "over the whole catalogue; refusals (out of stock, not enough money) are answers and count",
    "transfers": "one transfer between two random wallets, 32 clients",
    "ingest": "10,000 post views recorded into the buffer and flushed to the time-series store; ops/s counts views",
    "trending": "the 20 most viewed posts of the current hour, after the ingest",
    "http": "closed loop over HTTP with wrk (64 connections): the most requests per second `polysocial serve` answers "
    "for each endpoint in turn (home feed, a user timeline, a post, the wallet, suggestions, compose), next to a "
    "FastAPI app answering a fixed 20-item page from no store, same server settings, same run (the framework's "
    "ceiling); three rounds of 5 s over the reads and the ceiling, then three of compose, each figure the round with "
    "the median rate (every round's rate is in results.json); the cell is the home feed",
    "capacity": "DeathStarBench's social-network mix (60% home feed, 30% user timeline, 10% compose) offered by "
    "vegeta as an open loop at rising constant rates after a warm-up; the cell's ops/s is the highest rate that "
    "held p99 <= 50 ms with no error (max_sustained_per_s), its latencies those of that rate",
    "mixed": "DeathStarBench's social-network mix (60% home feed, 30% user timeline, 10% compose) sent over HTTP by "
    "vegeta at one constant rate (open loop) to `polysocial serve`; ops/s is the rate achieved",
}

GAPS: dict[tuple[str, str], str] = {
    ("fanout", "postgres-only"): "no timelines to fan out into: the feed is read from the posts' index",
    ("fanout", "naive"): "the seed invalidates instead (`DEL feed:{id}:*`), and DEL takes no patterns: it deletes "
    "nothing",
    ("signup_to_graph", "naive"): "the seed writes the graph inside the sign-up request: no delay, and a crash "
    "between the two writes loses the node",
    ("mixed", "naive"): "the seed sketches no API to send requests to",
    ("http", "naive"): "the seed sketches no API to send requests to",
    ("capacity", "naive"): "the seed sketches no API to send requests to",
    **{
        (workload, "cluster"): "the cluster variant is measured over HTTP only (http, capacity): its service-level "
        "code is the embedded variant's"
        for workload in (
            "feed",
            "suggestions",
            "fanout",
            "signup_to_graph",
            "orders",
            "transfers",
            "ingest",
            "trending",
            "mixed",
        )
    },
}

ENGINES = {
    "embedded": "PostgreSQL 18 (accounts, money, posts as JSONB, time series), Redis 8 + FalkorDB (feeds, sessions, "
    "caches, graph)",
    "seed": "PostgreSQL 18 (accounts, money), Redis 8 (feeds, sessions, caches), FerretDB 1.24 on its PostgreSQL "
    "backend (posts and comments over the MongoDB protocol: not MongoDB's engine), Neo4j 5 (graph), InfluxDB 1.6 "
    "(time series)",
    "postgres-only": "PostgreSQL 18 for every role",
    "cluster": "the embedded engines, with the key-value role (feeds, sessions, caches) on a Redis Cluster of 3 "
    "masters and 3 replicas and a streaming PostgreSQL replica for stale-ok reads; over HTTP, 2 `serve` processes "
    "behind nginx and 2 relay `worker`s, all on the same 2 cores",
    "naive": "the seed's own queries (polysocial.bench.naive) on the embedded variant's engines and data",
}


@dataclass(frozen=True)
class Sizes:
    users: int = 20_000
    avg_follows: int = 20
    posts: int = 200_000
    products: int = 1_000
    seed: int = 1
    samples: int = 300
    naive_samples: int = 50
    clients: int = 32
    orders: int = 3_000
    transfers: int = 5_000
    ingest: int = 200_000
    signups: int = 200
    fanout_posts: int = 20
    mixed_rate: float = 200
    mixed_seconds: float = 20
    http_seconds: float = 5  # per round
    http_rounds: int = 3
    http_readers: int = 300
    workers: int = 0  # server processes for http and capacity; 0: one per core
    capacity_rates: tuple[float, ...] = (100, 200, 300, 400, 500, 600, 700, 850, 1_000, 1_500, 2_000, 3_000)
    capacity_seconds: float = 20
    capacity_warmup_s: float = 10

    @classmethod
    def quick(cls, **overrides: Any) -> Sizes:
        """A run of about a minute per variant: the shape of the report, not figures to quote."""
        small = {
            "users": 300,
            "avg_follows": 10,
            "posts": 3_000,
            "products": 50,
            "samples": 40,
            "naive_samples": 10,
            "clients": 8,
            "orders": 200,
            "transfers": 200,
            "ingest": 20_000,
            "signups": 60,
            "fanout_posts": 5,
            "mixed_rate": 50,
            "mixed_seconds": 3,
            "http_seconds": 2,
            "http_rounds": 1,
            "http_readers": 10,
            "capacity_rates": (50, 100),
            "capacity_seconds": 2,
            "capacity_warmup_s": 1,
        }
        return cls(**{**small, **overrides})


@dataclass
class Cell:
    p50_ms: float
    p99_ms: float
    ops_per_s: float
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # a workload's further figures (http: every endpoint)

    def figures(self) -> dict[str, Any]:
        return {
            "p50_ms": round(self.p50_ms, 4),
            "p99_ms": round(self.p99_ms, 4),
            "ops_per_s": round(self.ops_per_s, 1),
            **self.extra,
        }


@dataclass
class Run:
    sizes: Sizes
    variants: tuple[str, ...]
    cells: dict[str, dict[str, Cell]] = field(default_factory=lambda: {w: {} for w in WORKLOADS})
    loads: dict[str, float] = field(default_factory=dict)  # variant -> seconds to load the network
    gave_up: dict[str, dict[str, str]] = field(default_factory=dict)  # workload -> variant -> why
    failures: list[str] = field(default_factory=list)  # workloads that raised: the command exits 1
    network: dict[str, int] = field(default_factory=dict)  # what was generated: follows, likes, comments, ...
    started: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    seconds: float = 0.0
    machine: dict[str, str] = field(default_factory=dict)

    def results(self) -> dict[str, dict[str, dict[str, Any]]]:
        """benchmarks/results.json: ``{workload: {variant: {p50_ms, p99_ms, ops_per_s}}}``, measured cells only."""
        return {w: {v: c.figures() for v, c in by.items()} for w, by in self.cells.items() if by}

    def gap(self, workload: str, variant: str) -> str:
        return self.gave_up.get(workload, {}).get(variant) or GAPS.get((workload, variant), "not run")

    def meta(self) -> dict[str, Any]:
        return {
            "sizes": asdict(self.sizes),
            "variants": self.variants,
            "loads_s": self.loads,
            "gave_up": self.gave_up,
            "network": self.network,
            "started": self.started,
            "seconds": self.seconds,
            "machine": self.machine,
        }


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": str(psutil.cpu_count(logical=True)),
        "memory": f"{psutil.virtual_memory().total / 2**30:.0f} GiB",
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def seeded(seed: int | str) -> random.Random:
    """A generator for synthetic load: the same seed, the same samples in every variant."""
    return random.Random(seed)  # noqa: S311 - reproducible synthetic load, not secrets


# -- timing helpers ---------------------------------------------------------------------------------------------------


BUDGET_S = 60.0  # per sampled workload and variant: a slow engine gives fewer samples, not an endless run
MIN_SAMPLES = 5
CALL_TIMEOUT_S = 30.0  # one operation slower than this: the workload is given up for the variant, with the reason


class GaveUp(Exception):
    """A workload abandoned for one variant; the message is the reason shown in its cell."""


async def time_each(call: Callable[[], Awaitable[Any]], n: int, budget_s: float = BUDGET_S) -> list[float]:
    """Time ``n`` calls one after another, or as many as fit in ``budget_s`` (at least MIN_SAMPLES)."""
    timings: list[float] = []
    deadline = time.perf_counter() + budget_s
    for _ in range(n):
        started = time.perf_counter()
        try:
            await asyncio.wait_for(call(), CALL_TIMEOUT_S)
        except TimeoutError:
            raise GaveUp(f"given up: one operation took over {CALL_TIMEOUT_S:.0f} s") from None
        timings.append((time.perf_counter() - started) * 1000)
        if started > deadline and len(timings) >= MIN_SAMPLES:
            break
    return timings


def sequential(timings: Sequence[float], note: str = "") -> Cell:
    """One client, one operation after another: ops/s is the inverse of the mean."""
    counted = f"{len(timings):,} timed"
    found = summary(timings)
    return Cell(
        found["p50_ms"], found["p99_ms"], 1000 * len(timings) / sum(timings), f"{note}; {counted}" if note else counted
    )


def concurrent(numbers: dict[str, float], outcomes: dict[str, int], what: str = "") -> Cell:
    shown = ", ".join(f"{k}: {v:,}" for k, v in sorted(outcomes.items()))
    return Cell(numbers["p50_ms"], numbers["p99_ms"], numbers["ops_per_s"], f"{what}; {shown}" if what else shown)


# -- one variant ------------------------------------------------------------------------------------------------------


@dataclass
class Context:
    app: App
    settings: Settings
    network: Network
    ids: list[int]
    sizes: Sizes
    password: str
    rng: random.Random
    # The HTTP workloads' signed-in readers: signed in (and their timelines warmed) once per variant. Sessions live
    # in the key-value store, so they outlast the server each workload starts.
    audience: http.Audience | None = None
    variant: str = ""

    def sample(self, n: int) -> list[int]:
        return self.rng.sample(self.ids, min(n, len(self.ids)))

    def follower_counts(self) -> Counter[int]:
        return Counter(self.ids[b - 1] for _, b in self.network.edges)


async def feed(ctx: Context) -> Cell:
    readers = ctx.sample(ctx.sizes.samples)

    async def read(reader: int) -> None:
        await ctx.app.services.feeds.home(reader, before=None, limit=20)

    # Each reader's first read builds what the variant builds (a timeline, caches); only warmed readers are timed.
    it = iter(readers)
    warmed = len(await time_each(lambda: read(next(it)), len(readers)))
    readers = readers[:warmed]
    it = iter(readers)
    return sequential(await time_each(lambda: read(next(it)), len(readers)))


async def suggestions(ctx: Context) -> Cell:
    users = ctx.sample(ctx.sizes.samples)
    for user in users[:30]:  # warm plans and caches
        await ctx.app.stores.graph.suggestions(user, limit=10)
    it = iter(users)
    return sequential(await time_each(lambda: ctx.app.stores.graph.suggestions(next(it), limit=10), len(users)))


async def fanout(ctx: Context) -> Cell | None:
    feeds = ctx.app.services.feeds
    timelines = feeds.timelines
    if timelines is None:
        return None
    await make_all_timelines_live(ctx.app, ctx.ids)
    counts = ctx.follower_counts()
    authors = [a for a, n in counts.most_common() if n <= feeds.celebrity_followers][: ctx.sizes.fanout_posts]
    await feeds.post_created(new_id(), authors[-1])  # warm
    timings, inserts = [], 0
    for author in authors:
        before = feeds.stats.fanned_out
        started = time.perf_counter()
        await feeds.post_created(new_id(), author)
        timings.append((time.perf_counter() - started) * 1000)
        inserts += feeds.stats.fanned_out - before
    cell = sequential(
        timings,
        f"{inserts:,} inserts from {len(authors)} posts (authors with "
        f"{counts[authors[-1]]:,} to {counts[authors[0]]:,} followers)",
    )
    cell.ops_per_s = inserts / (sum(timings) / 1000)
    return cell


async def signup_to_graph(ctx: Context) -> Cell:
    found = await measure_signups(ctx.settings, ctx.sizes.signups, 8, logins=5, failures=5)
    delays = found["signup_to_graph"]
    return Cell(delays["p50_ms"], delays["p99_ms"], delays["signups_per_s"])


async def product_ids(ctx: Context) -> list[int]:
    relational = ctx.app.stores.relational
    assert isinstance(relational, PostgresRelationalStore)
    async with relational.pool.connection() as conn:
        return [int(r[0]) for r in await (await conn.execute("SELECT product_id FROM products")).fetchall()]


async def orders(ctx: Context) -> Cell:
    products = await product_ids(ctx)
    buyers = ctx.sample(1_000)
    rng = random.Random(ctx.sizes.seed)  # noqa: S311 - the same orders in every variant

    def order(user: int, product: int) -> Callable[[], Awaitable[Any]]:
        return lambda: ctx.app.services.shop.place_order(user, [(product, 1)])

    jobs = [order(rng.choice(buyers), rng.choice(products)) for _ in range(ctx.sizes.orders)]
    return concurrent(*await drive(jobs, ctx.sizes.clients))


async def transfers(ctx: Context) -> Cell:
    users = ctx.sample(1_000)
    rng = random.Random(ctx.sizes.seed)  # noqa: S311 - the same transfers in every variant
    jobs: list[Callable[[], Awaitable[Any]]] = []
    for _ in range(ctx.sizes.transfers):
        a, b = rng.sample(users, 2)
        amount = Decimal(rng.randrange(1, 10_000)) / 100
        jobs.append(functools.partial(ctx.app.services.wallet.transfer, a, b, amount))
    return concurrent(*await drive(jobs, ctx.sizes.clients))


async def ingest(ctx: Context) -> Cell:
    buffer = ctx.app.analytics_buffer
    batch = buffer.config.batch_size
    ids = [p["id"] for p in ctx.network.posts[:100_000]]  # popularity skewed over the first 100,000 posts
    events = views(ctx.sizes.ingest, ids, ctx.sizes.seed, spread=timedelta(hours=2))
    timings = []
    for start in range(0, len(events), batch):
        t0 = time.perf_counter()
        for view in events[start : start + batch]:
            buffer.record_view(view)
        await buffer.flush()
        timings.append((time.perf_counter() - t0) * 1000)
    if buffer.stats.dropped:
        raise RuntimeError(f"the buffer dropped {buffer.stats.dropped} views")
    cell = sequential(timings, f"{len(events):,} views in batches of {batch:,}")
    cell.ops_per_s = len(events) / (sum(timings) / 1000)
    return cell


async def trending(ctx: Context) -> Cell:
    start, end = last_hours(1, datetime.now(UTC))
    store = ctx.app.stores.timeseries
    await store.trending(start, end, limit=20)
    return sequential(await time_each(lambda: store.trending(start, end, limit=20), max(20, ctx.sizes.samples // 3)))


HTTP_ENDPOINTS = ("feed", "home page", "user timeline", "post", "wallet", "suggestions", "compose")
HTTP_WRITES = frozenset({"compose"})  # after these, the relay is let catch up before the next figure


def audience(ctx: Context, base: str) -> http.Audience:
    if ctx.audience is None:
        accounts = [(user, account_email(ctx.sizes.seed, n)) for n, user in enumerate(ctx.ids, start=1)]
        posts = [p["id"] for p in ctx.network.posts]
        ctx.audience = http.Audience.sign_in(
            base, accounts, ctx.password, posts, ctx.sizes.http_readers, ctx.sizes.seed
        )
    return ctx.audience


def workers(sizes: Sizes) -> int:
    return sizes.workers or os.cpu_count() or 1


def serving(ctx: Context, n: int, log: Path) -> contextlib.AbstractContextManager[http.RunningServer]:
    """`polysocial serve` with ``n`` workers; for the cluster variant, the multi-process topology behind nginx."""
    if ctx.variant == "cluster":
        return http.topology(ctx.settings, log.parent)
    return http.polysocial_server(ctx.settings, n, log)


def http_run(ctx: Context) -> tuple[Sizes, int, Path]:
    """What an HTTP workload needs: the generators (else it is not run, and says why), the server processes, and a
    folder for the servers' logs."""
    missing = http.generators_missing()
    if missing:
        raise GaveUp("not run: " + "; ".join(missing))
    logs = ctx.settings.data_path / "bench-logs"
    logs.mkdir(parents=True, exist_ok=True)
    return ctx.sizes, workers(ctx.sizes), logs


def median_run(runs: Sequence[http.Closed]) -> http.Closed:
    """The run whose requests/s is the median of the rounds (the lower middle one for an even count)."""
    ordered = sorted(runs, key=lambda r: r.per_s)
    return ordered[(len(ordered) - 1) // 2]


def relay_caught_up(ctx: Context, loop: asyncio.AbstractEventLoop, timeout_s: float = 60.0) -> bool:
    """Wait (from a worker thread) until no event is pending in any outbox: the server's relay has delivered what
    the last writes left it. False if events were still pending after ``timeout_s``."""

    async def pending() -> int | None:
        try:
            return sum([await source.pending() for source in ctx.app.relay.sources])
        except StoreUnavailable:  # FerretDB counts slowly under load: unknown, asked again
            return None

    deadline = time.monotonic() + timeout_s
    while True:
        if http.STOP.is_set():  # the bench's loop is going away: nobody would answer
            raise http.Interrupted("the bench was interrupted")
        left = max(0.1, deadline - time.monotonic())
        asked = asyncio.run_coroutine_threadsafe(pending(), loop)
        try:
            if asked.result(timeout=left) == 0:
                return True
        except TimeoutError:  # the count itself outlasted the deadline (FerretDB under the relay's load): pending
            asked.cancel()
            return False
        if time.monotonic() > deadline:
            return False
        time.sleep(0.25)


async def in_thread(run: Callable[[], T]) -> T:
    """``run()`` in a worker thread (an HTTP workload: servers, wrk, vegeta). Cancelled (Ctrl-C), it stops the load
    generator at once, and the thread stops its servers on the way out, instead of running its remaining rounds."""
    try:
        return await asyncio.to_thread(run)
    except asyncio.CancelledError:
        http.interrupt()
        raise


async def http_closed_loop(ctx: Context) -> Cell:
    s, n, logs = http_run(ctx)
    loop = asyncio.get_running_loop()

    def run() -> Cell:
        rounds: dict[str, list[http.Closed]] = {}
        with (
            serving(ctx, n, logs / "serve-http.log") as server,
            http.ceiling_server(n, logs / "ceiling.log") as ceiling,
        ):
            who = audience(ctx, server.base)
            targets = {
                endpoint: (server, http.requests_for(endpoint, who, 2_000, s.seed)) for endpoint in HTTP_ENDPOINTS
            }
            targets["ceiling"] = (ceiling, http.requests_for("ceiling", who, 1, s.seed))
            for endpoint, (target, requests) in targets.items():
                if endpoint not in HTTP_WRITES:  # the writes warm up in their first round
                    http.wrk(target, requests, 1)  # warm: plans, caches, connections
            # Rounds over every endpoint, the ceiling among them, rather than one long run each: a burst of another
            # tenant's load on this shared machine then costs one round of one endpoint, not its whole figure. The
            # reads' rounds first, on the network as loaded; the writes' after them: thousands of new posts in 5 s
            # would give the next round's feeds a cold post cache and the relay seconds of fan-out to do.
            reads = [e for e in targets if e not in HTTP_WRITES]
            writes = [e for e in targets if e in HTTP_WRITES]
            for group in (reads, writes):
                for _ in range(s.http_rounds):
                    for endpoint in group:
                        target, requests = targets[endpoint]
                        rounds.setdefault(endpoint, []).append(http.wrk(target, requests, s.http_seconds))
                        if endpoint in HTTP_WRITES:
                            relay_caught_up(ctx, loop)
        found = {endpoint: median_run(runs) for endpoint, runs in rounds.items()}
        for endpoint, runs in rounds.items():
            shown = ", ".join(f"{r.per_s:,.0f}" for r in runs)
            console.print(f"{'':>13} http {endpoint:<14} {found[endpoint].per_s:9,.0f}/s  (rounds: {shown})")
        feed, top, page = found["feed"], found["ceiling"], found["home page"]
        note = (
            f"{n} workers; the framework's ceiling {top.per_s:,.0f}/s, the feed at {feed.per_s / top.per_s:.0%} of it; "
            f"the home page (HTML) at p50 {page.p50_ms / feed.p50_ms:.2f}x the JSON feed's; "
            f"wrk used {max(c.generator_cpu for c in found.values()):.2f} of a core at most"
        )
        extra = {
            "workers": n,
            "ratio_to_ceiling": round(feed.per_s / top.per_s, 3),
            "home_page_p50_to_feed": round(page.p50_ms / feed.p50_ms, 3),
            "endpoints": {name: c.figures() for name, c in found.items()},
            "rounds_per_s": {name: [round(r.per_s, 1) for r in runs] for name, runs in rounds.items()},
        }
        return Cell(feed.p50_ms, feed.p99_ms, feed.per_s, note, extra)

    return await in_thread(run)


async def mixed(ctx: Context) -> Cell:
    """The mix at one constant rate (200 requests/s), as the seed's scale would see it: vegeta, open loop."""
    s, n, logs = http_run(ctx)

    def run() -> Cell:
        with http.polysocial_server(ctx.settings, n, logs / "serve-mixed.log") as server:
            requests = http.mixed_requests(audience(ctx, server.base), 20_000, s.seed)
            http.vegeta(server, requests, s.mixed_rate, min(5.0, s.mixed_seconds))  # warm
            step = http.vegeta(server, requests, s.mixed_rate, s.mixed_seconds)
        note = (
            f"{s.mixed_rate:,.0f} requests/s offered for {s.mixed_seconds:.0f} s by vegeta, {n} workers; "
            f"{step.requests:,} requests, {step.errors:,} errors; vegeta used {step.generator_cpu:.2f} of a core"
        )
        return Cell(step.p50_ms, step.p99_ms, step.achieved_per_s, note, {"workers": n, "errors": step.errors})

    return await in_thread(run)


async def capacity(ctx: Context) -> Cell:
    s, n, logs = http_run(ctx)
    loop = asyncio.get_running_loop()

    def run() -> Cell:
        with serving(ctx, n, logs / "serve-capacity.log") as server:
            who = audience(ctx, server.base)
            requests = http.mixed_requests(who, 20_000, s.seed)
            # The http workload's compose rounds leave the relay a backlog of fan-out; on FerretDB it outlasted the
            # http workload's own wait, and the mix then queued behind it (every request timed out at 100/s).
            caught_up = relay_caught_up(ctx, loop, CAPACITY_RELAY_WAIT_S)

            def shown(step: http.Step) -> None:
                console.print(
                    f"{'':>13} capacity {step.offered_per_s:7,.0f}/s offered: p50 {step.p50_ms:8.2f} ms  "
                    f"p99 {step.p99_ms:8.2f} ms  errors {step.errors}"
                )

            steps = http.capacity(server, requests, s.capacity_rates, s.capacity_seconds, s.capacity_warmup_s, shown)
        best = http.max_sustained(steps)
        at = next((st for st in steps if st.offered_per_s == best), steps[0])
        note = (
            f"{n} workers; held p99 <= {http.P99_TARGET_MS:.0f} ms with no error up to {best:,.0f}/s offered"
            if best
            else f"{n} workers; no rate held p99 <= {http.P99_TARGET_MS:.0f} ms with no error"
        )
        note += f"; vegeta used {max(st.generator_cpu for st in steps):.2f} of a core at most"
        if not caught_up:
            note += f"; the relay still had events pending after {CAPACITY_RELAY_WAIT_S:.0f} s when the steps began"
        extra = {"workers": n, "max_sustained_per_s": best, "steps": [st.figures() for st in steps]}
        return Cell(at.p50_ms, at.p99_ms, best, note, extra)

    return await in_thread(run)


MEASURES: dict[str, Callable[[Context], Awaitable[Cell | None]]] = {
    "feed": feed,
    "suggestions": suggestions,
    "fanout": fanout,
    "signup_to_graph": signup_to_graph,
    "orders": orders,
    "transfers": transfers,
    "ingest": ingest,
    "trending": trending,
    "mixed": mixed,
    "http": http_closed_loop,
    "capacity": capacity,
}


async def naive_cells(ctx: Context) -> dict[str, Cell]:
    """The seed's own code on the embedded variant's engines and data (polysocial.bench.naive)."""
    relational = ctx.app.stores.relational
    graph = ctx.app.stores.graph
    timeseries = ctx.app.stores.timeseries
    assert isinstance(relational, PostgresRelationalStore)
    assert isinstance(timeseries, PostgresTimeSeriesStore)
    pool, s = relational.pool, ctx.sizes
    cells: dict[str, Cell] = {}
    async with pool.connection() as conn:
        await naive.load_feed_tables(conn, ctx.network, ctx.ids)
    readers = ctx.sample(s.naive_samples)
    await naive.feed(pool, readers[:5], time_each)  # warm the buffer cache a little
    cells["feed"] = sequential(await naive.feed(pool, readers, time_each), "the 6-table join, grouped per read")
    if isinstance(graph, FalkorGraphStore):
        users = ctx.sample(s.samples)
        read = graph._read  # the adapter's raw read: the seed's query text, as it is
        await naive.suggestions(read, users[:30], time_each)
        cells["suggestions"] = sequential(
            await naive.suggestions(read, users, time_each),
            "the article's `[:FOLLOWS*2..2]` with COUNT(*), on FalkorDB",
        )
    await naive.create_seed_tables(pool)
    numbers, outcomes = await naive.orders(pool, ctx.sample(1_000), await product_ids(ctx), s.orders, s.clients, s.seed)
    cells["orders"] = concurrent(numbers, outcomes, "stock and order only: no payment, no retry")
    numbers, outcomes = await naive.transfers(pool, ctx.sample(1_000), s.transfers, s.clients, s.seed)
    cells["transfers"] = concurrent(numbers, outcomes, "two UPDATEs: no balance check, no lock order, no retry")
    timings, rate = await naive.ingest(pool, [p["id"] for p in ctx.network.posts], max(200, s.ingest // 100), s.seed)
    cells["ingest"] = sequential(timings, "one synchronous write per view; p50/p99 are per view, not per 10,000")
    cells["ingest"].ops_per_s = rate
    cells["ingest"].extra["unit"] = "per view"  # the others' figures are per batch: charts keep them apart
    start, end = last_hours(1, datetime.now(UTC))
    async with timeseries.pool.connection() as conn:
        await conn.execute("ANALYZE ts_post_views")
    timings = await naive.trending(pool, start, end, max(20, s.samples // 3), time_each)
    cells["trending"] = sequential(timings, "count per post over the raw events, no rollup")
    return cells


# Before these workloads the PostgreSQL databases are settled (SETTLED_BEFORE): see settle().
SETTLED_BEFORE = ("feed", "http")


async def settle(app: App) -> None:
    """VACUUM ANALYZE and a checkpoint on each PostgreSQL database the variant uses, so that the maintenance a bulk
    load and the earlier workloads left owing (autovacuum of 200,000 fresh documents, dirty pages to write) does not
    run on the same two cores during the timed runs. What is measured is serving, not that one-off catch-up."""
    seen: set[str] = set()
    for store in app.stores.all():
        if not isinstance(store, PostgresBackedStore) or store.location.url in seen:
            continue
        seen.add(store.location.url)
        async with store.pool.connection() as conn:  # autocommit: VACUUM cannot run in a transaction
            await conn.execute("VACUUM ANALYZE")
            # A managed server's non-superuser may not checkpoint: the vacuum is then all it gets.
            with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
                await conn.execute("CHECKPOINT")


async def measure_variant(profile: str, settings: Settings, network: Network, run: Run, password: str) -> None:
    sizes = run.sizes
    app = await bootstrap(settings.model_copy(update={"postgres_pool_size": sizes.clients + 4}))
    try:
        started = time.perf_counter()
        with console.status(f"{profile}: loading the network ..."):
            loaded = await app.services.operations.load_network(
                network, seed=sizes.seed, password=password, step=lambda *_: None
            )
        run.loads[profile] = time.perf_counter() - started
        console.print(f"{profile}: loaded in {run.loads[profile]:.1f} s")
        ctx = Context(app, settings, network, loaded.user_ids, sizes, password, seeded(sizes.seed), variant=profile)
        if profile in run.variants:
            for workload, measure in MEASURES.items():
                if profile == "cluster" and workload not in CLUSTER_WORKLOADS:
                    continue  # GAPS says why
                ctx.rng = seeded(f"{sizes.seed}-{workload}")  # the same samples in every variant
                if workload in SETTLED_BEFORE:
                    with console.status(f"{profile}: VACUUM ANALYZE and CHECKPOINT ..."):
                        await settle(app)
                with console.status(f"{profile}: {workload} ..."):
                    try:
                        cell = await measure(ctx)
                    except GaveUp as exc:
                        run.gave_up.setdefault(workload, {})[profile] = str(exc)
                        console.print(f"{profile:>13} {workload:<16} {exc}")
                        continue
                    except Exception as exc:  # a broken workload: reported (and the command fails), the rest runs
                        reason = f"failed: {type(exc).__name__}: {exc}"
                        run.gave_up.setdefault(workload, {})[profile] = reason
                        run.failures.append(f"{profile} {workload}: {reason}")
                        console.print_exception(max_frames=8)
                        continue
                if cell is not None:
                    run.cells[workload][profile] = cell
                    console.print(
                        f"{profile:>13} {workload:<16} p50 {cell.p50_ms:9.3f} ms  p99 {cell.p99_ms:9.3f} ms"
                        f"  {cell.ops_per_s:12,.1f}/s"
                    )
        if profile == "embedded" and "naive" in run.variants:
            ctx.rng = seeded(f"{sizes.seed}-naive")
            with console.status("naive: the seed's queries ..."):
                for workload, cell in (await naive_cells(ctx)).items():
                    run.cells[workload]["naive"] = cell
                    console.print(
                        f"{'naive':>13} {workload:<16} p50 {cell.p50_ms:9.3f} ms  p99 {cell.p99_ms:9.3f} ms"
                        f"  {cell.ops_per_s:12,.1f}/s"
                    )
    finally:
        await app.aclose()


def run_bench(sizes: Sizes, variants: Sequence[str]) -> Run:
    """Run every workload for ``variants`` (naive rides on the embedded variant's engines)."""
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        raise ValueError(f"unknown variants {sorted(unknown)}: choose from {', '.join(VARIANTS)}")
    run = Run(sizes, tuple(v for v in VARIANTS if v in variants), machine=machine())
    started = time.perf_counter()
    with console.status(
        f"generating {sizes.users:,} users, ~{sizes.users * sizes.avg_follows:,} follows, {sizes.posts:,} posts ..."
    ):
        network = synthetic_network(
            sizes.users, sizes.avg_follows, sizes.posts, seed=sizes.seed, products=sizes.products
        )
    followers = Counter(b for _, b in network.edges)
    threshold = Settings().feed_celebrity_followers  # as the variants' settings read it
    run.network = {
        "follows": len(network.edges),
        "max_followers": max(followers.values(), default=0),
        "celebrities": sum(1 for n in followers.values() if n > threshold),
        "likes": sum(len(p["likers"]) for p in network.posts),
        "comments": len(network.comments),
    }
    password = secrets.token_urlsafe(16)  # throwaway accounts on engines that are deleted after the run
    profiles = [p for p in ("embedded", "seed", "postgres-only", "cluster") if p in run.variants]
    if "naive" in run.variants and "embedded" not in profiles:
        profiles.insert(0, "embedded")
    for profile in profiles:
        with profile_settings(profile) as settings:
            asyncio.run(measure_variant(profile, settings, network, run, password))
    run.seconds = time.perf_counter() - started
    return run
