"""The keyvalue role on Redis (`embedded` and `seed`), through redis.asyncio.

Keys carry hash tags (``{...}``) so that the keys one operation touches share a Redis Cluster slot. Every
multi-step operation is one Lua script: atomic on the server, one round trip.
"""

from __future__ import annotations

import secrets
from typing import cast

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from polysocial.config import StoreURL
from polysocial.domain.analytics import Ranked
from polysocial.domain.limits import RateDecision, RateLimit
from polysocial.stores.base import EngineInfo, guard
from polysocial.stores.breaker import StoreOptions
from polysocial.stores.keyvalue.timelines import (
    CACHE_INVALIDATE_SCRIPT,
    CACHE_SET_SCRIPT,
    GENERATION_TTL_S,
    RedisTimelines,
    cache_keys,
)
from polysocial.stores.redis_pool import RedisBacked

# GCRA (see domain/limits.py for the same arithmetic in Python). The server's clock, so app servers may disagree.
# Returns {allowed, retry_after_ms, remaining}. SET ... PX stores the value and its expiry in one command.
GCRA_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]))
local base = now
if tat and tat > now then base = tat end
local steps = cost
if steps < 1 then steps = 1 end
local new_tat = base + interval * steps
local allow_at = new_tat - interval * limit
if now < allow_at then
  return {0, math.ceil(allow_at - now), 0}
end
local remaining = math.floor((now - allow_at) / interval)
if cost == 0 then
  return {1, 0, remaining + 1}
end
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.max(1, math.ceil(new_tat - now)))
return {1, 0, remaining}
"""

LOCK_RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS[1] cart; ARGV[1] product, ARGV[2] delta, ARGV[3] ttl. The field "_" marks a cart that exists, even empty.
CART_ADD_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local quantity = redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
if quantity <= 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
  quantity = 0
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return quantity
"""

CART_SET_LINE_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if tonumber(ARGV[2]) <= 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
return 1
"""
CART_MARK = "_"


def rate_key(key: str) -> str:
    return f"ratelimit:{{{key}}}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def cart_key(user_id: int) -> str:
    return f"cart:{{{user_id}}}"


def board_key(board: str) -> str:
    return f"board:{{{board}}}"


def _board_name(key: bytes | str) -> str:
    """The board's name in its key (``board:{name}``)."""
    return _text(key)[len("board:{") : -1]


def lock_key(key: str) -> str:
    return f"lock:{{{key}}}"


def position_key(user_id: int) -> str:
    return f"ryw:{{{user_id}}}"


class RedisKeyValueStore(RedisBacked):
    def __init__(self, location: StoreURL, options: StoreOptions | None = None) -> None:
        super().__init__(location, options)
        self._scripts: dict[str, AsyncScript] = {}
        self._timelines = RedisTimelines(self)

    @property
    def timelines(self) -> RedisTimelines:
        return self._timelines

    def _connected(self, client: Redis) -> None:
        self._scripts = {
            "gcra": client.register_script(GCRA_SCRIPT),
            "cache_set": client.register_script(CACHE_SET_SCRIPT),
            "cache_invalidate": client.register_script(CACHE_INVALIDATE_SCRIPT),
            "lock_release": client.register_script(LOCK_RELEASE_SCRIPT),
            "cart_add": client.register_script(CART_ADD_SCRIPT),
            "cart_set_line": client.register_script(CART_SET_LINE_SCRIPT),
        }
        self._timelines.bind(client)

    @guard
    async def wipe(self) -> None:
        # Every key but a FalkorDB graph's: in `embedded` the graph shares this server and is the graph role's.
        async for key in self.client.scan_iter(count=1000):
            if await self.client.type(key) != b"graphdata":
                await self.client.delete(key)

    @guard
    async def item_count(self) -> int:
        return len([k async for k in self.client.scan_iter(count=1000) if await self.client.type(k) != b"graphdata"])

    async def engine_info(self) -> EngineInfo:
        return EngineInfo("Redis", await self.redis_version())

    # -- rate limiting --------------------------------------------------------------------------------------------

    @guard
    async def rate_limit(self, key: str, rule: RateLimit, *, cost: int = 1) -> RateDecision:
        allowed, retry_ms, remaining = await self.run_script(
            self._scripts["gcra"], keys=[rate_key(key)], args=[rule.interval_ms, rule.limit, cost]
        )
        return RateDecision(bool(allowed), int(retry_ms) / 1000, int(remaining))

    # -- cache ----------------------------------------------------------------------------------------------------

    @guard
    async def cache_get(self, key: str) -> bytes | None:
        value = await self.client.get(cache_keys(key)[0])
        return value.encode() if isinstance(value, str) else value

    @guard
    async def cache_generation(self, key: str) -> int:
        value = await self.client.get(cache_keys(key)[1])
        return int(value) if value is not None else 0

    @guard
    async def cache_set(self, key: str, value: bytes, *, ttl_s: int, generation: int) -> bool:
        stored = await self.run_script(
            self._scripts["cache_set"], keys=list(cache_keys(key)), args=[value, str(generation), ttl_s]
        )
        return bool(stored)

    @guard
    async def cache_invalidate(self, key: str) -> None:
        await self.run_script(self._scripts["cache_invalidate"], keys=list(cache_keys(key)), args=[GENERATION_TTL_S])

    # -- live carts ---------------------------------------------------------------------------------------------------

    @guard
    async def cart_add(self, user_id: int, product_id: int, delta: int, *, ttl_s: int) -> int | None:
        found = await self.run_script(
            self._scripts["cart_add"], keys=[cart_key(user_id)], args=[product_id, delta, ttl_s]
        )
        return None if found is None else int(found)

    @guard
    async def cart_get(self, user_id: int) -> dict[int, int] | None:
        found = await self.client.hgetall(cart_key(user_id))
        if not found:
            return None
        return {int(k): int(v) for k, v in found.items() if k not in (CART_MARK, CART_MARK.encode())}

    @guard
    async def cart_put(self, user_id: int, lines: dict[int, int], *, ttl_s: int) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(cart_key(user_id))
        pipe.hset(cart_key(user_id), mapping={CART_MARK: 1, **{str(p): q for p, q in lines.items() if q > 0}})
        pipe.expire(cart_key(user_id), ttl_s)
        await pipe.execute()

    @guard
    async def cart_set_line(self, user_id: int, product_id: int, quantity: int) -> None:
        await self.run_script(self._scripts["cart_set_line"], keys=[cart_key(user_id)], args=[product_id, quantity])

    @guard
    async def cart_drop(self, user_id: int) -> None:
        await self.client.delete(cart_key(user_id))

    # -- leaderboards -------------------------------------------------------------------------------------------------

    @guard
    async def board_submit(self, board: str, member: str, score: float, *, keep_best: bool) -> float:
        key = board_key(board)
        if keep_best:
            pipe = self.client.pipeline(transaction=True)
            pipe.zadd(key, {member: score}, gt=True)
            pipe.zscore(key, member)
            _, stored = await pipe.execute()
            return float(stored)
        stored = await self.client.zincrby(key, score, member)
        return float(stored or 0)

    @guard
    async def board_add(self, board: str, increments: dict[str, float], *, ttl_s: int | None = None) -> None:
        pipe = self.client.pipeline(transaction=False)
        for member, amount in increments.items():
            pipe.zincrby(board_key(board), amount, member)
        if ttl_s is not None:
            pipe.expire(board_key(board), ttl_s)
        await pipe.execute()

    @guard
    async def board_top(self, board: str, *, limit: int) -> list[Ranked]:
        # redis-py types every reply as Any (its commands serve sync and async clients alike); with
        # withscores=True, ZREVRANGE answers (member, score) pairs.
        rows = cast(
            list[tuple[bytes, float]], await self.client.zrevrange(board_key(board), 0, limit - 1, withscores=True)
        )
        return [Ranked(_text(m), float(s), i + 1) for i, (m, s) in enumerate(rows)]

    @guard
    async def board_rank(self, board: str, member: str) -> Ranked | None:
        pipe = self.client.pipeline(transaction=True)
        pipe.zrevrank(board_key(board), member)
        pipe.zscore(board_key(board), member)
        position, score = await pipe.execute()
        return None if position is None else Ranked(member, float(score), int(position) + 1)

    async def _boards(self) -> list[bytes | str]:
        """Every board's key: a SCAN (an operator's export or erasure, never a request's path)."""
        return [key async for key in self.client.scan_iter(match=board_key("*"), count=1000)]

    @guard
    async def board_scores(self, member: str) -> dict[str, float]:
        keys = await self._boards()
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.zscore(key, member)
        scores = await pipe.execute() if keys else []
        return {_board_name(key): float(score) for key, score in zip(keys, scores, strict=True) if score is not None}

    @guard
    async def board_forget(self, member: str) -> int:
        keys = await self._boards()
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.zrem(key, member)
        return sum(await pipe.execute()) if keys else 0

    # -- locks ----------------------------------------------------------------------------------------------------

    @guard
    async def lock_acquire(self, key: str, *, ttl_s: float) -> str | None:
        token = secrets.token_hex(16)
        acquired = await self.client.set(lock_key(key), token, nx=True, px=max(1, int(ttl_s * 1000)))
        return token if acquired else None

    @guard
    async def lock_release(self, key: str, token: str) -> None:
        await self.run_script(self._scripts["lock_release"], keys=[lock_key(key)], args=[token])

    # -- read-your-writes positions -------------------------------------------------------------------------------

    @guard
    async def position_put(self, user_id: int, position: str, *, ttl_s: float) -> None:
        await self.client.set(position_key(user_id), position, px=max(1, int(ttl_s * 1000)))

    @guard
    async def position_get(self, user_id: int) -> str | None:
        found = await self.client.get(position_key(user_id))
        return None if found is None else _text(found)
