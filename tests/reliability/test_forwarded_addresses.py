"""X-Forwarded-For is believed only from the proxies the settings name (POLYSOCIAL_FORWARDED_ALLOW_IPS, default
none): otherwise a client could name a new address with every request and never meet the per-address login limit.
Tried over real HTTP, on servers run the way `polysocial serve` runs them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from redis import Redis

from polysocial.config import Settings
from polysocial.engines.embedded import EmbeddedEngines
from polysocial.services.ratelimit import LOGIN_FAILURES_PER_IP
from tests.conftest import isolated_settings
from tests.support.live import live_server

OTHER_ADDRESS = {"X-Forwarded-For": "203.0.113.7"}


def own_limits(engines: EmbeddedEngines, db: int, **changes: object) -> Iterator[Settings]:
    """A database, a graph and a Redis database of their own: the failed logins counted here limit no other test."""
    base = isolated_settings(engines, "proxies")
    keyvalue = f"{engines.layout.redis_url()}?db={db}"
    yield Settings(**{**base.model_dump(), "keyvalue_url": keyvalue, **changes})
    with Redis.from_url(keyvalue) as redis:
        redis.flushdb()


@pytest.fixture
def untrusting(embedded_engines: EmbeddedEngines) -> Iterator[Settings]:
    yield from own_limits(embedded_engines, 7)


@pytest.fixture
def trusting_loopback(embedded_engines: EmbeddedEngines) -> Iterator[Settings]:
    yield from own_limits(embedded_engines, 8, forwarded_allow_ips="127.0.0.1")


def fail_logins_until_limited(client: httpx.Client) -> int:
    """Wrong passwords for new emails (so only the per-address limit applies) until a 429; how many it took."""
    for attempt in range(1, LOGIN_FAILURES_PER_IP.limit + 5):
        body = {"email": f"nobody-{uuid.uuid4().hex[:8]}@example.com", "password": "wrong"}
        if client.post("/auth/login", json=body).status_code == 429:
            return attempt
    raise AssertionError("the per-address limit never applied")


def test_by_default_a_forwarded_address_does_not_bypass_the_login_limit(untrusting: Settings) -> None:
    with live_server(untrusting) as base_url, httpx.Client(base_url=base_url, timeout=30) as client:
        assert fail_logins_until_limited(client) == LOGIN_FAILURES_PER_IP.limit + 1
        body = {"email": "someone@example.com", "password": "wrong"}
        response = client.post("/auth/login", json=body, headers=OTHER_ADDRESS)
        assert response.status_code == 429, response.text  # the header named another address: not believed


def test_a_configured_proxy_is_believed(trusting_loopback: Settings) -> None:
    with live_server(trusting_loopback) as base_url, httpx.Client(base_url=base_url, timeout=30) as client:
        assert fail_logins_until_limited(client) == LOGIN_FAILURES_PER_IP.limit + 1
        body = {"email": "someone@example.com", "password": "wrong"}
        response = client.post("/auth/login", json=body, headers=OTHER_ADDRESS)
        assert response.status_code == 401, response.text  # the proxy says it is another client: its own count
