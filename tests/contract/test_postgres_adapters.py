"""Every role's PostgreSQL adapter (the `embedded` and `postgres-only` profiles), on the embedded PostgreSQL."""

from __future__ import annotations

import pytest

from polysocial.engines.embedded import EmbeddedEngines
from polysocial.stores.documents.postgres import PostgresDocumentStore
from polysocial.stores.graph.postgres import PostgresGraphStore
from polysocial.stores.redis.postgres import PostgresKeyValueStore
from polysocial.stores.relational.postgres import PostgresRelationalStore
from polysocial.stores.timeseries.postgres import PostgresTimeSeriesStore
from tests.contract.base import (
    SECRET,
    DocumentContract,
    GraphContract,
    KeyValueContract,
    RelationalContract,
    TimeSeriesContract,
)

pytestmark = pytest.mark.contract

UNREACHABLE = f"postgresql://app:{SECRET}@127.0.0.1:1/polysocial"


class PostgresEngine:
    engine = "PostgreSQL"
    unreachable_url = UNREACHABLE

    @pytest.fixture
    def url(self, embedded_engines: EmbeddedEngines) -> str:
        return embedded_engines.postgres.url


class TestPostgresRelational(PostgresEngine, RelationalContract):
    adapter = PostgresRelationalStore


class TestPostgresDocuments(PostgresEngine, DocumentContract):
    adapter = PostgresDocumentStore


class TestPostgresGraph(PostgresEngine, GraphContract):
    adapter = PostgresGraphStore


class TestPostgresKeyValue(PostgresEngine, KeyValueContract):
    adapter = PostgresKeyValueStore


class TestPostgresTimeSeries(PostgresEngine, TimeSeriesContract):
    adapter = PostgresTimeSeriesStore
