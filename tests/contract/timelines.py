"""The contract of a TimelineStore (stores/keyvalue/protocol.py): Redis is the only adapter today; a second one (a Redis
Cluster client, Valkey, DragonflyDB) would subclass this and have to give the same answers."""

from __future__ import annotations

import asyncio
import os

from polysocial.domain.ids import from_bytes, new_id, to_bytes
from polysocial.stores.keyvalue.protocol import CachedPage, KeyValueStore, ReaderLikes, TimelineKind, TimelineStore
from polysocial.stores.keyvalue.timelines import MAX_TIMELINE_ITEMS

HOME = TimelineKind.HOME
USER = TimelineKind.USER


def ids(n: int, start_ms: int = 1_700_000_000_000) -> list[str]:
    return [new_id(start_ms + i) for i in range(n)]


def raw(post_ids: list[str]) -> list[bytes]:
    """The ids as timelines hold them and pages give them: 16 bytes each."""
    return [to_bytes(i) for i in post_ids]


def timelines_of(store: KeyValueStore) -> TimelineStore:
    assert store.timelines is not None, "this adapter keeps no timelines"
    return store.timelines


class TimelineContract:
    async def test_a_timeline_is_not_ready_until_rebuilt_and_missing_ones_take_no_posts(
        self, store: KeyValueStore
    ) -> None:
        tl = timelines_of(store)
        posts = ids(3)
        assert await tl.timeline_read(HOME, 1, before=None, limit=10) is None
        assert not await tl.timeline_is_live(HOME, 1)
        assert await tl.timeline_push(HOME, [1, 2], posts[:1]) == 0  # nobody has a live timeline: nothing stored
        assert await tl.timeline_begin_rebuild(HOME, 1)
        assert await tl.timeline_is_live(HOME, 1)
        assert await tl.timeline_read(HOME, 1, before=None, limit=10) is None  # live, not ready
        assert await tl.timeline_push(HOME, [1, 2], posts[1:2]) == 1  # a post during the rebuild is kept
        await tl.timeline_finish_rebuild(HOME, 1, [posts[0]], [77])
        assert await tl.timeline_read(HOME, 1, before=None, limit=10) == ([posts[1], posts[0]], {77})
        assert not await tl.timeline_begin_rebuild(HOME, 1)  # ready already
        assert not await tl.timeline_is_live(HOME, 2)

    async def test_an_empty_timeline_stays_ready(self, store: KeyValueStore) -> None:
        tl = timelines_of(store)
        assert await tl.timeline_begin_rebuild(HOME, 5)
        await tl.timeline_finish_rebuild(HOME, 5, [])
        assert await tl.timeline_read(HOME, 5, before=None, limit=10) == ([], set())
        assert await tl.timeline_begin_rebuild(USER, 5)
        await tl.timeline_finish_rebuild(USER, 5, [])
        assert await tl.timeline_read(USER, 5, before=None, limit=10) == ([], set())

    async def test_pages_come_newest_first_below_the_cursor_and_the_cap_keeps_the_newest(
        self, store: KeyValueStore
    ) -> None:
        tl = timelines_of(store)
        posts = ids(MAX_TIMELINE_ITEMS + 50)
        assert await tl.timeline_begin_rebuild(USER, 9)
        await tl.timeline_finish_rebuild(USER, 9, posts[:10])
        for n, post in enumerate(posts[10:], start=11):
            await tl.timeline_push(USER, [9], [post])
            if n >= MAX_TIMELINE_ITEMS - 1:  # every push at and past the cap keeps exactly the cap
                page = await tl.timeline_read(USER, 9, before=None, limit=MAX_TIMELINE_ITEMS + 10)
                assert page is not None
                assert len(page[0]) == min(n, MAX_TIMELINE_ITEMS)
        newest = posts[-MAX_TIMELINE_ITEMS:][::-1]
        page = await tl.timeline_read(USER, 9, before=None, limit=MAX_TIMELINE_ITEMS + 10)
        assert page == (newest, set())
        second = await tl.timeline_read(USER, 9, before=newest[4], limit=3)
        assert second == (newest[5:8], set())
        assert await tl.timeline_read(USER, 9, before="7" + "Z" * 25, limit=2) == (newest[:2], set())
        assert await tl.timeline_read(USER, 9, before="Z" * 26, limit=2) == (newest[:2], set())  # beyond any id
        assert await tl.timeline_read(USER, 9, before="0" * 26, limit=2) == ([], set())
        # Several ids at once, one of them already there (ZADD adds it again as nothing): still the newest 800.
        more = ids(5, start_ms=1_800_000_000_000)
        assert await tl.timeline_push(USER, [9], [*more, newest[0]]) == 1
        page = await tl.timeline_read(USER, 9, before=None, limit=MAX_TIMELINE_ITEMS + 10)
        assert page == ([*more[::-1], *newest[: MAX_TIMELINE_ITEMS - 5]], set())

    async def test_removal_and_many_timelines_at_once(self, store: KeyValueStore) -> None:
        tl = timelines_of(store)
        posts = ids(4)
        for owner in (1, 2, 3):
            assert await tl.timeline_begin_rebuild(USER, owner)
            await tl.timeline_finish_rebuild(USER, owner, posts[:2])
        owners = list(range(1, 1_201))  # more than one script call's worth
        assert await tl.timeline_push(USER, owners, posts[2:]) == 3
        await tl.timeline_remove(USER, [1, 2, 99], [posts[3], posts[0]])
        many = await tl.timeline_read_many(USER, [1, 3, 4], before=None, limit=10)
        assert many == {1: raw([posts[2], posts[1]]), 3: raw(posts[::-1]), 4: None}

    async def test_celebrities_are_recorded_once_and_followed_only_by_live_home_timelines(
        self, store: KeyValueStore
    ) -> None:
        tl = timelines_of(store)
        assert await tl.celebrity_add(42)
        assert not await tl.celebrity_add(42)
        assert await tl.is_celebrity(42)
        assert not await tl.is_celebrity(43)
        assert await tl.celebrities_among([41, 42, 43]) == {42}
        await tl.celebrity_remove(42)
        assert not await tl.is_celebrity(42)
        assert await tl.celebrity_add(42)
        assert await tl.timeline_begin_rebuild(HOME, 1)
        await tl.timeline_finish_rebuild(HOME, 1, [])
        await tl.follow_celebrity([1, 2], 42)
        assert await tl.timeline_read(HOME, 1, before=None, limit=1) == ([], {42})
        assert await tl.timeline_read(HOME, 2, before=None, limit=1) is None
        await tl.unfollow_celebrity(1, 42)
        assert await tl.timeline_read(HOME, 1, before=None, limit=1) == ([], set())

    async def test_batched_cache_verbs_honour_generations(self, store: KeyValueStore) -> None:
        tl = timelines_of(store)
        assert await tl.cache_get_many(["a", "b"]) == [None, None]
        generations = await tl.cache_generations(["a", "b"])
        await tl.cache_invalidate_many(["b"])  # b changes after its generation was read: its old value is refused
        await tl.cache_set_many([("a", b"1", generations[0], 60), ("b", b"2", generations[1], 60)])
        assert await tl.cache_get_many(["a", "b"]) == [b"1", None]
        await tl.cache_invalidate_many(["a"])
        assert await tl.cache_get_many(["a"]) == [None]

    async def test_each_cached_value_lives_its_own_ttl(self, store: KeyValueStore) -> None:
        tl = timelines_of(store)
        await tl.cache_set_many([("short", b"1", 0, 1), ("long", b"2", 0, 60)])
        assert await tl.cache_get_many(["short", "long"]) == [b"1", b"2"]
        await asyncio.sleep(1.3)
        assert await tl.cache_get_many(["short", "long"]) == [None, b"2"]

    async def test_a_cached_read_gives_the_page_and_each_id_s_cached_value_in_one_call(
        self, store: KeyValueStore
    ) -> None:
        tl = timelines_of(store)
        # Ids across the whole range, and random ones: every byte value (a brace, a newline, zero) in the cache keys
        # the script builds from the 16-byte members.
        edges = ["0" * 26, "7" + "Z" * 25, "7ZZZZZZZZZZZZZZZZZZZZZZZZY", "01ARZ3NDEKTSV4RRFFQ69G5FAV"]
        posts = sorted([*ids(5), *edges, *(from_bytes(os.urandom(16)) for _ in range(40))])
        assert await tl.timeline_read_cached(HOME, 21, before=None, limit=10, cache_prefix=b"p:") is None
        assert await tl.timeline_begin_rebuild(HOME, 21)
        await tl.timeline_finish_rebuild(HOME, 21, posts, [77])
        first, last = b"p:" + to_bytes(posts[0]), b"p:" + to_bytes(posts[-1])
        generations = await tl.cache_generations([last, first])
        await tl.cache_set_many([(last, b'{"n":1}', generations[0], 60), (first, b"null", 0, 60)])
        newest = posts[::-1]
        page = await tl.timeline_read_cached(HOME, 21, before=None, limit=60, cache_prefix=b"p:")
        assert page == CachedPage(
            raw(newest), {77}, [b'{"n":1}', *([None] * (len(posts) - 2)), b"null"], ReaderLikes.MISSING
        )
        assert await tl.timeline_read(HOME, 21, before=None, limit=60) == (newest, {77})
        below = await tl.timeline_read_cached(HOME, 21, before=newest[0], limit=2, cache_prefix=b"p:")
        assert below == CachedPage(raw(newest[1:3]), {77}, [None, None], ReaderLikes.MISSING)
        assert await tl.timeline_begin_rebuild(USER, 21)
        await tl.timeline_finish_rebuild(USER, 21, [])
        assert await tl.timeline_read_cached(USER, 21, before=None, limit=5, cache_prefix=b"p:") == CachedPage(
            [], set(), [], ReaderLikes.SOURCE
        )

    async def test_a_reader_s_likes_come_with_the_page_and_a_fill_from_before_an_invalidation_is_refused(
        self, store: KeyValueStore
    ) -> None:
        tl = timelines_of(store)
        posts = ids(6, start_ms=1_710_000_000_000)
        newest = posts[::-1]
        assert await tl.timeline_begin_rebuild(HOME, 31)
        await tl.timeline_finish_rebuild(HOME, 31, posts)

        async def page(before: str | None = None, limit: int = 10) -> CachedPage:
            found = await tl.timeline_read_cached(HOME, 31, before=before, limit=limit, cache_prefix=b"p:")
            assert found is not None
            return found

        assert (await page()).likes is ReaderLikes.MISSING
        generation = await tl.reader_likes_generation(31)
        assert await tl.reader_likes_fill(31, [posts[1], posts[4]], generation=generation)
        first = await page()
        assert (first.likes, first.liked) == (ReaderLikes.KNOWN, [p in (posts[1], posts[4]) for p in newest])
        below = await page(before=newest[1], limit=3)  # the flags follow the page, not the timeline's top
        assert (below.ids, below.liked) == (raw(newest[2:5]), [False, False, True])

        # A like lands while a fill reads the source: the fill's copy, read before it, is refused.
        generation = await tl.reader_likes_generation(31)
        await tl.reader_likes_invalidate([31])
        assert (await page()).likes is ReaderLikes.MISSING
        assert not await tl.reader_likes_fill(31, [posts[1]], generation=generation)
        assert (await page()).likes is ReaderLikes.MISSING
        generation = await tl.reader_likes_generation(31)
        assert await tl.reader_likes_fill(31, [], generation=generation)  # likes nothing: known, all False
        assert (await page()).liked == [False] * 6

        # More likes than the copy may hold (None): the store says so, and the caller asks the source.
        await tl.reader_likes_invalidate([31])
        assert await tl.reader_likes_fill(31, None, generation=await tl.reader_likes_generation(31))
        assert ((await page()).likes, (await page()).liked) == (ReaderLikes.SOURCE, None)

        # Thousands of likes go in (in chunks), and only the reader's own flags come back.
        many = [*ids(2_500, start_ms=1_600_000_000_000), posts[2]]
        await tl.reader_likes_invalidate([31])
        assert await tl.reader_likes_fill(31, many, generation=await tl.reader_likes_generation(31))
        assert (await page()).liked == [p == posts[2] for p in newest]
        assert await tl.timeline_begin_rebuild(HOME, 32)
        await tl.timeline_finish_rebuild(HOME, 32, posts)
        other = await tl.timeline_read_cached(HOME, 32, before=None, limit=10, cache_prefix=b"p:")
        assert other is not None
        assert other.likes is ReaderLikes.MISSING  # one reader's likes are not another's

        # The copy goes with the home timeline (an erasure, reconcile).
        await tl.timeline_drop(HOME, 31)
        assert await tl.timeline_begin_rebuild(HOME, 31)
        await tl.timeline_finish_rebuild(HOME, 31, posts)
        assert (await page()).likes is ReaderLikes.MISSING
        # A fill read before a like stays refused when a drop comes after the like: the drop moves the generation
        # on, it does not start it again.
        generation = await tl.reader_likes_generation(33)
        await tl.reader_likes_invalidate([33])
        await tl.timeline_drop(HOME, 33)
        assert not await tl.reader_likes_fill(33, [posts[0]], generation=generation)
