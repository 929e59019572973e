"""The one way tests get an App: bootstrapped on the given settings, every store wiped (each adapter knows how),
closed at the end. Tests share the session's engines, so each starts from empty stores instead of new engines."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from polysocial.bootstrap import App, bootstrap
from polysocial.config import Settings
from polysocial.events.handlers import Handler
from polysocial.events.relay import Relay, RelayConfig
from polysocial.events.retry import RetryPolicy
from polysocial.events.sources import outboxes


@asynccontextmanager
async def fresh_app(settings: Settings, **changes: object) -> AsyncIterator[App]:
    app = await bootstrap(settings.model_copy(update=changes) if changes else settings)
    try:
        await app.stores.wipe()
        yield app
    finally:
        await app.aclose()


def relay_for(
    app: App,
    handlers: Sequence[Handler],
    *,
    retry: RetryPolicy | None = None,
    config: RelayConfig | None = None,
    collections: Sequence[str] = (),
) -> Relay:
    """A relay on the app's stores with the given handlers: the outbox, plus the documents of ``collections``."""
    config = config or RelayConfig()
    sources = outboxes(app.stores.relational, app.stores.documents, collections, lease_s=config.lease_s)
    return Relay(sources=sources, handlers=handlers, tracking=app.stores.relational, retry=retry, config=config)
