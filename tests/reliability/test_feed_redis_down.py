"""The feed when Redis goes away: answered from the sources of truth (the graph, the documents), marked degraded, no
5xx; and when Redis comes back empty, the timelines are rebuilt and the answers are the same.

The keyvalue role gets a Redis server of its own here (the seed stack's layout: the graph is elsewhere), started and
SIGKILLed by the test. In `embedded`, Redis and the graph share one server, so there the graph goes down with it.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from polysocial.api.app import create_app
from polysocial.api.routes.feed import DEGRADED_HEADER
from polysocial.bootstrap import App
from polysocial.config import Settings
from polysocial.engines.embedded import EmbeddedEngines
from polysocial.engines.process import wait_until
from polysocial.services.feed import REDIS_DOWN
from tests.conftest import isolated_settings
from tests.support.accounts import SignedUser, sign_up

pytestmark = pytest.mark.slow


class LoneRedis:
    """A plain redis-server on a unix socket, no persistence: killed, it comes back empty."""

    def __init__(self, folder: Path, server: Path) -> None:
        self.socket = folder / "redis.sock"
        self.server = server
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [str(self.server), "--port", "0", "--unixsocket", str(self.socket), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert wait_until(self._answers, timeout_s=10, interval_s=0.02)

    def _answers(self) -> bool:
        try:
            with redis.Redis(unix_socket_path=str(self.socket)) as client:
                return bool(client.ping())
        except (redis.RedisError, OSError):
            return False

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None
        self.socket.unlink(missing_ok=True)


@pytest.fixture
def lone_redis(tmp_path: Path, embedded_engines: EmbeddedEngines) -> Iterator[LoneRedis]:
    server = LoneRedis(tmp_path, embedded_engines.redis.server)
    server.start()
    yield server
    server.kill()


@pytest.fixture
def app_settings(embedded_engines: EmbeddedEngines, lone_redis: LoneRedis) -> Settings:
    base = isolated_settings(embedded_engines, "feed_redis_down")
    return Settings(**{**base.model_dump(), "keyvalue_url": lone_redis.url})  # validated again: a URL is secret


async def feed(client: httpx.AsyncClient, user: SignedUser) -> httpx.Response:
    response = await client.get("/feed", params={"limit": 50}, headers=user.auth)
    assert response.status_code == 200, response.text
    return response


async def test_the_feed_survives_redis_going_away_and_comes_back_rebuilt(app: App, lone_redis: LoneRedis) -> None:
    api = create_app(app_state=app)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://test") as client:
        ada, bob, cy = [await sign_up(client, name=n) for n in ("Ada", "Bob", "Cy")]
        for other in (bob, cy):
            assert (await client.post(f"/users/{other.user_id}/follow", headers=ada.auth)).status_code == 200
        ids = []
        for i in range(6):
            author = (bob, cy)[i % 2]
            ids.append((await client.post("/posts", json={"text": f"p{i}"}, headers=author.auth)).json()["id"])
        await app.relay.drain()
        before = await feed(client, ada)
        assert DEGRADED_HEADER.lower() not in before.headers
        expected = [item["id"] for item in before.json()["items"]]
        assert expected == ids[::-1]

        lone_redis.kill()
        during = await feed(client, ada)  # the session is checked against its PostgreSQL copy
        assert during.headers[DEGRADED_HEADER] == REDIS_DOWN
        assert [item["id"] for item in during.json()["items"]] == expected
        assert during.json()["items"][0]["author"]["name"] == "Cy"
        assert app.services.feeds.stats.degraded_reads == 1

        lone_redis.start()  # empty: no timelines, no sessions
        rebuilds = app.services.feeds.stats.rebuilds["home"]
        page = await app.services.feeds.home(ada.user_id, before=None, limit=50)
        assert page.degraded is None
        assert [item["id"] for item in page.items] == expected
        assert app.services.feeds.stats.rebuilds["home"] == rebuilds + 1
