"""Chaos: `polysocial serve` in a child process on embedded engines of its own, under concurrent load, while the test
SIGKILLs the server or an engine.

- the server, three times during transfers: money is conserved and every transfer answered 2xx is applied exactly
  once (clients retry with the same Idempotency-Key, as a real client would);
- Redis (which holds the graph too), then PostgreSQL: no 500, every request ends (2xx or 503 naming a role) within
  1.5 s, and once the engine is back the same server answers 2xx again, without a restart;
- afterwards `reconcile` finds no drift.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

import httpx
import pytest

from polysocial.config import Settings
from polysocial.engines.embedded import EmbeddedEngines
from tests.support.accounts import registration
from tests.support.cli import run_cli
from tests.support.server import Server

pytestmark = pytest.mark.slow

ANSWER_WITHIN_S = 1.5  # a request that needs a dead role: 503 by then
BACK_WITHIN_S = 15.0  # after the engine restarts: 2xx again by then (breaker probe + pool reconnect)
USERS = 12
DEPOSIT = Decimal("100.00")


@dataclass
class World:
    engines: EmbeddedEngines
    server: Server
    tokens: dict[int, str] = field(default_factory=dict)  # user id -> bearer token

    def auth(self, user: int) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("chaos")
    engines = EmbeddedEngines(Settings(data_dir=folder / "data"))
    engines.up()
    server = Server(folder / "data", folder / "serve.log")
    try:
        server.start()
        world = World(engines, server)
        with httpx.Client(base_url=server.base, timeout=30) as client:
            for _ in range(USERS):
                body = registration()
                created = client.post("/auth/register", json=body)
                assert created.status_code == 201, created.text
                login = client.post("/auth/login", json={"email": body["email"], "password": body["password"]})
                token = login.json()["access_token"]
                user = created.json()["user_id"]
                world.tokens[user] = token
                deposit = client.post("/wallet/deposits", json={"amount": str(DEPOSIT)}, headers=world.auth(user))
                assert deposit.status_code == 201, deposit.text
        yield world
    finally:
        server.stop()
        engines.down()


# -- SIGKILL the server during transfers ----------------------------------------------------------------------------


@dataclass
class Transfers:
    """Every transfer a client asked for, by Idempotency-Key, and whether it was finally answered 2xx."""

    answered: dict[str, int] = field(default_factory=dict)  # key -> final status
    retried: int = 0

    async def client(self, world: World, sender: int, stop: asyncio.Event, seed: int) -> None:
        receivers = [u for u in world.tokens if u != sender]
        async with httpx.AsyncClient(base_url=world.server.base, timeout=10) as http:
            for n in itertools.count():
                if stop.is_set():
                    return
                key = str(uuid.uuid4())
                body = {"to_user_id": receivers[(n + seed) % len(receivers)], "amount": "0.01"}
                headers = {**world.auth(sender), "Idempotency-Key": key}
                self.answered[key] = await self._until_answered(http, body, headers)

    async def _until_answered(self, http: httpx.AsyncClient, body: dict[str, object], headers: dict[str, str]) -> int:
        """Send, and on a lost connection (the server died) or 409 in progress, send again with the same key."""
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                answer = await http.post("/transfers", json=body, headers=headers)
            except httpx.TransportError:
                self.retried += 1
                await asyncio.sleep(0.2)
                continue
            if (answer.status_code == 409 and "in progress" in answer.text) or answer.status_code == 503:
                self.retried += 1
                await asyncio.sleep(0.2)
                continue
            return answer.status_code
        raise AssertionError("a transfer got no final answer within 90 s")


def ledger(world: World, user: int) -> list[dict[str, object]]:
    entries: list[dict[str, object]] = []
    before = None
    with httpx.Client(base_url=world.server.base, timeout=30) as http:
        while True:
            params = {"limit": 100} | ({"before": before} if before else {})
            page = http.get("/wallet/ledger", params=params, headers=world.auth(user)).json()
            entries += page["items"]
            before = page["next_before"]
            if before is None:
                return entries


def test_money_survives_three_server_kills_during_transfers(world: World) -> None:
    transfers = Transfers()

    async def run() -> None:
        stop = asyncio.Event()
        clients = [
            asyncio.create_task(transfers.client(world, sender, stop, seed)) for seed, sender in enumerate(world.tokens)
        ]
        for _ in range(3):
            await asyncio.sleep(1.5)
            await asyncio.to_thread(world.server.kill)
            await asyncio.to_thread(world.server.start)
        await asyncio.sleep(1.0)
        stop.set()
        await asyncio.gather(*clients)

    asyncio.run(run())
    assert transfers.retried > 0  # the kills did hit requests in flight
    statuses = set(transfers.answered.values())
    assert statuses <= {201, 409}, statuses  # 409: not enough money left, refused whole
    paid = sum(1 for s in transfers.answered.values() if s == 201)
    entries = [e for user in world.tokens for e in ledger(world, user)]
    sent = [e for e in entries if Decimal(str(e["amount"])) == Decimal("-0.01")]
    received = [e for e in entries if Decimal(str(e["amount"])) == Decimal("0.01")]
    assert len(sent) == len(received) == paid  # every 2xx exactly once, nothing else
    total = sum(Decimal(str(e["amount"])) for e in entries)
    assert total == DEPOSIT * USERS  # money conserved to the cent


# -- SIGKILL an engine under load -----------------------------------------------------------------------------------


@dataclass
class Outcome:
    path: str
    status: int
    seconds: float
    role: str | None = None


READS = ("/feed?limit=20", "/wallet", "/users/me", "/users/me/suggestions", "/trending")


async def load(world: World, stop: asyncio.Event, outcomes: list[Outcome], clients: int = 8) -> None:
    users = list(world.tokens)

    async def one(n: int) -> None:
        async with httpx.AsyncClient(base_url=world.server.base, timeout=10) as http:
            for i in itertools.count(n):
                if stop.is_set():
                    return
                path = READS[i % len(READS)]
                started = time.monotonic()
                answer = await http.get(path, headers=world.auth(users[i % len(users)]))
                role = answer.json().get("role") if answer.status_code == 503 else None
                outcomes.append(Outcome(path, answer.status_code, time.monotonic() - started, role))

    await asyncio.gather(*(one(n) for n in range(clients)))


def report(engine: str, outcomes: list[Outcome]) -> None:
    """The figures the README quotes (run with -s to see them)."""
    refused = sorted(o.seconds * 1000 for o in outcomes if o.status == 503)
    served = sorted(o.seconds * 1000 for o in outcomes if o.status == 200)
    if refused:
        p50, p99 = refused[len(refused) // 2], refused[min(len(refused) - 1, int(len(refused) * 0.99))]
        print(
            f"\n{engine} killed: {len(outcomes)} requests, {len(refused)} answered 503 (p50 {p50:.1f} ms, p99 {p99:.1f}"
            f" ms, max {refused[-1]:.1f} ms), {len(served)} answered 200 (max {max(served, default=0):.1f} ms)"
        )


def kill_engine(pid: int | None) -> None:
    assert pid is not None
    os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize(
    ("engine", "roles", "still_served"),
    [
        ("redis", {"graph", "keyvalue"}, "/users/me"),  # the session's PostgreSQL copy, the account
        ("postgres", {"relational", "documents", "timeseries"}, "/feed?limit=20"),  # sessions and timelines
    ],
)
def test_an_engine_killed_under_load_gives_fast_503s_and_service_comes_back_without_a_restart(
    world: World, engine: str, roles: set[str], still_served: str
) -> None:
    during: list[Outcome] = []
    after: list[Outcome] = []

    async def run() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(load(world, stop, during))
        await asyncio.sleep(1.0)
        kill_engine(getattr(world.engines, engine).pid())
        await asyncio.sleep(4.0)
        stop.set()
        await task
        await asyncio.to_thread(world.engines.up)  # the engine comes back; the server is not restarted
        restarted = time.monotonic()
        deadline = restarted + BACK_WITHIN_S
        while time.monotonic() < deadline:
            batch: list[Outcome] = []
            stop = asyncio.Event()
            task = asyncio.create_task(load(world, stop, batch, clients=2))
            await asyncio.sleep(0.5)
            stop.set()
            await task
            if batch and all(o.status == 200 for o in batch[-len(READS) :]):
                after.extend(batch)
                print(f"{engine} back: every read 200 again {time.monotonic() - restarted:.1f} s after its restart")
                return
        after.extend(batch)

    asyncio.run(run())
    assert during, "no request was made"
    report(engine, during)
    assert not [o for o in during if o.status >= 500 and o.status != 503], "a 5xx other than 503"
    slow = [o for o in during if o.seconds > ANSWER_WITHIN_S]
    assert not slow, f"{len(slow)} requests took longer than {ANSWER_WITHIN_S} s: {slow[:5]}"
    refused = [o for o in during if o.status == 503]
    assert refused, "the outage was not seen"
    assert {o.role for o in refused} <= roles, {o.role for o in refused}
    assert [o for o in during[len(during) // 2 :] if o.status == 200 and o.path == still_served], still_served
    assert after, "no request after the restart"
    assert all(o.status == 200 for o in after[-len(READS) :]), after[-len(READS) :]


def test_reconcile_finds_no_drift_afterwards(world: World) -> None:
    world.server.stop()  # reconcile and the server's relay would race for the same outbox
    try:
        env = {"POLYSOCIAL_DATA_DIR": str(world.engines.layout.data_dir)}
        result = run_cli("reconcile", "--dry-run", env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "dry run" in result.stdout.lower()
        assert "drift: 0" in result.stdout.lower(), result.stdout
    finally:
        world.server.start()
