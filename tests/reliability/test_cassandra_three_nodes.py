"""Sessions on a real three-node Cassandra cluster (replication factor 3), with a node SIGKILLed and restarted: the
article's AP claim ("write succeeds even if some nodes are down") and the levels domain/consistency.py chose.

Every JVM started here is stopped by its process at the end of the module, whatever happened (running_cassandra).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from polysocial.api.app import create_app
from polysocial.bench.sessions import wait_marked_down
from polysocial.bootstrap import App
from polysocial.config import Role, Settings, StoreURL
from polysocial.domain.errors import StoreUnavailable
from polysocial.engines import seed_stack
from polysocial.engines.cassandra import CassandraCluster, running_cassandra
from polysocial.engines.process import wait_until
from polysocial.services.sessions import token_hash
from polysocial.stores.breaker import StoreOptions
from polysocial.stores.sessions.cassandra import CassandraSessionStore
from tests.conftest import seed_stack_required
from tests.support.apps import fresh_app

pytestmark = [pytest.mark.seed_stack, pytest.mark.timeout(180)]

PASSWORD = "correct horse battery staple"
# Cassandra recomputes each table's speculative-retry threshold every read_request_timeout (5 s); until its first
# recomputation after the table is created, a coordinator asks another replica only after half that timeout (2.5 s,
# seen in a query trace: "speculating read retry" at 2,500 ms with a node just killed). The test kills a node within a
# second of signing in, so the tables are created here, and given one recomputation, before it starts.
SPECULATION_RECOMPUTED_S = 5.5


def sessions_url(cluster: CassandraCluster) -> str:
    """Sessions on the three nodes, replication factor 3."""
    return cluster.url.rsplit("/", 1)[0] + "/three?replication_factor=3"


async def create_tables(url: str) -> None:
    store = CassandraSessionStore(StoreURL(Role.SESSIONS, url), StoreOptions(connect_s=5, command_s=3))
    await store.open()
    await store.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CassandraCluster]:
    missing = seed_stack.missing_tools().get("cassandra")
    if missing:
        if seed_stack_required():
            pytest.fail(f"Cassandra cannot run here: {missing} (POLYSOCIAL_REQUIRE_SEED_STACK=1)")
        pytest.skip(f"Cassandra cannot run here: {missing}")
    with running_cassandra(3, tmp_path_factory.mktemp("cassandra3")) as started:
        asyncio.run(create_tables(sessions_url(started)))
        time.sleep(SPECULATION_RECOMPUTED_S)
        yield started


@pytest.fixture
def app_settings(embedded_settings: Settings, cluster: CassandraCluster) -> Settings:
    # The embedded engines for everything else; sessions on the three nodes.
    return embedded_settings.model_copy(
        update={"sessions_url": SecretStr(sessions_url(cluster)), "command_timeout_s": 3.0}
    )


@pytest.fixture
async def client(app_settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, App]]:
    async with fresh_app(app_settings, argon2_time_cost=1, argon2_memory_kib=64) as app:
        api = create_app(app_state=app)
        transport = httpx.ASGITransport(app=api, client=("203.0.113.9", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http, app


async def sign_up_and_in(http: httpx.AsyncClient, email: str) -> tuple[int, str]:
    body = {"email": email, "password": PASSWORD, "name": email.split("@")[0], "birthdate": "1990-01-01"}
    response = await http.post("/auth/register", json=body)
    assert response.status_code == 201, response.text
    return response.json()["user_id"], await sign_in(http, email)


async def sign_in(http: httpx.AsyncClient, email: str) -> str:
    response = await http.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def me(http: httpx.AsyncClient, token: str) -> int:
    return (await http.get("/users/me", headers={"Authorization": f"Bearer {token}"})).status_code


def pinned(settings: Settings, address: str) -> CassandraSessionStore:
    """The sessions adapter with ``address`` as its only coordinator."""
    return CassandraSessionStore(
        settings.store_url(Role.SESSIONS), StoreOptions(connect_s=5, command_s=3), coordinators=[address]
    )


async def test_sessions_keep_working_with_a_node_down_and_no_revocation_is_undone(
    client: tuple[httpx.AsyncClient, App], app_settings: Settings, cluster: CassandraCluster, tmp_path: Path
) -> None:
    http, app = client
    _alice, alice_token = await sign_up_and_in(http, "alice@example.com")
    _bob, bob_token = await sign_up_and_in(http, "bob@example.com")
    bob_phone = await sign_in(http, "bob@example.com")
    alice_laptop = await sign_in(http, "alice@example.com")
    assert [await me(http, t) for t in (alice_token, bob_token, bob_phone, alice_laptop)] == [200] * 4

    victim = cluster.nodes[2]
    victim.kill()

    # At once, before the others notice: sign-in (ONE), requests (ONE + a QUORUM check) and logout (QUORUM) work.
    carol, carol_token = await sign_up_and_in(http, "carol@example.com")
    assert await me(http, carol_token) == 200
    assert await me(http, alice_token) == 200
    logout = await http.post("/auth/logout", headers={"Authorization": f"Bearer {alice_token}"})
    assert logout.status_code == 204, logout.text
    everywhere = await http.post("/auth/logout-all", headers={"Authorization": f"Bearer {bob_token}"})
    assert everywhere.status_code == 204, everywhere.text
    assert await me(http, alice_token) == 401
    assert [await me(http, t) for t in (bob_token, bob_phone)] == [401, 401]
    assert await me(http, alice_laptop) == 200  # alice's other session lives

    # ALL needs every replica: refused as Unavailable once the live nodes have marked the dead one down.
    store = app.stores.sessions
    assert isinstance(store, CassandraSessionStore)
    marked_down_s = await wait_marked_down(store)
    print(f"ALL refused as Unavailable {marked_down_s:.1f} s after the first try with the node SIGKILLed")
    dave, dave_token = await sign_up_and_in(http, "dave@example.com")  # written while the node is away
    assert await me(http, dave_token) == 200

    victim.start()
    victim.wait_ready()
    # Straight away, through each node as the coordinator (the restarted one may not have its hints yet): the
    # revoked tokens are refused, the live ones accepted.
    for node in cluster.nodes:
        coordinator = pinned(app_settings, node.address)
        await coordinator.open()
        try:
            policy = app.services.sessions.policy
            for token, alive in ((alice_token, False), (bob_token, False), (bob_phone, False), (dave_token, True)):
                found = await coordinator.read(token_hash(token), idle_s=policy.idle_s, absolute_s=policy.absolute_s)
                assert (found is not None) == alive, (node.address, token[:6], found)
        finally:
            await coordinator.close()

    # The restarted node holds what was written while it was away (hinted handoff): with the other two killed,
    # it alone answers reads at ONE, and sign-in still works at ONE.
    hashes = [token_hash(t) for t in (carol_token, dave_token)]
    only = pinned(app_settings, victim.address)
    await only.open()
    try:
        # The others flush hints for the absent node to files within a second, and delete each file once it is
        # delivered: none left (well after the last write while it was away) means the node has them all.
        hint_files = [f for node in cluster.nodes[:2] for f in (node.home / "hints").glob("*.hints")]
        delivered = await asyncio.to_thread(
            wait_until, lambda: not any(f.exists() for f in hint_files), timeout_s=60, interval_s=0.5
        )
        assert delivered, "hints not delivered within 60 s: " + ", ".join(f.name for f in hint_files if f.exists())
        print(f"{len(hint_files)} hint files delivered to the restarted node")
        for node in cluster.nodes[:2]:
            node.kill()
        # Until it marks them down, the node may ask a dead replica first and time out: retried for a while.
        deadline = time.monotonic() + 60
        while True:
            try:
                rows = await only.execute(
                    f"SELECT token_hash, user_id FROM {only.keyspace}.user_sessions WHERE token_hash IN (%s, %s)",
                    hashes,
                    level="ONE",
                )
                break
            except StoreUnavailable:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(1)
        assert {r[0]: r[1] for r in rows} == {hashes[0]: carol, hashes[1]: dave}
    finally:
        await only.close()

    # Two of three down: sign-in still works (ONE), but no request can rule out a revocation (QUORUM): a fast 503
    # that names the role, not a 500 and not a session accepted unchecked.
    erin_token = await sign_in(http, "carol@example.com")
    started = time.monotonic()
    refused = await http.get("/users/me", headers={"Authorization": f"Bearer {erin_token}"})
    assert refused.status_code == 503, refused.text
    assert "sessions" in refused.json()["detail"]
    assert time.monotonic() - started < 5
