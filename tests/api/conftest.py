from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from polysocial.api.app import create_app
from polysocial.bootstrap import App
from polysocial.config import Settings


@pytest.fixture
def app_settings(profile_settings: Settings) -> Settings:
    """The API's tests run on every profile."""
    return profile_settings


@pytest.fixture
async def client(app: App) -> AsyncIterator[httpx.AsyncClient]:
    api = create_app(app_state=app)
    transport = httpx.ASGITransport(app=api, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http
