"""Sessions in Redis (`embedded`: the keyvalue role's server), one key per session with the idle timeout as its
TTL, and a set per user of their sessions' hashes (for "sign out everywhere"). Keys carry hash tags, so that each
operation's keys share a Redis Cluster slot. Redis may lose them in a crash (``durable = False``):
services/sessions.py keeps a copy in PostgreSQL for its outages."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from polysocial.config import StoreURL
from polysocial.domain.accounts import Session, UserRole
from polysocial.logging import get_logger
from polysocial.stores.base import Adapter, EngineInfo, describe
from polysocial.stores.breaker import StoreOptions
from polysocial.stores.redis_pool import RedisBacked

# Idle timer restart bounded by the absolute end: TTL = min(idle, absolute end - now). One round trip.
READ_SCRIPT = """
local raw = redis.call('GET', KEYS[1])
if not raw then return nil end
local session = cjson.decode(raw)
local t = redis.call('TIME')
local now = tonumber(t[1])
local left = session['created_at'] + tonumber(ARGV[2]) - now
if left <= 0 then
  redis.call('DEL', KEYS[1])
  return nil
end
redis.call('EXPIRE', KEYS[1], math.max(1, math.min(tonumber(ARGV[1]), math.floor(left))))
return raw
"""

PATTERNS = ("session:*", "user-sessions:*")
# Revocations, broadcast to every process (classic pub/sub: on a Redis Cluster, every node relays it to all)
REVOKED_CHANNEL = "sessions:revoked"
RESUBSCRIBE_S = 1.0  # after a lost subscription, the wait before the next try

log = get_logger(__name__)


def session_key(token_hash: str) -> str:
    return f"session:{{{token_hash}}}"


def user_sessions_key(user_id: int) -> str:
    return f"user-sessions:{{{user_id}}}"


class RedisSessionStore(RedisBacked):
    durable = False  # a restart may lose them: services/sessions.py keeps a PostgreSQL copy
    _unguarded = Adapter._unguarded | {"watch_revocations"}  # a loop for the process's life, not one call

    def __init__(self, location: StoreURL, options: StoreOptions | None = None) -> None:
        super().__init__(location, options)
        self._read: AsyncScript | None = None

    def _connected(self, client: Redis) -> None:
        self._read = client.register_script(READ_SCRIPT)

    async def engine_info(self) -> EngineInfo:
        return EngineInfo("Redis", await self.redis_version(), "a key per session, TTL = idle timeout")

    async def wipe(self) -> None:
        for pattern in PATTERNS:
            async for key in self.client.scan_iter(match=pattern, count=1000):
                await self.client.delete(key)

    async def item_count(self) -> int:
        return len([k async for k in self.client.scan_iter(match=PATTERNS[0], count=1000)])

    # -- sessions -------------------------------------------------------------------------------------------------

    async def create(self, token_hash: str, session: Session, *, idle_s: int, absolute_s: int) -> None:
        value = json.dumps({"user_id": session.user_id, "role": session.role.value, "created_at": session.created_at})
        index = user_sessions_key(session.user_id)
        # Two slots: a pipeline, not a transaction. The index may name a session that has gone; never the reverse.
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.sadd(index, token_hash)
            pipe.expire(index, absolute_s)
            pipe.set(session_key(token_hash), value, ex=min(idle_s, absolute_s))
            await pipe.execute()

    async def read(self, token_hash: str, *, idle_s: int, absolute_s: int) -> Session | None:
        assert self._read is not None
        raw = await self._read(keys=[session_key(token_hash)], args=[idle_s, absolute_s])
        if raw is None:
            return None
        data = json.loads(raw)
        return Session(int(data["user_id"]), UserRole(data["role"]), float(data["created_at"]))

    async def revoke(self, token_hash: str, *, absolute_s: int) -> None:
        await self.client.delete(session_key(token_hash))

    async def revoke_user(self, user_id: int, *, absolute_s: int) -> None:
        index = user_sessions_key(user_id)
        hashes = await self.client.smembers(index)
        async with self.client.pipeline(transaction=False) as pipe:
            for token_hash in hashes:
                pipe.delete(session_key(token_hash.decode() if isinstance(token_hash, bytes) else token_hash))
            if hashes:
                pipe.srem(index, *hashes)  # only those read: a session opened meanwhile stays listed
            await pipe.execute()

    # -- revocations (RevocationChannel) --------------------------------------------------------------------------

    async def announce_revoked(self, subject: str) -> None:
        await self.client.publish(REVOKED_CHANNEL, subject)

    async def watch_revocations(
        self, stop: asyncio.Event, *, on_live: Callable[[bool], None], on_revoked: Callable[[str], None]
    ) -> None:
        quiet = False  # one warning per outage, not one per second of it

        def live(now: bool) -> None:
            nonlocal quiet
            quiet = quiet and not now
            on_live(now)

        while not stop.is_set():
            try:
                await self._listen(stop, live, on_revoked)
            except Exception as exc:  # the server went away: announcements may be missed until resubscribed
                on_live(False)
                if not quiet:
                    reason = describe(exc, self.location.url)
                    log.warning("session revocations unheard: sessions read from the store", error=reason)
                quiet = True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=RESUBSCRIBE_S)
        on_live(False)

    async def _listen(
        self, stop: asyncio.Event, on_live: Callable[[bool], None], on_revoked: Callable[[str], None]
    ) -> None:
        pubsub = self.client.pubsub()
        try:
            await pubsub.subscribe(REVOKED_CHANNEL)
            while not stop.is_set():
                message = await pubsub.get_message(timeout=1.0)
                if message is None:
                    continue
                if message["type"] == "subscribe":
                    on_live(True)
                elif message["type"] == "message":
                    data = message["data"]
                    on_revoked(data.decode() if isinstance(data, bytes) else str(data))
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
