"""Cache-aside, safe against a stampede: on a miss one caller recomputes (it holds a short lock) while the others
wait for its value; a value computed before an invalidation is never stored after it (cache generations)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from polysocial.stores.redis.protocol import KeyValueStore

LOCK_TTL_S = 5.0
WAIT_S = 2.0
POLL_S = 0.01


async def cache_aside(
    kv: KeyValueStore,
    key: str,
    *,
    ttl_s: int,
    load: Callable[[], Awaitable[bytes | None]],
    lock_ttl_s: float = LOCK_TTL_S,
    wait_s: float = WAIT_S,
) -> bytes | None:
    """The cached value of ``key``, or ``load()``'s, stored for ``ttl_s``. ``None`` from load is not cached."""
    cached = await kv.cache_get(key)
    if cached is not None:
        return cached
    deadline = time.monotonic() + wait_s
    while True:
        # The generation is read before the source, so an invalidation that lands during the load wins.
        generation = await kv.cache_generation(key)
        token = await kv.lock_acquire(key, ttl_s=lock_ttl_s)
        if token is not None:
            try:
                # Double-checked: the previous holder may have stored the value just before we got the lock.
                cached = await kv.cache_get(key)
                if cached is not None:
                    return cached
                value = await load()
                if value is not None:
                    await kv.cache_set(key, value, ttl_s=ttl_s, generation=generation)
                return value
            finally:
                await kv.lock_release(key, token)
        await asyncio.sleep(POLL_S)
        cached = await kv.cache_get(key)
        if cached is not None:
            return cached
        if time.monotonic() >= deadline:  # the holder is slow or gone: answer from the source, uncached
            return await load()
