"""The composition root: settings in, a ready App out (stores open, engines started when the profile needs them,
services wired).

Tests and tools override any store by passing it in: ``await bootstrap(settings, graph=my_graph_store)``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import cast

from polysocial.config import Role, Settings
from polysocial.domain.errors import StoresUnavailable, StoreUnavailable
from polysocial.engines.embedded import EmbeddedEngines
from polysocial.events.handlers import (
    Handler,
    account_handlers,
    cart_handlers,
    feed_handlers,
    follow_handlers,
    post_handlers,
)
from polysocial.events.relay import Relay, RelayConfig
from polysocial.services.analytics import AnalyticsBuffer
from polysocial.services.feed import Feeds
from polysocial.services.passwords import Argon2Parameters, Passwords
from polysocial.services.sessions import SessionPolicy
from polysocial.stores.base import Store
from polysocial.stores.documents.protocol import ARTICLES, POSTS, DocumentStore
from polysocial.stores.factory import make_store
from polysocial.stores.graph.protocol import GraphStore
from polysocial.stores.postgres_common import PostgresBackedStore
from polysocial.stores.postgres_pool import PostgresPools
from polysocial.stores.redis.protocol import KeyValueStore
from polysocial.stores.relational.protocol import RelationalStore
from polysocial.stores.timeseries.protocol import TimeSeriesStore


@dataclass
class App:
    settings: Settings
    stores: dict[Role, Store]
    pools: PostgresPools
    passwords: Passwords
    session_policy: SessionPolicy
    relay: Relay
    feeds: Feeds
    analytics: AnalyticsBuffer
    _closed: bool = field(default=False, repr=False)

    @property
    def relational(self) -> RelationalStore:
        return cast(RelationalStore, self.stores[Role.RELATIONAL])

    @property
    def documents(self) -> DocumentStore:
        return cast(DocumentStore, self.stores[Role.DOCUMENTS])

    @property
    def graph(self) -> GraphStore:
        return cast(GraphStore, self.stores[Role.GRAPH])

    @property
    def kv(self) -> KeyValueStore:
        return cast(KeyValueStore, self.stores[Role.REDIS])

    @property
    def session_backup(self) -> RelationalStore | None:
        """Where sessions live in Redis, PostgreSQL keeps a copy for Redis outages (services/sessions.py)."""
        return None if isinstance(self.kv, PostgresBackedStore) else self.relational

    @property
    def timeseries(self) -> TimeSeriesStore:
        return cast(TimeSeriesStore, self.stores[Role.TIMESERIES])

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await close_stores(self.stores.values())
        await self.pools.close()
        self.passwords.close()


def build_stores(settings: Settings, pools: PostgresPools, **overrides: Store) -> dict[Role, Store]:
    """Construct (without connecting) one adapter per role."""
    unknown = set(overrides) - {r.value for r in Role}
    if unknown:
        raise TypeError(f"unknown store roles: {sorted(unknown)}")
    return {
        role: overrides.get(role.value)
        or make_store(settings.store_url(role), pools, connect_timeout_s=settings.connect_timeout_s)
        for role in Role
    }


async def open_stores(stores: dict[Role, Store]) -> None:
    """Open every store concurrently; if any fails, close them all and report every failing role."""
    results = await asyncio.gather(*(s.open() for s in stores.values()), return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        await close_stores(stores.values())
        unexpected = [f for f in failures if not isinstance(f, StoreUnavailable)]
        if unexpected:
            raise unexpected[0]
        raise StoresUnavailable([f for f in failures if isinstance(f, StoreUnavailable)])


async def close_stores(stores: Iterable[Store]) -> None:
    for store in list(stores):
        await store.close()


async def start_engines(settings: Settings) -> None:
    """Start the embedded engines that the settings point at (idempotent; reuses running ones)."""
    if settings.embedded_engines_needed():
        await asyncio.to_thread(EmbeddedEngines(settings).up)


def make_feeds(settings: Settings, stores: dict[Role, Store]) -> Feeds:
    return Feeds(
        relational=cast(RelationalStore, stores[Role.RELATIONAL]),
        documents=cast(DocumentStore, stores[Role.DOCUMENTS]),
        graph=cast(GraphStore, stores[Role.GRAPH]),
        kv=cast(KeyValueStore, stores[Role.REDIS]),
        celebrity_followers=settings.feed_celebrity_followers,
    )


def handlers_for(stores: dict[Role, Store], feeds: Feeds) -> list[Handler]:
    graph = cast(GraphStore, stores[Role.GRAPH])
    documents = cast(DocumentStore, stores[Role.DOCUMENTS])
    return [
        *account_handlers(graph, cast(KeyValueStore, stores[Role.REDIS])),
        *follow_handlers(graph),
        *post_handlers(documents),
        *feed_handlers(feeds),
        *cart_handlers(cast(RelationalStore, stores[Role.RELATIONAL])),
    ]


async def bootstrap(settings: Settings | None = None, *, engines: bool = True, **overrides: Store) -> App:
    settings = settings or Settings()
    if engines:
        await start_engines(settings)
    pools = PostgresPools(connect_timeout_s=settings.connect_timeout_s, max_size=settings.postgres_pool_size)
    stores = build_stores(settings, pools, **overrides)
    try:
        await open_stores(stores)
    except BaseException:
        await pools.close()
        raise
    feeds = make_feeds(settings, stores)
    relay = Relay(
        cast(RelationalStore, stores[Role.RELATIONAL]),
        cast(DocumentStore, stores[Role.DOCUMENTS]),
        handlers_for(stores, feeds),
        RelayConfig(
            batch_size=settings.relay_batch_size,
            max_attempts=settings.relay_max_attempts,
            document_collections=(POSTS, ARTICLES),
        ),
    )
    return App(
        settings=settings,
        stores=stores,
        pools=pools,
        passwords=Passwords(
            Argon2Parameters(settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism)
        ),
        session_policy=SessionPolicy(settings.session_idle_s, settings.session_absolute_s),
        relay=relay,
        feeds=feeds,
        analytics=AnalyticsBuffer(
            cast(TimeSeriesStore, stores[Role.TIMESERIES]), cast(KeyValueStore, stores[Role.REDIS])
        ),
    )
