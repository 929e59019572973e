"""Contract tests: one abstract class per store role, subclassed once per adapter and run on its real engine.

A subclass names the adapter it expects, the engine it should report, and how to reach it (``url`` fixture); the
inherited tests then hold every adapter of a role to the same answers. Later issues add their operations' contracts
to the role classes below, and every adapter inherits them.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import ClassVar

import pytest

from polysocial.config import Role, StoreURL
from polysocial.domain.errors import StoreUnavailable
from polysocial.stores.base import Store, timed_ping
from polysocial.stores.factory import make_store
from polysocial.stores.postgres_pool import PostgresPools
from tests.support.reset import count_items, put_marker, reset_store

SECRET = "hunter2-not-for-logs"


class StoreContract:
    role: ClassVar[Role]
    adapter: ClassVar[type]
    engine: ClassVar[str]
    # Same scheme as the real URL, a closed port, and a password that must never appear in an error.
    unreachable_url: ClassVar[str]

    @pytest.fixture
    def url(self) -> str:
        raise NotImplementedError("each adapter's test class provides the url fixture")

    @pytest.fixture
    async def store(self, url: str) -> AsyncIterator[Store]:
        pools = PostgresPools(connect_timeout_s=5)
        store = make_store(StoreURL(self.role, url), pools)
        await store.open()
        await reset_store(store)
        try:
            yield store
        finally:
            await store.close()
            await pools.close()

    async def test_factory_picks_this_adapter_for_the_url(self, store: Store) -> None:
        assert type(store) is self.adapter
        assert store.role is self.role

    async def test_ping_round_trip(self, store: Store) -> None:
        rtt_ms = await timed_ping(store)
        assert 0 < rtt_ms < 5_000

    async def test_reports_engine_and_version(self, store: Store) -> None:
        info = await store.engine_info()
        assert info.engine == self.engine
        assert re.match(r"v?\d+\.\d+", info.version), info.version

    async def test_close_twice_then_ping_says_unavailable(self, store: Store) -> None:
        await store.close()
        await store.close()
        with pytest.raises(StoreUnavailable) as caught:
            await store.ping()
        assert caught.value.role == self.role.value

    async def test_unreachable_engine_gives_one_clear_line_without_the_password(self) -> None:
        pools = PostgresPools(connect_timeout_s=2)
        store = make_store(StoreURL(self.role, self.unreachable_url), pools, connect_timeout_s=2)
        with pytest.raises(StoreUnavailable) as caught:
            await store.open()
        await store.close()
        await pools.close()
        message = str(caught.value)
        assert SECRET not in message
        assert "\n" not in message
        assert message.startswith(f"{self.role.value} store unreachable at ")
        assert "***" in message

    async def test_reset_between_tests_empties_the_store(self, store: Store) -> None:
        await put_marker(store)
        assert await count_items(store) >= 1
        await reset_store(store)
        assert await count_items(store) == 0


class RelationalContract(StoreContract):
    role = Role.RELATIONAL


class DocumentContract(StoreContract):
    role = Role.DOCUMENTS


class GraphContract(StoreContract):
    role = Role.GRAPH


class KeyValueContract(StoreContract):
    role = Role.REDIS


class TimeSeriesContract(StoreContract):
    role = Role.TIMESERIES
