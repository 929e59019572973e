"""A PostgreSQL primary and a streaming replica built from the embedded binaries (pg_basebackup), with the replica's
replay held back (recovery_min_apply_delay): stale-ok reads go to the replica, yet a user always sees their own new
post and follow (read-your-writes); with the replica down, reads fall back to the primary with no error; the lag is
a metric. The postgres-only profile, so posts and follows live in the replicated database too."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from polysocial.api.app import create_app
from polysocial.bootstrap import App
from polysocial.config import EMBEDDED_DATABASE, Settings
from polysocial.engines.embedded import EmbeddedPostgres
from polysocial.engines.layout import EngineLayout
from tests.support.accounts import SignedUser, sign_up
from tests.support.apps import fresh_app

pytestmark = pytest.mark.slow

APPLY_DELAY_MS = 1500


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EmbeddedPostgres, EmbeddedPostgres]]:
    root: Path = tmp_path_factory.mktemp("replication")
    primary = EmbeddedPostgres(EngineLayout(root / "primary"))
    replica = EmbeddedPostgres(EngineLayout(root / "replica"), primary=primary, apply_delay_ms=APPLY_DELAY_MS)
    primary.up()
    try:
        replica.up()
        yield primary, replica
    finally:
        replica.down()
        primary.down()


@pytest.fixture
async def app(servers: tuple[EmbeddedPostgres, EmbeddedPostgres]) -> AsyncIterator[App]:
    primary, replica = servers
    replica.up()  # again, if a test stopped it
    url = primary.url
    settings = Settings(
        profile="postgres-only",
        relational_url=url,
        documents_url=url,
        graph_url=url,
        keyvalue_url=url,
        timeseries_url=url,
        sessions_url=url,
        relational_replica_urls=replica.layout.postgres_url(EMBEDDED_DATABASE),
    )
    async with fresh_app(settings, argon2_time_cost=1, argon2_memory_kib=64) as state:
        yield state


@pytest.fixture
async def client(app: App) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(app_state=app))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def replayed(seconds: float = APPLY_DELAY_MS / 1000 + 1.0) -> None:
    await asyncio.sleep(seconds)


async def posts_of(client: httpx.AsyncClient, author: SignedUser, reader: SignedUser) -> list[str]:
    response = await client.get(f"/users/{author.user_id}/posts", headers=reader.auth)
    assert response.status_code == 200, response.text
    return [p["id"] for p in response.json()["items"]]


async def following_of(client: httpx.AsyncClient, user: SignedUser, reader: SignedUser) -> list[int]:
    response = await client.get(f"/users/{user.user_id}/following", headers=reader.auth)
    assert response.status_code == 200, response.text
    return [u["user_id"] for u in response.json()["items"]]


async def test_a_user_sees_their_own_writes_while_others_read_the_lagging_replica(
    app: App, client: httpx.AsyncClient
) -> None:
    replicas = app.stores.replicas
    assert replicas is not None
    ada, bob = await sign_up(client, name="Ada"), await sign_up(client, name="Bob")
    await replayed()  # the replica has the accounts; nobody wrote since

    post = (await client.post("/posts", json={"text": "fresh"}, headers=ada.auth)).json()["id"]
    followed = await client.post(f"/users/{bob.user_id}/follow", headers=ada.auth)
    assert followed.status_code == 200, followed.text
    before = dict(replicas.reads)
    # Ada, who just wrote, reads the primary: her post and her follow are there at once
    assert await posts_of(client, ada, ada) == [post]
    assert await following_of(client, ada, ada) == [bob.user_id]
    assert replicas.reads["primary"] == before["primary"] + 2
    # Bob wrote nothing since the replica caught up with him: he reads the replica, which has not replayed them
    assert await posts_of(client, ada, bob) == []
    assert await following_of(client, ada, bob) == []
    assert replicas.reads["replica"] == before["replica"] + 2
    lags = await replicas.lags()
    assert len(lags) == 1
    assert lags[0].seconds is not None
    assert lags[0].seconds > 0  # it is holding a commit back
    await replayed()
    assert await posts_of(client, ada, bob) == [post]
    assert await following_of(client, ada, bob) == [bob.user_id]
    reads = replicas.reads["replica"]
    await app.services.shop.customer_report(days=1, min_orders=0)  # a report may be a little stale: a replica
    assert replicas.reads["replica"] == reads + 1
    # every signed-in request touches its session (a commit), so the replica stays about one delay behind
    lag = (await replicas.lags())[0].seconds
    assert lag is not None
    assert 0 <= lag < APPLY_DELAY_MS / 1000 + 2


async def test_a_write_taken_by_one_process_is_read_your_writes_in_another(
    app: App, servers: tuple[EmbeddedPostgres, EmbeddedPostgres]
) -> None:
    """Two processes behind a proxy: the write reaches one, the writer's next read the other."""
    async with fresh_app(app.settings, argon2_time_cost=1, argon2_memory_kib=64) as other:
        first = httpx.ASGITransport(app=create_app(app_state=app))
        second = httpx.ASGITransport(app=create_app(app_state=other))
        async with (
            httpx.AsyncClient(transport=first, base_url="http://one") as one,
            httpx.AsyncClient(transport=second, base_url="http://two") as two,
        ):
            ada = await sign_up(one, name="Ada")
            await replayed()
            post = (await one.post("/posts", json={"text": "fresh"}, headers=ada.auth)).json()["id"]
            assert other.stores.replicas is not None
            before = dict(other.stores.replicas.reads)
            assert await posts_of(two, ada, ada) == [post]  # the other process knows where her write is
            assert other.stores.replicas.reads["primary"] == before["primary"] + 1


async def test_with_the_replica_down_reads_fall_back_to_the_primary_without_errors(
    app: App, client: httpx.AsyncClient, servers: tuple[EmbeddedPostgres, EmbeddedPostgres]
) -> None:
    replicas = app.stores.replicas
    assert replicas is not None
    ada, bob = await sign_up(client, name="Ada"), await sign_up(client, name="Bob")
    post = (await client.post("/posts", json={"text": "before"}, headers=ada.auth)).json()["id"]
    await replayed()
    assert await posts_of(client, ada, bob) == [post]  # from the replica
    servers[1].down()
    started = time.monotonic()
    for _ in range(10):
        assert await posts_of(client, ada, bob) == [post]
        assert await following_of(client, ada, bob) == []
        profile = await client.get(f"/users/{ada.user_id}", headers=bob.auth)
        assert profile.status_code == 200, profile.text
    assert time.monotonic() - started < 10  # never a long wait on the dead replica
    assert replicas.reads["primary"] >= 20
    metrics = (await client.get("/metrics")).text
    assert 'polysocial_replica_lag_seconds{replica="' in metrics
    [lag] = [line for line in metrics.splitlines() if line.startswith("polysocial_replica_lag_seconds{")]
    assert lag.endswith(" -1.0")
