"""The in-memory sessions of services/sessions.py: what is kept, and for how long (pure logic: a store in a dict; the
revocations across processes are tested on Redis, tests/contract/test_redis_adapters.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from polysocial.domain.accounts import Session, UserRole
from polysocial.services import sessions as module
from polysocial.services.sessions import SessionPolicy, Sessions, token_hash


class DictStore:
    """A session store with a revocation channel, in a dict; ``reads`` counts the store reads."""

    durable = False

    def __init__(self) -> None:
        self.data: dict[str, Session] = {}
        self.reads = 0

    async def read(self, token_hash: str, *, idle_s: int, absolute_s: int) -> Session | None:
        self.reads += 1
        return self.data.get(token_hash)

    async def announce_revoked(self, subject: str) -> None:
        pass

    async def watch_revocations(
        self, stop: asyncio.Event, *, on_live: Callable[[bool], None], on_revoked: Callable[[str], None]
    ) -> None:
        on_live(True)
        await stop.wait()
        on_live(False)


async def live(store: DictStore, policy: SessionPolicy | None = None) -> tuple[Sessions, asyncio.Event]:
    sessions = Sessions(store, policy or SessionPolicy(), backup=None)  # type: ignore[arg-type]
    stop = asyncio.Event()
    asyncio.get_running_loop().create_task(sessions.run_forever(stop))
    await asyncio.sleep(0)
    assert sessions.caching
    return sessions, stop


async def test_nothing_is_kept_without_a_subscription() -> None:
    store = DictStore()
    store.data[token_hash("t")] = Session(1, UserRole.USER, time.time())
    sessions = Sessions(store, SessionPolicy(), backup=None)  # type: ignore[arg-type]
    for _ in range(3):
        assert await sessions.resolve("t") is not None
    assert store.reads == 3


async def test_a_session_is_kept_for_the_memory_s_and_never_past_its_absolute_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = DictStore()
    now = time.time()
    store.data[token_hash("young")] = Session(1, UserRole.USER, now)
    store.data[token_hash("ending")] = Session(2, UserRole.USER, now - 3600 + 0.3)  # 0.3 s before its end
    sessions, stop = await live(store, SessionPolicy(idle_s=60, absolute_s=3600))
    monkeypatch.setattr(module, "SESSION_CACHE_S", 3.0)
    for name in ("young", "ending", "young", "ending"):
        assert await sessions.resolve(name) is not None
    assert store.reads == 2
    await asyncio.sleep(0.6)  # past the ending session's absolute end, within the memory's time
    assert await sessions.resolve("young") is not None
    assert store.reads == 2
    await sessions.resolve("ending")
    assert store.reads == 3, "a session past its absolute end was answered from memory"
    await asyncio.sleep(3.0)  # past the memory's time
    assert await sessions.resolve("young") is not None
    assert store.reads == 4
    stop.set()


async def test_unknown_tokens_are_not_kept_and_the_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    store = DictStore()
    monkeypatch.setattr(module, "SESSION_CACHE_ENTRIES", 3)
    sessions, stop = await live(store)
    for _ in range(2):
        assert await sessions.resolve("nobody") is None
    assert store.reads == 2
    for i in range(5):
        store.data[token_hash(f"t{i}")] = Session(i, UserRole.USER, time.time())
        await sessions.resolve(f"t{i}")
    assert len(sessions._cache) == 3
    reads = store.reads
    await sessions.resolve("t0")  # the oldest went first
    await sessions.resolve("t4")
    assert store.reads == reads + 1
    stop.set()
