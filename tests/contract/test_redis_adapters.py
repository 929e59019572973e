"""The adapters on the embedded Redis server: the keyvalue and sessions roles (Redis) and the graph role (the FalkorDB
module)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis

from polysocial.config import Role, StoreURL
from polysocial.domain.accounts import Session, UserRole
from polysocial.domain.ids import new_id
from polysocial.engines.embedded import EmbeddedEngines
from polysocial.engines.redis_cluster import RedisClusterNodes
from polysocial.services.sessions import SESSION_CACHE_S, SessionPolicy, Sessions, token_hash
from polysocial.stores.graph.falkordb import FalkorGraphStore
from polysocial.stores.keyvalue import timelines as timelines_module
from polysocial.stores.keyvalue.protocol import TimelineKind
from polysocial.stores.keyvalue.redis import RedisKeyValueStore
from polysocial.stores.keyvalue.timelines import (
    TIMELINE_TTL_S,
    TTL_REFRESH_S,
    celebrities_key,
    likes_keys,
    timeline_key,
)
from polysocial.stores.sessions.redis import RedisSessionStore, session_key
from tests.contract.analytics import LeaderboardContract
from tests.contract.base import SECRET, FollowGraphContract, KeyValueContract, SessionContract
from tests.contract.timelines import TimelineContract

pytestmark = pytest.mark.contract

HOME = TimelineKind.HOME
USER = TimelineKind.USER


class RedisEngine:
    engine = "Redis"
    unreachable_url = f"redis://:{SECRET}@127.0.0.1:1/0"

    @pytest.fixture(scope="class")
    @classmethod
    def url(cls, embedded_engines: EmbeddedEngines) -> str:
        return embedded_engines.redis.url


class TestRedisKeyValue(RedisEngine, KeyValueContract, TimelineContract, LeaderboardContract):
    adapter = RedisKeyValueStore

    async def test_a_read_restarts_the_timelines_clocks_at_most_hourly_and_otherwise_writes_nothing(
        self, store: RedisKeyValueStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        tl = store.timelines
        assert tl is not None
        posts = [new_id(1_700_000_000_000 + i) for i in range(3)]
        home = [timeline_key(HOME, 9), celebrities_key(9), likes_keys(9)[0]]
        user = timeline_key(USER, 9)
        for kind in (HOME, USER):
            assert await tl.timeline_begin_rebuild(kind, 9)
            await tl.timeline_finish_rebuild(kind, 9, posts)
        assert await tl.reader_likes_fill(9, posts[:1], generation=0)

        async def clocks() -> list[int]:
            return [await tl.client.ttl(key) for key in [*home, user]]

        async def read() -> None:
            page = await tl.timeline_read_cached(HOME, 9, before=None, limit=10, cache_prefix=b"feeditem:")
            assert page is not None
            assert page.liked == [False, False, True]
            assert await tl.timeline_read(USER, 9, before=None, limit=10) == (posts[::-1], set())

        async def wound_back() -> None:
            for key in [*home, user]:
                await tl.client.expire(key, 100)

        await wound_back()
        await read()  # this process's first read of them: every clock restarted
        assert all(ttl > TIMELINE_TTL_S - 60 for ttl in await clocks())
        await wound_back()
        await read()  # read again within the hour: no write, the clocks run on
        assert all(0 < ttl <= 100 for ttl in await clocks())
        later = time.monotonic() + TTL_REFRESH_S + 1
        monkeypatch.setattr(timelines_module, "monotonic", lambda: later)
        await read()  # an hour on: restarted again
        assert all(ttl > TIMELINE_TTL_S - 60 for ttl in await clocks())


class CountedSessionStore(RedisSessionStore):
    """The Redis session store, counting its reads; ``after_read`` (when set) runs between the store's answer and
    its return."""

    guard_methods = False  # the reads it wraps are guarded already

    def __init__(self, location: StoreURL) -> None:
        super().__init__(location)
        self.reads: list[str] = []
        self.after_read: Callable[[], Awaitable[None]] | None = None

    async def read(self, token_hash: str, *, idle_s: int, absolute_s: int) -> Session | None:
        self.reads.append(token_hash)
        found = await super().read(token_hash, idle_s=idle_s, absolute_s=absolute_s)
        if self.after_read is not None:
            await self.after_read()
        return found


@dataclass
class Process:
    """One server process's view of the sessions: its own client, its own memory, its own subscription."""

    sessions: Sessions
    store: CountedSessionStore


async def eventually(check: Callable[[], Awaitable[bool]], within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.01)
    return await check()


def gone(sessions: Sessions, token: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await sessions.resolve(token) is None

    return check


def subscribed(sessions: Sessions) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return sessions.caching

    return check


class RevocationContract:
    """Sessions kept in each process's memory (services/sessions.py), on this Redis: two processes share it, each
    with its own client and subscription. A revoked session must stop working in the other process as soon as the
    announcement arrives, long before the memory's own expiry (SESSION_CACHE_S): every deadline here is below it."""

    @pytest.fixture
    async def processes(self, url: str) -> AsyncIterator[list[Process]]:
        made: list[Process] = []
        async with contextlib.AsyncExitStack() as stack:
            stop = asyncio.Event()
            tasks = []
            for _ in range(2):
                store = CountedSessionStore(StoreURL(Role.SESSIONS, url))
                await store.open()
                stack.push_async_callback(store.close)
                sessions = Sessions(store, SessionPolicy(), backup=None)
                tasks.append(asyncio.create_task(sessions.run_forever(stop)))
                made.append(Process(sessions, store))
            try:
                for p in made:
                    assert await eventually(subscribed(p.sessions), 5.0), "never subscribed"
                yield made
            finally:
                stop.set()
                await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)

    async def test_a_sign_out_in_one_process_ends_the_session_in_the_others_memory(
        self, processes: list[Process]
    ) -> None:
        one, other = processes
        token = await one.sessions.open(7, UserRole.USER)
        kept = await one.sessions.open(8, UserRole.USER)
        for t in (token, kept):
            assert await other.sessions.resolve(t) is not None
        reads = len(other.store.reads)
        assert (await other.sessions.resolve(token)) is not None
        assert len(other.store.reads) == reads, "a session resolved a moment ago is read from memory"
        await one.sessions.close(token)
        assert await one.sessions.resolve(token) is None
        assert await eventually(gone(other.sessions, token), SESSION_CACHE_S / 5)
        reads = len(other.store.reads)
        assert await other.sessions.resolve(kept) is not None
        assert len(other.store.reads) == reads, "another user's session stays in memory"

    async def test_signing_out_everywhere_ends_every_session_of_that_user_in_the_others_memory(
        self, processes: list[Process]
    ) -> None:
        one, other = processes
        mine = [await one.sessions.open(7, UserRole.USER) for _ in range(3)]
        theirs = await one.sessions.open(8, UserRole.USER)
        for t in (*mine, theirs):
            assert await other.sessions.resolve(t) is not None
        await one.sessions.close_all(7)
        for t in mine:
            assert await eventually(gone(other.sessions, t), SESSION_CACHE_S / 5)
        assert await other.sessions.resolve(theirs) is not None

    async def test_a_session_read_while_a_revocation_arrives_is_not_kept(self, processes: list[Process]) -> None:
        one, other = processes
        token = await one.sessions.open(7, UserRole.USER)
        entered, release = asyncio.Event(), asyncio.Event()

        async def pause() -> None:
            entered.set()
            await release.wait()  # the announcement arrives after the store answered, before it is kept

        other.store.after_read = pause
        reading = asyncio.create_task(other.sessions.resolve(token))
        await entered.wait()
        await one.sessions.close(token)
        await asyncio.sleep(0.2)  # the announcement's way to the other process
        release.set()
        assert await reading is not None  # it was live when read
        other.store.after_read = None
        assert await other.sessions.resolve(token) is None, "the session read during the announcement was kept"


class TestRedisSessions(RedisEngine, SessionContract, RevocationContract):
    adapter = RedisSessionStore

    async def test_a_lost_subscription_forgets_every_session_in_memory(
        self, processes: list[Process], url: str
    ) -> None:
        """Announcements sent while a process is unsubscribed are lost to it: so it drops what it held, and keeps
        nothing until subscribed again."""
        one, other = processes
        token = await one.sessions.open(7, UserRole.USER)
        assert await other.sessions.resolve(token) is not None
        admin = Redis.from_url(url)
        try:
            assert await admin.client_kill_filter(_type="pubsub") >= 2
            # Revoked behind the processes' backs: no announcement. Only forgetting on the loss ends it.
            await admin.delete(session_key(token_hash(token)))
        finally:
            await admin.aclose()
        assert await eventually(gone(other.sessions, token), SESSION_CACHE_S / 2)


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


class TestRedisClusterSessions(RedisClusterEngine, SessionContract, RevocationContract):
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
