from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from polysocial.bootstrap import App, bootstrap
from polysocial.config import Settings
from tests.support.live import live_server


@pytest.fixture(scope="session")
def embedded_server(embedded_settings: Settings) -> Iterator[str]:
    """`polysocial serve` on the embedded profile, over real HTTP."""
    with live_server(embedded_settings) as base_url:
        yield base_url


@pytest.fixture
async def embedded_app(embedded_settings: Settings) -> AsyncIterator[App]:
    app = await bootstrap(embedded_settings)
    yield app
    await app.aclose()
