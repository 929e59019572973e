"""Values cached together expire apart (services/cache.py): the reads after one moment's expiry would otherwise all
miss at once and go to the source in one burst."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, cast

import orjson

from polysocial.services.cache import TTL_SPREAD, cache_aside_many, spread_ttl
from polysocial.stores.keyvalue.protocol import TimelineStore


def test_a_spread_ttl_stays_within_the_promise_and_uses_the_whole_range() -> None:
    rng = random.Random(7)
    seen = {spread_ttl(30, rng) for _ in range(2_000)}
    assert seen == set(range(23, 31))  # ceil(30 * 0.75) .. 30: never longer than promised
    assert {spread_ttl(1, rng) for _ in range(50)} == {1}
    assert {spread_ttl(2, rng) for _ in range(50)} == {2}  # ceil(1.5): never below one second, never above the TTL
    assert min(spread_ttl(300, rng) for _ in range(2_000)) >= 300 * (1 - TTL_SPREAD)


class RecordingCache:
    """The batched cache verbs cache_aside_many calls, remembering what was stored."""

    def __init__(self) -> None:
        self.stored: list[tuple[str, bytes, int, int]] = []

    async def cache_get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        return [None] * len(keys)

    async def cache_generations(self, keys: Sequence[str]) -> list[int]:
        return [0] * len(keys)

    async def cache_set_many(self, entries: Sequence[tuple[str, bytes, int, int]]) -> None:
        self.stored.extend(entries)


async def test_values_loaded_in_one_batch_are_stored_with_spread_ttls() -> None:
    cache = RecordingCache()

    async def load(missing: list[int]) -> dict[int, Any]:
        return {i: {"n": i} for i in missing if i % 10}  # every tenth is gone: cached as null

    found = await cache_aside_many(
        cast(TimelineStore, cache), list(range(200)), lambda i: f"k:{i}", ttl_s=30, load=load
    )
    assert found == {i: {"n": i} for i in range(200) if i % 10}
    assert [key for key, *_ in cache.stored] == [f"k:{i}" for i in range(200)]
    assert cache.stored[0][1] == b"null"
    assert orjson.loads(cache.stored[1][1]) == {"n": 1}
    ttls = [ttl for *_, ttl in cache.stored]
    assert all(23 <= t <= 30 for t in ttls)
    assert len(set(ttls)) >= 4  # 200 draws of 8 values: not one moment of expiry
