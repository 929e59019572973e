"""The composition root: settings in, a ready App out (engines started when the profile needs them, stores open,
services and the relay wired). Routes, web pages, the CLI, the demo and the bench all reach the platform through
``App.services``; nothing else builds a service.

Tests and tools override any store by passing it in: ``await bootstrap(settings, graph=my_graph_store)``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from polysocial import tracing
from polysocial.config import Settings
from polysocial.engines.embedded import EmbeddedEngines
from polysocial.events.handlers import (
    Handler,
    account_handlers,
    cart_handlers,
    erasure_handlers,
    feed_handlers,
    follow_handlers,
    post_handlers,
)
from polysocial.events.relay import Relay, RelayConfig
from polysocial.events.retry import RetryPolicy
from polysocial.events.sources import outboxes
from polysocial.services.accounts import Accounts
from polysocial.services.analytics import AnalyticsBuffer
from polysocial.services.carts import Carts
from polysocial.services.erasure import Erasure
from polysocial.services.feed import Feeds
from polysocial.services.idempotency import Idempotency
from polysocial.services.insights import Analytics
from polysocial.services.operations import Operations
from polysocial.services.passwords import Argon2Parameters, Passwords
from polysocial.services.posts import Posts
from polysocial.services.seats import Seats
from polysocial.services.sessions import SessionPolicy, Sessions
from polysocial.services.shop import Shop
from polysocial.services.social import Social
from polysocial.services.wallet import Wallet
from polysocial.stores.documents.protocol import ARTICLES, POSTS, DocumentStore
from polysocial.stores.factory import Stores, make_stores
from polysocial.stores.graph.protocol import GraphStore
from polysocial.stores.keyvalue.protocol import KeyValueStore
from polysocial.stores.postgres_pool import PostgresPools
from polysocial.stores.relational.protocol import RelationalStore
from polysocial.stores.timeseries.protocol import TimeSeriesStore


@dataclass(frozen=True, slots=True)
class Services:
    """Every use case of the platform, one object per capability."""

    sessions: Sessions
    accounts: Accounts
    posts: Posts
    social: Social
    feeds: Feeds
    wallet: Wallet
    shop: Shop
    carts: Carts
    seats: Seats
    analytics: Analytics
    operations: Operations
    erasure: Erasure


@dataclass
class App:
    settings: Settings
    stores: Stores
    pools: PostgresPools
    passwords: Passwords
    services: Services
    relay: Relay
    analytics_buffer: AnalyticsBuffer
    _closed: bool = field(default=False, repr=False)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self.stores.close()
        await self.pools.close()
        self.passwords.close()


async def start_engines(settings: Settings) -> None:
    """Start the embedded engines that the settings point at (idempotent; reuses running ones)."""
    if settings.embedded_engines_needed():
        await asyncio.to_thread(EmbeddedEngines(settings).up)


def make_feeds(settings: Settings, stores: Stores) -> Feeds:
    return Feeds(
        relational=stores.relational,
        documents=stores.documents,
        graph=stores.graph,
        keyvalue=stores.keyvalue,
        timelines=stores.timelines,
        celebrity_followers=settings.feed_celebrity_followers,
    )


def make_handlers(stores: Stores, feeds: Feeds, erasure: Erasure) -> list[Handler]:
    return [
        *account_handlers(stores.graph, stores.keyvalue),
        *follow_handlers(stores.graph),
        *post_handlers(stores.documents),
        *feed_handlers(feeds),
        *cart_handlers(stores.relational),
        *erasure_handlers(erasure),
    ]


def make_sessions(settings: Settings, stores: Stores) -> Sessions:
    return Sessions(
        stores.sessions,
        SessionPolicy(settings.session_idle_s, settings.session_absolute_s),
        backup=stores.session_backup,
    )


def make_relay(settings: Settings, stores: Stores, feeds: Feeds, erasure: Erasure) -> Relay:
    config = RelayConfig(batch_size=settings.relay_batch_size)
    return Relay(
        sources=outboxes(stores.relational, stores.documents, (POSTS, ARTICLES), lease_s=config.lease_s),
        handlers=make_handlers(stores, feeds, erasure),
        tracking=stores.relational,
        retry=RetryPolicy(max_attempts=settings.relay_max_attempts),
        config=config,
    )


def make_services(
    stores: Stores,
    passwords: Passwords,
    relay: Relay,
    feeds: Feeds,
    buffer: AnalyticsBuffer,
    sessions: Sessions,
    erasure: Erasure,
) -> Services:
    idempotency = Idempotency(stores.relational)
    return Services(
        sessions=sessions,
        accounts=Accounts(stores.relational, stores.keyvalue, passwords, sessions),
        posts=Posts(stores.documents, stores.relational, buffer, likes_changed=feeds.likes_changed),
        social=Social(stores.relational, stores.graph),
        feeds=feeds,
        wallet=Wallet(stores.relational, idempotency),
        shop=Shop(stores.relational, idempotency),
        carts=Carts(stores.relational, stores.keyvalue, idempotency),
        seats=Seats(stores.relational, idempotency),
        analytics=Analytics(stores.timeseries, stores.keyvalue, stores.documents, buffer),
        operations=Operations(stores, relay, passwords, feeds),
        erasure=erasure,
    )


async def bootstrap(
    settings: Settings | None = None,
    *,
    engines: bool = True,
    relational: RelationalStore | None = None,
    documents: DocumentStore | None = None,
    graph: GraphStore | None = None,
    keyvalue: KeyValueStore | None = None,
    timeseries: TimeSeriesStore | None = None,
) -> App:
    settings = settings or Settings()
    tracing.configure()  # off unless the OTEL_* variables ask for it
    if engines:
        await start_engines(settings)
    pools = PostgresPools(connect_timeout_s=settings.connect_timeout_s, max_size=settings.postgres_pool_size)
    stores = make_stores(
        settings,
        pools,
        relational=relational,
        documents=documents,
        graph=graph,
        keyvalue=keyvalue,
        timeseries=timeseries,
    )
    try:
        await stores.open()
    except BaseException:
        await pools.close()
        raise
    passwords = Passwords(
        Argon2Parameters(settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism)
    )
    feeds = make_feeds(settings, stores)
    sessions = make_sessions(settings, stores)
    erasure = Erasure(stores, passwords, sessions)
    relay = make_relay(settings, stores, feeds, erasure)
    buffer = AnalyticsBuffer(stores.timeseries, stores.keyvalue)
    services = make_services(stores, passwords, relay, feeds, buffer, sessions, erasure)
    return App(settings, stores, pools, passwords, services, relay, buffer)
