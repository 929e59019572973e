"""The seed stack's adapters on its test servers: MongoDB (FerretDB), Neo4j, InfluxDB, Cassandra (one node)."""

from __future__ import annotations

import gc

import pytest

from polysocial.engines.seed_stack import SeedStack
from polysocial.stores.documents.mongo import MongoDocumentStore
from polysocial.stores.graph.neo4j import Neo4jGraphStore
from polysocial.stores.sessions.cassandra import CassandraSessionStore
from polysocial.stores.timeseries.influx import InfluxTimeSeriesStore
from tests.contract.analytics import TimeSeriesOperations
from tests.contract.base import (
    SECRET,
    DocumentOperationsContract,
    FollowGraphContract,
    SessionContract,
    TimeSeriesContract,
)

pytestmark = [pytest.mark.contract, pytest.mark.seed_stack]


class TestMongoDocuments(DocumentOperationsContract):
    adapter = MongoDocumentStore
    engine = "FerretDB"  # FerretDB speaks MongoDB's wire protocol; it is not MongoDB's engine
    unreachable_url = f"mongodb://app:{SECRET}@127.0.0.1:1/polysocial"

    @pytest.fixture(scope="class")
    @classmethod
    def url(cls, seed_servers: SeedStack) -> str:
        return seed_servers.urls["ferretdb"]

    @pytest.mark.filterwarnings("ignore:Exception ignored in. <socket.socket:pytest.PytestUnraisableExceptionWarning")
    async def test_unreachable_engine_gives_one_clear_line_without_the_password(self) -> None:
        # pymongo 4.20.1 leaks the socket of a connection attempt that client.close() cancels (PYTHON-5867, fixed
        # upstream after that release). Against an unreachable server its monitor is always mid-connect, so the
        # leak is certain here and nowhere else; collect it now so that the filter above covers it alone.
        await super().test_unreachable_engine_gives_one_clear_line_without_the_password()
        gc.collect()


class TestNeo4jGraph(FollowGraphContract):
    adapter = Neo4jGraphStore
    engine = "Neo4j"
    unreachable_url = f"bolt://neo4j:{SECRET}@127.0.0.1:1"

    @pytest.fixture(scope="class")
    @classmethod
    def url(cls, seed_servers: SeedStack) -> str:
        return seed_servers.urls["neo4j"]

    async def test_the_url_routes_and_a_follow_leaves_a_bookmark_the_next_read_waits_for(
        self, store: Neo4jGraphStore
    ) -> None:
        assert store.location.url.startswith("neo4j://")  # the routing scheme, as on a cluster
        manager = store.driver.execute_query_bookmark_manager
        before = set(await manager.get_bookmarks())
        await store.follow_many([(1, 2), (2, 3)])
        after = set(await manager.get_bookmarks())
        assert after
        assert after != before  # the write's bookmark: the reads below are sent with it
        assert [s.user_id for s in await store.suggestions(1, limit=5)] == [3]


class TestInfluxTimeSeries(TimeSeriesContract, TimeSeriesOperations):
    adapter = InfluxTimeSeriesStore
    engine = "InfluxDB"
    unreachable_url = f"http://app:{SECRET}@127.0.0.1:1/polysocial"

    @pytest.fixture(scope="class")
    @classmethod
    def url(cls, seed_servers: SeedStack) -> str:
        return seed_servers.urls["influxdb"]


class TestCassandraSessions(SessionContract):
    adapter = CassandraSessionStore
    engine = "Cassandra"
    unreachable_url = f"cassandra://app:{SECRET}@127.0.0.1:1/polysocial"

    @pytest.fixture(scope="class")
    @classmethod
    def url(cls, seed_servers: SeedStack) -> str:
        return seed_servers.urls["cassandra"].rsplit("/", 1)[0] + "/contract"
