"""The relay's delivery guarantees on real stores: retries with backoff, dead letters, order per aggregate under
concurrent relays, document events, and the relay running inside `serve` and as `polysocial worker`."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections import defaultdict
from collections.abc import Sequence

import httpx

from polysocial.bootstrap import App, bootstrap
from polysocial.config import Role, Settings
from polysocial.domain.events import Event, user_registered
from polysocial.engines.embedded import EmbeddedEngines
from polysocial.events.handlers import Handler
from polysocial.events.relay import Relay, RelayConfig
from polysocial.events.retry import RetryPolicy
from polysocial.stores.graph.falkordb import FalkorGraphStore
from tests.conftest import isolated_settings
from tests.support.accounts import registration
from tests.support.apps import relay_for
from tests.support.cli import run_cli

FAST = RetryPolicy(max_attempts=3, base_s=0.01, max_s=0.05)
DOCS = ("relay_docs",)


async def run_until(relay: Relay, done: object, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not await done():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await relay.run_once()
        await asyncio.sleep(0.02)


def event(aggregate: str, n: int) -> Event:
    return Event("test", aggregate, "Counted", {"n": n})


async def test_a_failing_handler_is_retried_then_dead_lettered_with_its_error(app: App) -> None:
    calls = 0

    async def always_fails(_: Event) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("the projection store said no")

    relay = relay_for(app, [Handler("test.fails", frozenset({"Counted"}), always_fails)], retry=FAST, collections=DOCS)
    async with app.stores.relational.transaction() as tx:
        await tx.outbox.add([event("a", 1)])

    async def dead() -> bool:
        return (await app.stores.relational.outbox_stats()).dead_letters == 1

    await run_until(relay, dead)
    assert calls == FAST.max_attempts
    (letter,) = await app.stores.relational.dead_letters()
    assert letter.attempts == FAST.max_attempts
    assert letter.source == "outbox"
    assert "the projection store said no" in letter.error
    assert (await app.stores.relational.outbox_stats()).pending == 0


async def test_a_transient_failure_is_retried_until_it_succeeds(app: App) -> None:
    outcomes = iter([RuntimeError("blip"), RuntimeError("blip"), None])
    delivered: list[int] = []

    async def flaky(e: Event) -> None:
        outcome = next(outcomes)
        if outcome is not None:
            raise outcome
        delivered.append(e.payload["n"])

    relay = relay_for(app, [Handler("test.flaky", frozenset({"Counted"}), flaky)], retry=FAST, collections=DOCS)
    async with app.stores.relational.transaction() as tx:
        await tx.outbox.add([event("a", 1)])

    async def empty() -> bool:
        return (await app.stores.relational.outbox_stats()).pending == 0

    await run_until(relay, empty)
    assert delivered == [1]
    assert (await app.stores.relational.outbox_stats()).dead_letters == 0


async def test_order_per_aggregate_holds_with_three_relays_at_once(app: App) -> None:
    seen: dict[str, list[int]] = defaultdict(list)

    async def record(e: Event) -> None:
        await asyncio.sleep(0.001)
        seen[e.aggregate_id].append(e.payload["n"])

    handlers = [Handler("test.order", frozenset({"Counted"}), record)]
    async with app.stores.relational.transaction() as tx:
        await tx.outbox.add([event(f"agg{a}", n) for n in range(20) for a in range(5)])
    relays = [relay_for(app, handlers, config=RelayConfig(batch_size=7)) for _ in range(3)]
    await asyncio.gather(*(r.drain() for r in relays))
    assert dict(seen) == {f"agg{a}": list(range(20)) for a in range(5)}


async def test_document_events_go_out_in_order_and_failures_reach_the_dead_letters(app: App) -> None:
    seen: list[int] = []

    async def record(e: Event) -> None:
        if e.payload["n"] == 99:
            raise ValueError("poison")
        seen.append(e.payload["n"])

    relay = relay_for(app, [Handler("test.docs", frozenset({"Counted"}), record)], retry=FAST, collections=DOCS)
    await app.stores.documents.insert("relay_docs", "d1", {"v": 1}, [event("d1", 1)])
    await app.stores.documents.update("relay_docs", "d1", {"v": 2}, [event("d1", 2), event("d1", 99), event("d1", 3)])

    async def empty() -> bool:
        return await app.stores.documents.pending_count(["relay_docs"]) == 0

    await run_until(relay, empty)
    assert seen == [1, 2, 3]
    (letter,) = await app.stores.relational.dead_letters()
    assert (letter.source, letter.event.payload["n"]) == ("documents:relay_docs", 99)


async def test_serve_runs_the_relay_so_a_sign_up_reaches_the_graph(
    embedded_server: str, live_settings: Settings
) -> None:
    live = await bootstrap(live_settings)
    try:
        started = time.perf_counter()
        async with httpx.AsyncClient(base_url=embedded_server) as client:
            created = await client.post("/auth/register", json=registration())
        assert created.status_code == 201
        user_id = created.json()["user_id"]
        while await live.stores.graph.missing_users([user_id]):
            assert time.perf_counter() - started < 5, "the in-process relay did not deliver"
            await asyncio.sleep(0.01)
    finally:
        await live.aclose()


async def test_polysocial_worker_delivers_on_its_own(embedded_engines: EmbeddedEngines) -> None:
    settings = isolated_settings(embedded_engines, "worker")
    app = await bootstrap(settings)
    await app.stores.wipe()
    async with app.stores.relational.transaction() as tx:
        await tx.outbox.add([user_registered(424242, "Worker")])
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYSOCIAL_")}
    for role in Role:
        env[f"POLYSOCIAL_{role.value.upper()}_URL"] = settings.store_url(role).url
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "polysocial",
        "worker",
        "--progress-every",
        "1",
        env={**env, "COLUMNS": "200"},
        stdout=asyncio.subprocess.PIPE,
    )
    assert worker.stdout is not None
    try:
        deadline = time.monotonic() + 20
        while await app.stores.graph.missing_users([424242]):
            assert time.monotonic() < deadline, "the worker did not deliver"
            assert worker.returncode is None, "the worker exited"
            await asyncio.sleep(0.05)
        # and it says so: a progress line with what it delivered and the outbox's state
        lines: list[str] = []
        while not any(line.startswith("delivered 1 events") for line in lines):
            line = await asyncio.wait_for(worker.stdout.readline(), timeout=10)
            assert line, f"the worker's output ended: {lines}"
            lines.append(line.decode().strip())
        progress = next(line for line in lines if line.startswith("delivered 1 events"))
        assert "(1 in all); outbox: 0 pending" in progress, progress
    finally:
        worker.terminate()
        exit_code = await asyncio.wait_for(worker.wait(), timeout=20)
        await app.aclose()
    assert exit_code == 0  # a clean stop on SIGTERM


async def test_reconcile_finds_and_repairs_users_missing_from_the_graph(engines_dir: object, app: App) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(
            app=__import__("polysocial.api.app", fromlist=["create_app"]).create_app(app_state=app)
        ),
        base_url="http://test",
    ) as client:
        ids = [(await client.post("/auth/register", json=registration())).json()["user_id"] for _ in range(3)]
    await app.relay.drain()
    graph = app.stores.graph
    assert isinstance(graph, FalkorGraphStore)
    await graph.graph.query("MATCH (u:User {id: $id}) DETACH DELETE u", {"id": ids[1]})  # behind the system's back
    assert await graph.missing_users(ids) == [ids[1]]

    env = {"POLYSOCIAL_DATA_DIR": str(engines_dir)}
    dry = run_cli("reconcile", "--dry-run", env=env)
    assert dry.returncode == 1, dry.stdout + dry.stderr
    assert str(ids[1]) in dry.stdout
    assert await graph.missing_users(ids) == [ids[1]]
    fixed = run_cli("reconcile", env=env)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert await graph.missing_users(ids) == []


async def test_one_poison_event_in_a_batch_holds_back_no_other_aggregate(app: App) -> None:
    batches: list[int] = []
    delivered: list[str] = []

    async def one(e: Event) -> None:
        if e.aggregate_id == "poison":
            raise ValueError("cannot project this")
        delivered.append(e.aggregate_id)

    async def many(events: Sequence[Event]) -> None:
        batches.append(len(events))
        for e in events:
            if e.aggregate_id == "poison":
                raise ValueError("cannot project this")
        delivered.extend(e.aggregate_id for e in events)

    relay = relay_for(app, [Handler("test.batch", frozenset({"Counted"}), one, many)], retry=FAST, collections=DOCS)
    async with app.stores.relational.transaction() as tx:
        await tx.outbox.add([event(f"a{i}", 0) for i in range(10)] + [event("poison", 0)])

    async def settled() -> bool:
        stats = await app.stores.relational.outbox_stats()
        return stats.pending == 0 and stats.dead_letters == 1

    await run_until(relay, settled)
    assert sorted(delivered) == sorted(f"a{i}" for i in range(10))  # each exactly once
    assert batches[0] == 11  # the first try took all of them in one call


async def test_a_handler_idempotent_by_construction_is_not_tracked_and_a_tracked_one_is(app: App) -> None:
    """graph.user_node is an upsert (tracked=False): the relay spends no round trips recording it. A handler that
    is not idempotent by construction is recorded, so a redelivery skips it."""
    applied: list[int] = []

    async def count(e: Event) -> None:
        applied.append(e.payload["n"])

    tracked = Handler("test.tracked", frozenset({"Counted"}), count)
    relay = relay_for(app, [*app.relay.handlers, tracked])
    registered = user_registered(777, "Untracked")
    counted = event("t", 1)
    async with app.stores.relational.transaction() as tx:
        await tx.outbox.add([registered, counted])
    await relay.drain()
    assert not await app.stores.graph.missing_users([777])
    assert await app.stores.relational.processed("graph.user_node", [registered.event_id]) == set()
    assert await app.stores.relational.processed("test.tracked", [counted.event_id]) == {counted.event_id}
    # A redelivery (a crash before the outbox row was marked done) applies the tracked handler once, not twice.
    assert await relay.deliver_many([counted]) == {}
    assert applied == [1]
