"""The adapters on the embedded Redis server: the redis role (Redis) and the graph role (the FalkorDB module)."""

from __future__ import annotations

import pytest

from polysocial.engines.embedded import EmbeddedEngines
from polysocial.stores.graph.falkordb import FalkorGraphStore
from polysocial.stores.redis.redis import RedisKeyValueStore
from tests.contract.base import SECRET, GraphContract, KeyValueContract

pytestmark = pytest.mark.contract


class TestRedisKeyValue(KeyValueContract):
    adapter = RedisKeyValueStore
    engine = "Redis"
    unreachable_url = f"redis://:{SECRET}@127.0.0.1:1/0"

    @pytest.fixture
    def url(self, embedded_engines: EmbeddedEngines) -> str:
        return embedded_engines.redis.url


class TestFalkorGraph(GraphContract):
    adapter = FalkorGraphStore
    engine = "FalkorDB"
    unreachable_url = f"redis://:{SECRET}@127.0.0.1:1"

    @pytest.fixture
    def url(self, embedded_engines: EmbeddedEngines) -> str:
        return embedded_engines.redis.url + "?graph=contract"
