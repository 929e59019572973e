"""Cache-aside, safe against a stampede: on a miss one caller recomputes (it holds a short lock) while the others
wait for its value; a value computed before an invalidation is never stored after it (cache generations)."""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson

from polysocial.stores.keyvalue.protocol import CacheKey, KeyValueStore, TimelineStore

K = TypeVar("K", bound=Hashable)

LOCK_TTL_S = 5.0
WAIT_S = 2.0
POLL_S = 0.01
# Values stored together would expire together, and the reads after that moment would all miss at once and go to the
# source in one burst: under an open-loop load that burst was the feed's p99 (every 30 s, a second of pages at
# 100-300 ms, when the posts cached in one second all expired in one second). So each value lives between three
# quarters of its TTL and all of it: the expiries spread out, further with each refill, and no value outlives the
# TTL its cache promises.
TTL_SPREAD = 0.25
GONE = orjson.dumps(None)  # what a value that does not exist is cached as
_spread = random.Random()  # noqa: S311 - jitter, not a secret (an instance of our own: see events/retry.py)


def spread_ttl(ttl_s: int, rng: random.Random = _spread) -> int:
    """A TTL between (1 - TTL_SPREAD) * ``ttl_s`` and ``ttl_s``, whole seconds, at least 1."""
    return rng.randint(max(1, math.ceil(ttl_s * (1 - TTL_SPREAD))), max(1, ttl_s))


async def cache_aside(
    keyvalue: KeyValueStore,
    key: str,
    *,
    ttl_s: int,
    load: Callable[[], Awaitable[bytes | None]],
    lock_ttl_s: float = LOCK_TTL_S,
    wait_s: float = WAIT_S,
) -> bytes | None:
    """The cached value of ``key``, or ``load()``'s, stored for at most ``ttl_s`` (spread_ttl). ``None`` from load is
    not cached."""
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
                    await keyvalue.cache_set(key, value, ttl_s=spread_ttl(ttl_s), generation=generation)
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
    key: Callable[[K], CacheKey],
    *,
    ttl_s: int,
    load: Callable[[list[K]], Awaitable[dict[K, Any]]],
    tally: CacheTally | None = None,
    known: Mapping[K, bytes | None] | None = None,
    rendered: bool = False,
) -> dict[K, Any]:
    """JSON values of ``items``: one MGET, the misses loaded in one batch and stored for at most ``ttl_s`` each
    (spread_ttl), unless invalidated meanwhile (generations are read before the load). An item ``load`` does not
    return is cached as gone and left out. ``tally`` counts the hits and misses; ``known``: the cache's raw values
    already read for some items (no MGET for those). ``rendered``: the values as their JSON text (bytes), as
    cached, not decoded."""
    known = known or {}
    unknown = [i for i in items if i not in known]
    read = dict(zip(unknown, await cache.cache_get_many([key(i) for i in unknown]), strict=True)) if unknown else {}
    found: dict[K, Any] = {}
    missing: list[K] = []
    for item in items:
        raw = known[item] if item in known else read[item]
        if raw is None:
            missing.append(item)
        elif raw != GONE:
            found[item] = raw if rendered else orjson.loads(raw)
    if tally is not None:
        tally.misses += len(missing)
        tally.hits += len(items) - len(missing)
    if missing:
        generations = await cache.cache_generations([key(i) for i in missing])
        loaded = await load(missing)
        texts = [orjson.dumps(loaded.get(i)) for i in missing]
        entries = zip(missing, texts, generations, strict=True)
        await cache.cache_set_many([(key(i), text, g, spread_ttl(ttl_s)) for i, text, g in entries])
        if rendered:
            found.update((i, text) for i, text in zip(missing, texts, strict=True) if i in loaded)
        else:
            found.update(loaded)
    return found
