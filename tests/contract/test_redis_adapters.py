"""The adapters on the embedded Redis server: the keyvalue and sessions roles (Redis) and the graph role (the FalkorDB
module)."""

from __future__ import annotations

import pytest

from polysocial.engines.embedded import EmbeddedEngines
from polysocial.engines.redis_cluster import RedisClusterNodes
from polysocial.stores.graph.falkordb import FalkorGraphStore
from polysocial.stores.keyvalue.redis import RedisKeyValueStore
from polysocial.stores.sessions.redis import RedisSessionStore
from tests.contract.analytics import LeaderboardContract
from tests.contract.base import SECRET, FollowGraphContract, KeyValueContract, SessionContract
from tests.contract.timelines import TimelineContract

pytestmark = pytest.mark.contract


class RedisEngine:
    engine = "Redis"
    unreachable_url = f"redis://:{SECRET}@127.0.0.1:1/0"

    @pytest.fixture(scope="class")
    @classmethod
    def url(cls, embedded_engines: EmbeddedEngines) -> str:
        return embedded_engines.redis.url


class TestRedisKeyValue(RedisEngine, KeyValueContract, TimelineContract, LeaderboardContract):
    adapter = RedisKeyValueStore


class TestRedisSessions(RedisEngine, SessionContract):
    adapter = RedisSessionStore


class RedisClusterEngine:
    """The same contracts on a Redis Cluster of 3 masters and 3 replicas: every key a script or transaction touches
    shares a hash slot, MGETs are split by slot, fan-out is grouped by slot."""

    engine = "Redis"
    unreachable_url = f"redis://:{SECRET}@127.0.0.1:1/0?cluster=true"

    @pytest.fixture(scope="class")
    @classmethod
    def url(cls, redis_cluster: RedisClusterNodes) -> str:
        return redis_cluster.url


class TestRedisClusterKeyValue(RedisClusterEngine, KeyValueContract, TimelineContract, LeaderboardContract):
    adapter = RedisKeyValueStore


class TestRedisClusterSessions(RedisClusterEngine, SessionContract):
    adapter = RedisSessionStore


class TestFalkorGraph(FollowGraphContract):
    adapter = FalkorGraphStore
    engine = "FalkorDB"
    unreachable_url = f"redis://:{SECRET}@127.0.0.1:1"

    @pytest.fixture(scope="class")
    @classmethod
    def url(cls, embedded_engines: EmbeddedEngines) -> str:
        return embedded_engines.redis.url + "?graph=contract"

    async def test_a_wiped_graph_reads_as_empty_and_the_next_write_restores_the_constraint(
        self, store: FalkorGraphStore
    ) -> None:
        from polysocial.domain.graph import GraphUser

        await store.upsert_users([GraphUser(1, "Ada")])
        await store.db.connection.delete(store.graph_name)  # a wiped Redis, or a FLUSHALL by hand
        assert await store.count_users() == 0
        assert await store.missing_users([1, 2]) == [1, 2]
        await store.upsert_users([GraphUser(2, "Bob")])
        constraints = await store.graph.list_constraints()
        assert [(c["label"], c["properties"]) for c in constraints] == [("User", ["id"])]
        assert await store.missing_users([1, 2]) == [1]
