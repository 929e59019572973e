"""From a role's URL to its adapter: the scheme picks the engine (Settings has already checked it is allowed)."""

from __future__ import annotations

from polysocial.config import POSTGRES_SCHEMES, REDIS_SCHEMES, Role, StoreURL
from polysocial.domain.errors import ConfigError
from polysocial.stores.base import Store
from polysocial.stores.documents.mongo import MongoDocumentStore
from polysocial.stores.documents.postgres import PostgresDocumentStore
from polysocial.stores.graph.falkordb import FalkorGraphStore
from polysocial.stores.graph.neo4j import Neo4jGraphStore
from polysocial.stores.graph.postgres import PostgresGraphStore
from polysocial.stores.postgres_pool import PostgresPools
from polysocial.stores.redis.postgres import PostgresKeyValueStore
from polysocial.stores.redis.redis import RedisKeyValueStore
from polysocial.stores.relational.postgres import PostgresRelationalStore
from polysocial.stores.timeseries.influx import InfluxTimeSeriesStore
from polysocial.stores.timeseries.postgres import PostgresTimeSeriesStore

_POSTGRES_ADAPTERS = {
    Role.RELATIONAL: PostgresRelationalStore,
    Role.DOCUMENTS: PostgresDocumentStore,
    Role.GRAPH: PostgresGraphStore,
    Role.REDIS: PostgresKeyValueStore,
    Role.TIMESERIES: PostgresTimeSeriesStore,
}


def make_store(location: StoreURL, pools: PostgresPools, *, connect_timeout_s: float = 5.0) -> Store:
    """Build (without connecting) the adapter for ``location``."""
    role, scheme = location.role, location.scheme
    if scheme in POSTGRES_SCHEMES:
        return _POSTGRES_ADAPTERS[role](location, pools)
    if role is Role.DOCUMENTS and scheme.startswith("mongodb"):
        return MongoDocumentStore(location, connect_timeout_s=connect_timeout_s)
    if role is Role.GRAPH and (scheme in REDIS_SCHEMES or scheme.startswith("falkor")):
        return FalkorGraphStore(location, connect_timeout_s=connect_timeout_s)
    if role is Role.GRAPH and scheme.startswith(("bolt", "neo4j")):
        return Neo4jGraphStore(location, connect_timeout_s=connect_timeout_s)
    if role is Role.REDIS and scheme in REDIS_SCHEMES:
        return RedisKeyValueStore(location, connect_timeout_s=connect_timeout_s)
    if role is Role.TIMESERIES and scheme in {"http", "https"}:
        return InfluxTimeSeriesStore(location, connect_timeout_s=connect_timeout_s)
    raise ConfigError(f"{role} URL {location.masked}: no adapter for scheme {scheme!r}")
