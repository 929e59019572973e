"""From the settings to the stores: one adapter per role, chosen by the scheme of the role's URL (Settings has
already checked that it is allowed), gathered in ``Stores``: one typed field per role, and what the chosen engines
offer beyond the role's verbs, stated once here so that no service has to probe types."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from polysocial.config import CASSANDRA_SCHEMES, POSTGRES_SCHEMES, REDIS_SCHEMES, Role, Settings, StoreURL
from polysocial.domain.errors import ConfigError, StoresUnavailable, StoreUnavailable
from polysocial.stores.base import Store
from polysocial.stores.breaker import StoreOptions
from polysocial.stores.documents.mongo import MongoDocumentStore
from polysocial.stores.documents.postgres import PostgresDocumentStore
from polysocial.stores.documents.protocol import DocumentStore
from polysocial.stores.graph.falkordb import FalkorGraphStore
from polysocial.stores.graph.neo4j import Neo4jGraphStore
from polysocial.stores.graph.postgres import PostgresGraphStore
from polysocial.stores.graph.protocol import GraphStore
from polysocial.stores.keyvalue.postgres import PostgresKeyValueStore
from polysocial.stores.keyvalue.protocol import KeyValueStore, TimelineStore
from polysocial.stores.keyvalue.redis import RedisKeyValueStore
from polysocial.stores.postgres_common import PostgresBackedStore
from polysocial.stores.postgres_pool import PostgresPools
from polysocial.stores.relational.postgres import PostgresRelationalStore
from polysocial.stores.relational.protocol import RelationalStore
from polysocial.stores.replicas import Replicas
from polysocial.stores.sessions.cassandra import CassandraSessionStore
from polysocial.stores.sessions.postgres import PostgresSessionStore
from polysocial.stores.sessions.protocol import SessionStore
from polysocial.stores.sessions.redis import RedisSessionStore
from polysocial.stores.timeseries.influx import InfluxTimeSeriesStore
from polysocial.stores.timeseries.postgres import PostgresTimeSeriesStore
from polysocial.stores.timeseries.protocol import TimeSeriesStore


@dataclass(frozen=True, slots=True)
class Stores:
    """The six roles' adapters of one process."""

    relational: RelationalStore
    documents: DocumentStore
    graph: GraphStore
    keyvalue: KeyValueStore
    timeseries: TimeSeriesStore
    sessions: SessionStore
    replicas: Replicas | None = None  # the relational database's read replicas, when configured

    @property
    def timelines(self) -> TimelineStore | None:
        """Fan-out timelines, where the key-value engine keeps them (Redis); None in `postgres-only`."""
        return self.keyvalue.timelines

    @property
    def session_backup(self) -> RelationalStore | None:
        """Where the sessions' engine may lose them (Redis), PostgreSQL keeps a copy for its outages."""
        return None if self.sessions.durable else self.relational

    def all(self) -> tuple[Store, ...]:
        return (self.relational, self.documents, self.graph, self.keyvalue, self.timeseries, self.sessions)

    async def open(self) -> None:
        """Open every store concurrently; if any fails, close them all and report every failing role."""
        results = await asyncio.gather(*(s.open() for s in self.all()), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            await self.close()
            unexpected = [f for f in failures if not isinstance(f, StoreUnavailable)]
            if unexpected:
                raise unexpected[0]
            raise StoresUnavailable([f for f in failures if isinstance(f, StoreUnavailable)])

    async def close(self) -> None:
        for store in self.all():
            await store.close()

    async def wipe(self) -> None:
        for store in self.all():
            await store.wipe()


def _no_adapter(location: StoreURL) -> ConfigError:
    return ConfigError(f"{location.role} URL {location.masked}: no adapter for scheme {location.scheme!r}")


def make_relational(location: StoreURL, pools: PostgresPools, options: StoreOptions | None = None) -> RelationalStore:
    if location.scheme in POSTGRES_SCHEMES:
        return PostgresRelationalStore(location, pools, options)
    raise _no_adapter(location)


def make_documents(location: StoreURL, pools: PostgresPools, options: StoreOptions | None = None) -> DocumentStore:
    if location.scheme in POSTGRES_SCHEMES:
        return PostgresDocumentStore(location, pools, options)
    if location.scheme.startswith("mongodb"):
        return MongoDocumentStore(location, options)
    raise _no_adapter(location)


def make_graph(location: StoreURL, pools: PostgresPools, options: StoreOptions | None = None) -> GraphStore:
    scheme = location.scheme
    if scheme in POSTGRES_SCHEMES:
        return PostgresGraphStore(location, pools, options)
    if scheme in REDIS_SCHEMES or scheme.startswith("falkor"):
        return FalkorGraphStore(location, options)
    if scheme.startswith(("bolt", "neo4j")):
        return Neo4jGraphStore(location, options)
    raise _no_adapter(location)


def make_keyvalue(location: StoreURL, pools: PostgresPools, options: StoreOptions | None = None) -> KeyValueStore:
    if location.scheme in POSTGRES_SCHEMES:
        return PostgresKeyValueStore(location, pools, options)
    if location.scheme in REDIS_SCHEMES:
        return RedisKeyValueStore(location, options)
    raise _no_adapter(location)


def make_timeseries(location: StoreURL, pools: PostgresPools, options: StoreOptions | None = None) -> TimeSeriesStore:
    if location.scheme in POSTGRES_SCHEMES:
        return PostgresTimeSeriesStore(location, pools, options)
    if location.scheme in {"http", "https"}:
        return InfluxTimeSeriesStore(location, options)
    raise _no_adapter(location)


def make_sessions(location: StoreURL, pools: PostgresPools, options: StoreOptions | None = None) -> SessionStore:
    if location.scheme in POSTGRES_SCHEMES:
        return PostgresSessionStore(location, pools, options)
    if location.scheme in REDIS_SCHEMES:
        return RedisSessionStore(location, options)
    if location.scheme in CASSANDRA_SCHEMES:
        return CassandraSessionStore(location, options)
    raise _no_adapter(location)


MAKERS: dict[Role, Callable[..., Store]] = {
    Role.RELATIONAL: make_relational,
    Role.DOCUMENTS: make_documents,
    Role.GRAPH: make_graph,
    Role.KEYVALUE: make_keyvalue,
    Role.TIMESERIES: make_timeseries,
    Role.SESSIONS: make_sessions,
}


def make_store(location: StoreURL, pools: PostgresPools, options: StoreOptions | None = None) -> Store:
    """Any role's adapter, typed only as a Store (for `doctor` and health, which treat every role alike)."""
    return MAKERS[location.role](location, pools, options)


def make_stores(
    settings: Settings,
    pools: PostgresPools,
    *,
    relational: RelationalStore | None = None,
    documents: DocumentStore | None = None,
    graph: GraphStore | None = None,
    keyvalue: KeyValueStore | None = None,
    timeseries: TimeSeriesStore | None = None,
    sessions: SessionStore | None = None,
) -> Stores:
    """Construct (without connecting) one adapter per role; a store passed in is used as it is (tests, tools)."""
    options = settings.store_options()

    def url(role: Role) -> StoreURL:
        return settings.store_url(role)

    replica_urls = settings.replica_urls()
    replicas = (
        Replicas(
            url(Role.RELATIONAL), replica_urls, pools, options.breaker, read_your_writes_s=settings.read_your_writes_s
        )
        if replica_urls
        else None
    )
    stores = Stores(
        replicas=replicas,
        relational=relational or make_relational(url(Role.RELATIONAL), pools, options),
        documents=documents or make_documents(url(Role.DOCUMENTS), pools, options),
        graph=graph or make_graph(url(Role.GRAPH), pools, options),
        keyvalue=keyvalue or make_keyvalue(url(Role.KEYVALUE), pools, options),
        timeseries=timeseries or make_timeseries(url(Role.TIMESERIES), pools, options),
        sessions=sessions or make_sessions(url(Role.SESSIONS), pools, options),
    )
    if replicas is not None:
        replicas.shared = stores.keyvalue
        primary = url(Role.RELATIONAL).url
        for store in stores.all():  # every role held in the relational role's database reads from its replicas
            if isinstance(store, PostgresBackedStore) and store.location.url == primary:
                store.replicas = replicas
    return stores
