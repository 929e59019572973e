"""Cache-aside, safe against a stampede: on a miss one caller recomputes (it holds a short lock) while the others
wait for its value; a value computed before an invalidation is never stored after it (cache generations)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson

from polysocial.stores.keyvalue.protocol import KeyValueStore, TimelineStore

K = TypeVar("K", bound=Hashable)

LOCK_TTL_S = 5.0
WAIT_S = 2.0
POLL_S = 0.01


async def cache_aside(
    keyvalue: KeyValueStore,
    key: str,
    *,
    ttl_s: int,
    load: Callable[[], Awaitable[bytes | None]],
    lock_ttl_s: float = LOCK_TTL_S,
    wait_s: float = WAIT_S,
) -> bytes | None:
    """The cached value of ``key``, or ``load()``'s, stored for ``ttl_s``. ``None`` from load is not cached."""
    cached = await keyvalue.cache_get(key)
    if cached is not None:
        return cached
    deadline = time.monotonic() + wait_s
    while True:
        # The generation is read before the source, so an invalidation that lands during the load wins.
        generation = await keyvalue.cache_generation(key)
        token = await keyvalue.lock_acquire(key, ttl_s=lock_ttl_s)
        if token is not None:
            try:
                # Double-checked: the previous holder may have stored the value just before we got the lock.
                cached = await keyvalue.cache_get(key)
                if cached is not None:
                    return cached
                value = await load()
                if value is not None:
                    await keyvalue.cache_set(key, value, ttl_s=ttl_s, generation=generation)
                return value
            finally:
                await keyvalue.lock_release(key, token)
        await asyncio.sleep(POLL_S)
        cached = await keyvalue.cache_get(key)
        if cached is not None:
            return cached
        if time.monotonic() >= deadline:  # the holder is slow or gone: answer from the source, uncached
            return await load()


@dataclass
class CacheTally:
    """Lookups of one cache in this process (the metrics' hit ratio)."""

    hits: int = 0
    misses: int = 0


async def cache_aside_many(
    cache: TimelineStore,
    items: Sequence[K],
    key: Callable[[K], str],
    *,
    ttl_s: int,
    load: Callable[[list[K]], Awaitable[dict[K, Any]]],
    tally: CacheTally | None = None,
    known: Mapping[K, bytes | None] | None = None,
) -> dict[K, Any]:
    """JSON values of ``items``: one MGET, the misses loaded in one batch and stored (unless invalidated meanwhile:
    generations are read before the load). An item ``load`` does not return is cached as gone and left out.
    ``tally`` counts the hits and misses; ``known``: the cache's raw values already read for some items (no MGET
    for those)."""
    known = known or {}
    unknown = [i for i in items if i not in known]
    read = dict(zip(unknown, await cache.cache_get_many([key(i) for i in unknown]), strict=True)) if unknown else {}
    found: dict[K, Any] = {}
    missing: list[K] = []
    for item in items:
        raw = known[item] if item in known else read[item]
        if raw is None:
            missing.append(item)
        elif (value := orjson.loads(raw)) is not None:  # null: cached as gone
            found[item] = value
    if tally is not None:
        tally.misses += len(missing)
        tally.hits += len(items) - len(missing)
    if missing:
        generations = await cache.cache_generations([key(i) for i in missing])
        loaded = await load(missing)
        found.update(loaded)
        entries = [(key(i), orjson.dumps(loaded.get(i)), g) for i, g in zip(missing, generations, strict=True)]
        await cache.cache_set_many(entries, ttl_s=ttl_s)
    return found
