from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from polysocial.api.app import create_app
from polysocial.bootstrap import App, bootstrap
from polysocial.config import Settings
from tests.support.apps import fresh_app

PROFILES = ["embedded", "postgres-only", pytest.param("seed", marks=pytest.mark.seed_stack)]


@pytest.fixture
async def embedded_app(embedded_settings: Settings) -> AsyncIterator[App]:
    app = await bootstrap(embedded_settings)
    yield app
    await app.aclose()


@pytest.fixture(params=PROFILES)
def profile_settings(request: pytest.FixtureRequest) -> Settings:
    """The same tests on every profile; the seed profile needs the seed stack's servers."""
    fixture = {"embedded": "embedded_settings", "postgres-only": "postgres_only_settings", "seed": "seed_settings"}
    settings: Settings = request.getfixturevalue(fixture[request.param])
    return settings


@pytest.fixture
async def app(profile_settings: Settings) -> AsyncIterator[App]:
    """An App on empty stores. The relay is driven by the test (``await app.relay.drain()``)."""
    async with fresh_app(profile_settings) as state:
        yield state


@pytest.fixture
async def client(app: App) -> AsyncIterator[httpx.AsyncClient]:
    api = create_app(app_state=app)
    transport = httpx.ASGITransport(app=api, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http
