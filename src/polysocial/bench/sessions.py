"""`python -m polysocial.bench.sessions`: the sessions role on each of its engines, the article's Cassandra included.

Per user: one sign-in (a new session: the service's ``open``, with the PostgreSQL copy where sessions live in Redis),
then 20 authenticated requests' session checks (``resolve``: read, idle timer, revocation check), ``--clients``
users at a time. Password hashing is left out: it costs the same on every engine. Variants:

- ``redis``: the embedded Redis (the `embedded` profile), with its PostgreSQL copy written at sign-in;
- ``postgres``: the `postgres-only` profile's table;
- ``cassandra x1``: one Cassandra node (the seed stack's), replication factor 1;
- ``cassandra x3, one down``: three nodes, replication factor 3, one SIGKILLed and marked down by the others:
  sign-in at ONE, checks at ONE plus the revocation check at QUORUM.

Writes benchmarks/sessions.md and its section of BENCHMARKS.md (kept by `polysocial bench`).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import cassandra
import cassandra.cluster
import cassandra.query
from pydantic import SecretStr

from polysocial.bench.recovery import splice
from polysocial.bootstrap import App, bootstrap
from polysocial.config import Settings
from polysocial.domain.accounts import UserRole
from polysocial.engines.cassandra import CassandraCluster
from polysocial.engines.embedded import EmbeddedEngines
from polysocial.stores.sessions.cassandra import CassandraSessionStore

BEGIN, END = "<!-- sessions: written by python -m polysocial.bench.sessions -->", "<!-- /sessions -->"
CHECKS = 20


@dataclass(frozen=True, slots=True)
class Figures:
    variant: str
    sign_in_p50_ms: float
    sign_in_p99_ms: float
    check_p50_ms: float
    check_p99_ms: float
    ops_per_s: float


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(app: App, variant: str, users: int, clients: int) -> Figures:
    ids = await app.stores.relational.bulk_load_accounts(
        [(f"s{i}@bench.example", f"user {i}") for i in range(users)],
        password_hash=await app.services.operations.passwords.hash(secrets.token_urlsafe(16)),
        birthdate=date(1990, 1, 1),
        deposits=[Decimal(1)] * users,
    )
    sessions = app.services.sessions
    sign_ins: list[float] = []
    checks: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for user in ids:
        queue.put_nowait(user)

    async def client() -> None:
        while not queue.empty():
            user = queue.get_nowait()
            t = time.perf_counter()
            token = await sessions.open(user, UserRole.USER)
            sign_ins.append((time.perf_counter() - t) * 1000)
            for _ in range(CHECKS):
                t = time.perf_counter()
                found = await sessions.resolve(token)
                checks.append((time.perf_counter() - t) * 1000)
                if found is None or found.user_id != user:
                    raise RuntimeError(f"{variant}: a session was not found right after its sign-in")

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    seconds = time.perf_counter() - started
    return Figures(
        variant,
        statistics.median(sign_ins),
        percentile(sign_ins, 0.99),
        statistics.median(checks),
        percentile(checks, 0.99),
        (len(sign_ins) + len(checks)) / seconds,
    )


@asynccontextmanager
async def app_on(settings: Settings) -> AsyncIterator[App]:
    app = await bootstrap(settings)
    try:
        await app.stores.wipe()
        yield app
    finally:
        await app.aclose()


async def wait_marked_down(store: CassandraSessionStore, timeout_s: float = 90) -> float:
    """Seconds until the live nodes have marked a killed one down (a read at ALL is refused as Unavailable; before
    that it times out waiting for the dead replica). On the driver directly: the adapter's circuit breaker would
    count those timeouts against the role."""
    probe = cassandra.query.SimpleStatement(
        f"SELECT token_hash FROM {store.keyspace}.user_sessions WHERE token_hash = 'x'",  # noqa: S608
        consistency_level=cassandra.ConsistencyLevel.ALL,
    )
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        try:
            await asyncio.to_thread(store.session.execute, probe, timeout=2.0)
        except cassandra.cluster.NoHostAvailable as exc:
            if all(isinstance(e, cassandra.Unavailable) for e in exc.errors.values()):
                return time.monotonic() - started
        except cassandra.Unavailable:
            return time.monotonic() - started
        except (cassandra.ReadTimeout, cassandra.OperationTimedOut):
            pass  # not marked down yet: ALL waits for the dead replica and times out
        else:
            raise RuntimeError("a read at ALL succeeded with a node killed")
        await asyncio.sleep(0.5)
    raise RuntimeError("the killed node was never marked down")


async def run(users: int, clients: int, workdir: Path) -> list[Figures]:
    engines = EmbeddedEngines(Settings(data_dir=workdir / "engines"))
    engines.up(only_needed=False)
    base = Settings(data_dir=workdir / "engines")
    figures: list[Figures] = []
    try:
        async with app_on(base) as app:
            figures.append(await measure(app, "redis (embedded, with its PostgreSQL copy)", users, clients))
        async with app_on(Settings(profile="postgres-only", data_dir=workdir / "engines")) as app:
            figures.append(await measure(app, "postgres (postgres-only)", users, clients))
        one = CassandraCluster(workdir / "cassandra1", 1)
        await asyncio.to_thread(one.start)
        try:
            settings = base.model_copy(update={"sessions_url": SecretStr(one.url)})
            async with app_on(settings) as app:
                figures.append(await measure(app, "cassandra x1", users, clients))
        finally:
            await asyncio.to_thread(one.stop)
        three = CassandraCluster(workdir / "cassandra3", 3)
        await asyncio.to_thread(three.start)
        try:
            url = three.url.rsplit("/", 1)[0] + "/polysocial?replication_factor=3"
            settings = base.model_copy(update={"sessions_url": SecretStr(url)})
            async with app_on(settings) as app:
                await asyncio.to_thread(three.nodes[2].kill)
                store = app.stores.sessions
                assert isinstance(store, CassandraSessionStore)
                down_s = await wait_marked_down(store)
                print(f"the killed node was marked down after {down_s:.0f} s")
                figures.append(await measure(app, "cassandra x3, one down (RF 3)", users, clients))
        finally:
            await asyncio.to_thread(three.stop)
    finally:
        engines.down()
    return figures


def markdown(figures: list[Figures], users: int, clients: int) -> str:
    rows = [
        "## Sessions on each engine",
        "",
        f"`python -m polysocial.bench.sessions --users {users} --clients {clients}`: per user one sign-in (a new "
        f"session) and {CHECKS} session checks (what every authenticated request does), {clients} users at a time, "
        "through the sessions service (no HTTP, no password hashing). Cassandra: the sign-in at ONE, a check reads "
        "the session at ONE and the revocation records at QUORUM (domain/consistency.py). The three-node row has "
        "one node SIGKILLed and marked down by the others before it starts. All engines on the same 2 shared cores.",
        "",
        "| sessions on | sign-in p50 / p99 | check p50 / p99 | ops/s (sign-ins + checks) |",
        "|---|---|---|---|",
    ]
    for f in figures:
        rows.append(
            f"| {f.variant} | {f.sign_in_p50_ms:.2f} / {f.sign_in_p99_ms:.2f} ms | "
            f"{f.check_p50_ms:.2f} / {f.check_p99_ms:.2f} ms | {f.ops_per_s:,.0f} |"
        )
    return "\n".join(rows) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--output-dir", type=Path, default=Path("."))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="polysocial-sessions-") as workdir:
        figures = asyncio.run(run(args.users, args.clients, Path(workdir)))
    section = markdown(figures, args.users, args.clients)
    notes = args.output_dir / "benchmarks" / "sessions.md"
    notes.parent.mkdir(parents=True, exist_ok=True)
    notes.write_text(section)
    splice(args.output_dir / "BENCHMARKS.md", section, BEGIN, END)
    print(section)


if __name__ == "__main__":
    main()
