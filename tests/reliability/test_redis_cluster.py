"""The key-value role on a Redis Cluster (3 masters, 3 replicas): a master SIGKILLed under load. Its replica is
promoted; until then the feed answers from the sources of truth (marked degraded) and sessions from their PostgreSQL
copies; never a 500; and requests are served from the cluster again within seconds (the time is printed)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from polysocial.api.app import create_app
from polysocial.api.routes.feed import DEGRADED_HEADER
from polysocial.bootstrap import App
from polysocial.config import Role
from polysocial.engines.embedded import EmbeddedEngines
from polysocial.engines.process import wait_until
from polysocial.engines.redis_cluster import RedisClusterNodes
from polysocial.stores.keyvalue.protocol import TimelineKind
from polysocial.stores.keyvalue.timelines import timeline_key
from tests.conftest import isolated_settings
from tests.support.accounts import SignedUser, sign_up
from tests.support.apps import fresh_app

pytestmark = pytest.mark.slow

READERS = 12
CLIENTS = 8
BEFORE_KILL_S = 2.0
AFTER_KILL_S = 15.0


@pytest.fixture
async def app(embedded_engines: EmbeddedEngines, redis_cluster: RedisClusterNodes) -> AsyncIterator[App]:
    settings = isolated_settings(embedded_engines, "cluster")
    graph = settings.store_url(Role.GRAPH).url
    settings = settings.model_copy(update={"keyvalue_url": SecretStr(redis_cluster.url), "graph_url": SecretStr(graph)})
    async with fresh_app(settings, argon2_time_cost=1, argon2_memory_kib=64) as state:
        yield state


async def test_a_master_killed_under_load_fails_over_with_no_500(app: App, redis_cluster: RedisClusterNodes) -> None:
    transport = httpx.ASGITransport(app=create_app(app_state=app))
    async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=30) as client:
        users: list[SignedUser] = [await sign_up(client, name=f"R{i}") for i in range(READERS)]
        for reader in users:
            for author in random.Random(reader.user_id).sample(users, 4):
                if author is not reader:
                    await client.post(f"/users/{author.user_id}/follow", headers=reader.auth)
        for author in users:
            await client.post("/posts", json={"text": f"by {author.user_id}"}, headers=author.auth)
        await app.relay.drain()

        seen: list[tuple[float, int, bool]] = []  # (when, status, degraded)
        stop = asyncio.Event()

        async def read(n: int) -> None:
            rng = random.Random(n)
            while not stop.is_set():
                reader = rng.choice(users)
                response = await client.get("/feed", headers=reader.auth)
                seen.append((time.monotonic(), response.status_code, DEGRADED_HEADER in response.headers))

        readers = [asyncio.create_task(read(n)) for n in range(CLIENTS)]
        await asyncio.sleep(BEFORE_KILL_S)
        victim = redis_cluster.master_of(timeline_key(TimelineKind.HOME, users[0].user_id))
        killed_at = time.monotonic()
        redis_cluster.kill(victim)
        await asyncio.sleep(AFTER_KILL_S)
        stop.set()
        await asyncio.gather(*readers)

    try:
        statuses = {status for _, status, _ in seen}
        assert statuses <= {200, 503}, statuses  # never a 500
        before = [s for t, s, d in seen if t < killed_at]
        assert before
        assert all(s == 200 for s in before)
        # recovered: from some moment on, every answer is a 200 from the cluster (not degraded) to the end
        after = [(t, s, d) for t, s, d in seen if t >= killed_at]
        bad = [t for t, s, d in after if s != 200 or d]
        recovered_at = max(bad, default=killed_at)
        healthy_tail = [x for x in after if x[0] > recovered_at]
        assert len(healthy_tail) >= 20, "the feed was not served from the cluster again before the end"
        seconds = recovered_at - killed_at
        print(
            f"\nRedis Cluster failover: a master SIGKILLed; served from the cluster again after {seconds:.1f} s; "
            f"{len(after)} requests after the kill: {sum(1 for _, s, d in after if s == 200 and not d)} normal, "
            f"{sum(1 for _, s, d in after if s == 200 and d)} degraded, {sum(1 for _, s, _ in after if s == 503)} 503"
        )
        assert seconds < AFTER_KILL_S - 2
    finally:
        redis_cluster.restart(victim)  # back as a replica: the cluster is whole again for the tests after this one
        assert await asyncio.to_thread(wait_until, redis_cluster.healthy, timeout_s=30)
