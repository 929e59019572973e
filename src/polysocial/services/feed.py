"""Home feeds (docs/ARCHITECTURE.md), on the designs of Mastodon's FeedManager and Twitter's timelines.

Write side (the relay's handlers): a new post's id goes into the home timeline of every follower who has a live one,
and of its author; authors with more than ``celebrity_followers`` followers are not fanned out (their posts are
merged in at read time from their own user timeline). A follow backfills the followee's recent posts, an unfollow
takes them out, a deleted post leaves every timeline.

Read side: ids from the home timeline plus the followed celebrities' user timelines, merged newest first, hydrated
from the post cache (read in the same Redis call as the home timeline's ids; a celebrity's ids by one MGET) with the
misses read from the document store in one batch; authors' names and avatars from a card cache the same way.
``user_has_liked`` comes from the reader's likes, a copy of the document store's likers kept next to the home
timeline and read in the same call; where there is no copy yet, one query to the document store reads every post
the reader likes and fills it. A like or unlike invalidates the copy at once, and again when the outbox delivers its
``LikesChanged`` (should Redis have missed the first). A timeline that is not ready is rebuilt from the graph and the
documents, one rebuild per timeline at a time. Without timelines (the postgres-only profile), or when Redis is down,
the feed is answered from the sources of truth: the followees from the graph, their newest posts by one LATERAL
query per followee.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from polysocial.domain.accounts import UserCard
from polysocial.domain.errors import StoreUnavailable
from polysocial.domain.ids import from_bytes, to_bytes
from polysocial.logging import get_logger
from polysocial.services.cache import CacheTally, cache_aside_many
from polysocial.services.posts import HIDDEN
from polysocial.services.profiles import card_key
from polysocial.stores.base import describe
from polysocial.stores.documents.protocol import POSTS, DocumentStore
from polysocial.stores.graph.protocol import GraphStore
from polysocial.stores.keyvalue.protocol import (
    MAX_READER_LIKES,
    CachedPage,
    KeyValueStore,
    ReaderLikes,
    TimelineKind,
    TimelineStore,
)
from polysocial.stores.keyvalue.timelines import MAX_TIMELINE_ITEMS
from polysocial.stores.relational.protocol import RelationalStore

log = get_logger(__name__)

DEFAULT_CELEBRITY_FOLLOWERS = 10_000
# A cached post goes when it is edited, liked or commented on (the relay delivers PostEdited, LikesChanged and
# CommentAdded to feed.post_changed in events/handlers.py: counts follow within a moment). The TTL bounds what no
# event reports to the post cache: the author's name and avatar, cached with the post. It was 30 s while it also
# bounded the counts; at 120 s a page's posts expire (and are read again from the document store in a request's
# path) a quarter as often.
POST_CACHE_TTL_S = 120
CARD_CACHE_TTL_S = 300
REBUILD_LOCK_TTL_S = 15.0
# How long a reader waits for another's rebuild of the same timeline before it reads its page from the sources of
# truth instead. Short, because the lock can outlive its holder by up to REBUILD_LOCK_TTL_S: a holder whose store
# failed mid-rebuild cannot release it while Redis is down. At 5 s, every read of that user's feed waited 5 s for a
# rebuild that nobody was doing (seen in the chaos test: Redis killed, then PostgreSQL; 503s after 4.6 s).
REBUILD_WAIT_S = 0.5
USERS_PAGE = 10_000
NOT_IN_FEED = (*HIDDEN, "latest_comments")
REDIS_DOWN = "redis unavailable: feed read from the sources of truth"


# A post's cached copy is the feed item itself, rendered: its public fields, its author's card, and
# ``user_has_liked`` false, last, so that a reader who liked it gets the same bytes with ``true`` (_as_liked). A page
# is those bytes joined (api/pagination.page_body): 20 posts decoded from the cache and encoded again were 8%
# of a feed request's CPU. (Until the cached copy was the item, it was the post and its card as a dict: keys
# "feedpost:*", gone within POST_CACHE_TTL_S.)
POST_CACHE_PREFIX = b"feeditem:"  # and the post's id in its 16 bytes (domain/ids.to_bytes), as timelines hold it
NOT_LIKED = b',"user_has_liked":false}'
LIKED = b',"user_has_liked":true}'


def item_cache_key(post_id: bytes) -> bytes:
    """The post cache's key of a post, by its id in 16 bytes."""
    return POST_CACHE_PREFIX + post_id


def post_cache_key(post_id: str) -> bytes:
    return item_cache_key(to_bytes(post_id))


@dataclass(frozen=True, slots=True)
class FeedPage:
    rendered: list[bytes]  # each item as JSON: a post's public fields, ``author`` (a card) and ``user_has_liked``
    next_before: str | None
    degraded: str | None = None  # why the answer did not come from the timelines, when it should have

    @property
    def items(self) -> list[dict[str, Any]]:
        """The items, decoded (the web client's pages; the API sends ``rendered`` as it is)."""
        return [orjson.loads(item) for item in self.rendered]


@dataclass
class FeedStats:
    """This process's feed figures, since it started (the metrics export them)."""

    rebuilds: Counter[str] = field(default_factory=Counter)
    fanned_out: int = 0  # timeline inserts
    degraded_reads: int = 0
    posts: CacheTally = field(default_factory=CacheTally)  # the post cache's lookups
    cards: CacheTally = field(default_factory=CacheTally)  # the author card cache's lookups


def _shown(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in NOT_IN_FEED}


def _card(author: int, card: UserCard | None) -> dict[str, Any]:
    return {"user_id": author, "name": card.name if card else "", "avatar_url": card.avatar_url if card else None}


def _item(post: dict[str, Any], cards: dict[int, UserCard], *, liked: bool) -> dict[str, Any]:
    """A feed item: what the feed shows of a post, its author's card, and whether the reader liked it (last: see
    POST_CACHE_PREFIX)."""
    author = int(post["author_id"])
    return {**post, "author": _card(author, cards.get(author)), "user_has_liked": liked}


def _as_liked(item: bytes) -> bytes:
    """A rendered item (``user_has_liked`` false, last) as a reader who liked the post sees it."""
    if not item.endswith(NOT_LIKED):  # never, as _item renders it; decoded and encoded again if it were
        return orjson.dumps({**orjson.loads(item), "user_has_liked": True})
    return item[: -len(NOT_LIKED)] + LIKED


class Feeds:
    def __init__(
        self,
        *,
        relational: RelationalStore,
        documents: DocumentStore,
        graph: GraphStore,
        keyvalue: KeyValueStore,
        timelines: TimelineStore | None,
        celebrity_followers: int = DEFAULT_CELEBRITY_FOLLOWERS,
    ) -> None:
        self.relational = relational
        self.documents = documents
        self.graph = graph
        self.keyvalue = keyvalue
        self.timelines = timelines
        self.celebrity_followers = celebrity_followers
        self.stats = FeedStats()

    # -- read ---------------------------------------------------------------------------------------------------------

    async def home(self, reader: int, *, before: str | None, limit: int) -> FeedPage:
        if self.timelines is None:
            return await self._from_sources(reader, before, limit, degraded=None)
        try:
            return await self._from_timelines(self.timelines, reader, before, limit)
        except StoreUnavailable as exc:
            if exc.role != self.keyvalue.role.value:
                raise
            self.stats.degraded_reads += 1
            log.warning("feed degraded: redis unavailable", reader=reader, error=describe(exc))
            return await self._from_sources(reader, before, limit, degraded=REDIS_DOWN)

    async def _from_sources(self, reader: int, before: str | None, limit: int, *, degraded: str | None) -> FeedPage:
        authors = [uid async for uid in self._all(self.graph.following, reader)]
        docs = await self.documents.find_any(
            POSTS,
            field="author_id",
            values=[*authors, reader],
            equals={"deleted": False},
            before_id=before,
            limit=limit,
        )
        cards = await self.relational.user_cards(sorted({int(d["author_id"]) for d in docs}))
        items = [orjson.dumps(_item(_shown(d), cards, liked=reader in (d.get("likers") or []))) for d in docs]
        return FeedPage(items, docs[-1]["id"] if len(docs) == limit else None, degraded)

    async def _from_timelines(self, tl: TimelineStore, reader: int, before: str | None, limit: int) -> FeedPage:
        # Ids as the timelines hold them (16 bytes, which sort as the ids do): the page's text is in its items, and
        # only its last id is needed as text, for the cursor.
        shown: dict[bytes, bytes] = {}  # post id -> its rendered item, for the posts that exist
        ids: list[bytes] = []
        liked: set[bytes] = set()
        # What the reader's likes (read with the timeline) could not answer: from the document store, while the
        # posts and cards come from the caches.
        asked: list[asyncio.Future[set[bytes]]] = []
        cursor = before
        try:
            while len(ids) < limit:
                found = await self._candidates(tl, reader, cursor, limit)
                if found is None:  # the rebuild did not finish in time: answer from the sources
                    return await self._from_sources(reader, before, limit, degraded=None)
                candidates, cached, page = found
                known = dict(zip(page.ids, page.liked or (), strict=False))
                liked.update(pid for pid, yes in known.items() if yes)
                if unknown := [pid for pid in candidates if pid not in known]:
                    fill = page.likes is ReaderLikes.MISSING and not asked  # one copy per request is plenty
                    asked.append(asyncio.ensure_future(self._liked(tl, reader, unknown, fill=fill)))
                shown.update(await self._posts(tl, candidates, cached))
                ids.extend(pid for pid in candidates if pid in shown)
                if len(candidates) < limit or len(ids) >= limit:
                    break
                cursor = from_bytes(candidates[-1])  # some were gone: the next candidates, below these
        finally:
            answers = await asyncio.gather(*asked, return_exceptions=True) if asked else []
        for answer in answers:
            if isinstance(answer, BaseException):
                raise answer
            liked |= answer
        ids = ids[:limit]
        items = [_as_liked(shown[pid]) if pid in liked else shown[pid] for pid in ids]
        return FeedPage(items, from_bytes(ids[-1]) if len(ids) == limit else None)

    async def _liked(self, tl: TimelineStore, reader: int, ids: list[bytes], *, fill: bool) -> set[bytes]:
        """Which of ``ids`` the reader liked, from the document store (the source of truth). With ``fill``, by
        reading every post the reader likes and keeping that copy next to their timeline: one query either way, and
        the next pages need none. The generation is read first, so a like or unlike that lands during the read
        keeps its stale answer out of the copy."""
        texts = {from_bytes(i): i for i in ids}
        if fill:
            generation = await tl.reader_likes_generation(reader)
            every = await self.documents.ids_having_member(
                POSTS, field="likers", member=reader, after_id=None, limit=MAX_READER_LIKES + 1
            )
            complete = len(every) <= MAX_READER_LIKES
            await tl.reader_likes_fill(reader, every if complete else None, generation=generation)
            if complete:
                return {texts[t] for t in texts.keys() & set(every)}
        found = await self.documents.having_member(POSTS, list(texts), field="likers", member=reader)
        return {texts[t] for t in found}

    async def _candidates(
        self, tl: TimelineStore, reader: int, before: str | None, limit: int
    ) -> tuple[list[bytes], dict[bytes, bytes | None], CachedPage] | None:
        """The next ``limit`` ids, newest first: the home timeline merged with the followed celebrities' posts; the
        post cache's values of the home timeline's ids, and which of them the reader liked, read with them (one
        round trip for all three: the page)."""
        kind = TimelineKind.HOME
        found = await tl.timeline_read_cached(kind, reader, before=before, limit=limit, cache_prefix=POST_CACHE_PREFIX)
        if found is None:
            await self.rebuild(kind, reader)
            found = await tl.timeline_read_cached(
                kind, reader, before=before, limit=limit, cache_prefix=POST_CACHE_PREFIX
            )
        if found is None:
            return None
        ids, celebrities = found.ids, found.celebrities
        cached = dict(zip(ids, found.values, strict=True))
        if not celebrities:
            return ids, cached, found
        merged = set(ids)
        owners = sorted(celebrities)
        theirs = await tl.timeline_read_many(TimelineKind.USER, owners, before=before, limit=limit)
        for owner in owners:
            page = theirs[owner]
            if page is None:
                again = await self._ready(tl, TimelineKind.USER, owner, before, limit)
                page = [to_bytes(i) for i in again[0]] if again is not None else []
            merged.update(page)
        return sorted(merged, reverse=True)[:limit], cached, found

    async def _ready(
        self, tl: TimelineStore, kind: TimelineKind, owner: int, before: str | None, limit: int
    ) -> tuple[list[str], set[int]] | None:
        found = await tl.timeline_read(kind, owner, before=before, limit=limit)
        if found is None:
            await self.rebuild(kind, owner)
            found = await tl.timeline_read(kind, owner, before=before, limit=limit)
        return found

    async def _posts(
        self, tl: TimelineStore, ids: list[bytes], cached: dict[bytes, bytes | None]
    ) -> dict[bytes, bytes]:
        """Post id -> its feed item, rendered, not liked (POST_CACHE_PREFIX), for the posts that exist and are not
        deleted; ``cached``: the cache's values already read for some of the ids."""

        async def load(missing: list[bytes]) -> dict[bytes, Any]:
            """The posts as feed items, each with its author's card: a cached post then costs no second read for
            its card (an author's new name or avatar reaches feeds within POST_CACHE_TTL_S)."""
            texts = {from_bytes(i): i for i in missing}
            docs = await self.documents.get_many(POSTS, list(texts))
            shown = {texts[i]: _shown(d) for i, d in docs.items() if not d.get("deleted")}
            cards = await self._cards(tl, sorted({int(d["author_id"]) for d in shown.values()}))
            return {i: _item(doc, cards, liked=False) for i, doc in shown.items()}

        return await cache_aside_many(
            tl,
            ids,
            item_cache_key,
            ttl_s=POST_CACHE_TTL_S,
            load=load,
            tally=self.stats.posts,
            known=cached,
            rendered=True,
        )

    async def _cards(self, tl: TimelineStore, user_ids: list[int]) -> dict[int, UserCard]:
        if not user_ids:
            return {}

        async def load(missing: list[int]) -> dict[int, Any]:
            cards = await self.relational.user_cards(missing)
            return {u: {"name": c.name, "avatar_url": c.avatar_url} for u, c in cards.items()}

        found = await cache_aside_many(
            tl, user_ids, card_key, ttl_s=CARD_CACHE_TTL_S, load=load, tally=self.stats.cards
        )
        return {u: UserCard(u, v["name"], v["avatar_url"]) for u, v in found.items()}

    # -- rebuild ------------------------------------------------------------------------------------------------------

    async def rebuild(self, kind: TimelineKind, owner: int) -> None:
        """Rebuild a timeline that is not ready, from the graph and the documents. One rebuild per timeline at a
        time: a caller that finds the lock taken waits for the holder's result instead of rebuilding too, and takes
        the lock over if the holder gave up (a store was down): it then fails as fast as the holder did, instead of
        waiting for a timeline that nobody is building."""
        tl = self._require_timelines()
        lock = f"rebuild:{kind.value}:{owner}"
        token = await self.keyvalue.lock_acquire(lock, ttl_s=REBUILD_LOCK_TTL_S)
        deadline = time.monotonic() + REBUILD_WAIT_S
        while token is None:
            if time.monotonic() > deadline:
                return
            await asyncio.sleep(0.01)
            if await tl.timeline_read(kind, owner, before=None, limit=1) is not None:
                return
            token = await self.keyvalue.lock_acquire(lock, ttl_s=REBUILD_LOCK_TTL_S)
        try:
            if not await tl.timeline_begin_rebuild(kind, owner):
                return  # ready: the previous holder finished just before we took the lock
            self.stats.rebuilds[kind.value] += 1
            post_ids, celebrities = await self.rebuilt(kind, owner)
            await tl.timeline_finish_rebuild(kind, owner, post_ids, sorted(celebrities))
        finally:
            await self.keyvalue.lock_release(lock, token)

    async def rebuild_now(self, owner: int) -> int | None:
        """Drop ``owner``'s home and user timelines and rebuild both from the sources of truth now (an operator's
        repair); the home timeline's length afterwards. None where there are no timelines (postgres-only: feeds
        are read from the sources of truth, with nothing to rebuild)."""
        if self.timelines is None:
            return None
        for kind in (TimelineKind.HOME, TimelineKind.USER):
            await self.timelines.timeline_drop(kind, owner)
            await self.rebuild(kind, owner)
        found = await self.timelines.timeline_read(TimelineKind.HOME, owner, before=None, limit=MAX_TIMELINE_ITEMS)
        return len(found[0]) if found is not None else 0

    async def rebuilt(self, kind: TimelineKind, owner: int) -> tuple[list[str], set[int]]:
        """What a rebuild of the timeline holds: its post ids, newest first, and the celebrities it follows (read
        from the graph and the documents; reconcile compares live timelines with it)."""
        tl = self._require_timelines()
        celebrities: set[int] = set()
        authors = [owner]
        if kind is TimelineKind.HOME:
            followees = [uid async for uid in self._all(self.graph.following, owner)]
            celebrities = await tl.celebrities_among(followees)
            authors += [uid for uid in followees if uid not in celebrities]
        docs = await self.documents.find_any(
            POSTS,
            field="author_id",
            values=authors,
            equals={"deleted": False},
            before_id=None,
            limit=MAX_TIMELINE_ITEMS,
        )
        return [d["id"] for d in docs], celebrities

    # -- write side (the relay's handlers; each is idempotent: ZADD, ZREM and SADD may run twice) ------------------

    async def post_created(self, post_id: str, author: int) -> None:
        tl = self._require_timelines()
        await tl.timeline_push(TimelineKind.USER, [author], [post_id])
        owners = [author]
        if not await tl.is_celebrity(author):
            # One graph read gives both the fan-out's list and the celebrity check (a count would walk it twice).
            followers = await self.graph.follower_ids(author)
            if len(followers) <= self.celebrity_followers:
                owners += followers
            else:
                await self._become_celebrity(tl, author, followers)
        self.stats.fanned_out += await tl.timeline_push(TimelineKind.HOME, owners, [post_id])

    async def post_deleted(self, post_id: str, author: int) -> None:
        tl = self._require_timelines()
        await tl.timeline_remove(TimelineKind.USER, [author], [post_id])
        await tl.timeline_remove(TimelineKind.HOME, [author, *await self.graph.follower_ids(author)], [post_id])
        await tl.cache_invalidate_many([post_cache_key(post_id)])

    async def posts_changed(self, post_ids: Sequence[str]) -> None:
        """These posts were edited, liked or commented on: their cached copies go (the next page reads them again)."""
        await self._require_timelines().cache_invalidate_many([post_cache_key(p) for p in sorted(set(post_ids))])

    async def likes_changed(self, readers: Sequence[int]) -> None:
        """These readers liked or unliked a post: their copies of their likes go (their next page fills them)."""
        if self.timelines is not None and readers:
            await self.timelines.reader_likes_invalidate(sorted(set(readers)))

    async def followed(self, follower: int, followee: int) -> None:
        tl = self._require_timelines()
        if await tl.is_celebrity(followee):
            await tl.follow_celebrity([follower], followee)
        elif await tl.timeline_is_live(TimelineKind.HOME, follower):
            await tl.timeline_push(TimelineKind.HOME, [follower], await self._recent_ids(followee, live_only=True))

    async def unfollowed(self, follower: int, followee: int) -> None:
        tl = self._require_timelines()
        await tl.unfollow_celebrity(follower, followee)
        if await tl.timeline_is_live(TimelineKind.HOME, follower):
            await tl.timeline_remove(TimelineKind.HOME, [follower], await self._recent_ids(followee, live_only=False))

    async def _become_celebrity(self, tl: TimelineStore, author: int, followers: list[int]) -> None:
        """``author`` has more than ``celebrity_followers`` followers: their posts are merged at read time from now
        on. Once a celebrity, always one: a post fanned out to nobody would otherwise be missing from the feeds of
        those who followed while the author was one."""
        if await tl.celebrity_add(author):
            log.info("new celebrity: posts merged at read time from now on", user_id=author, followers=len(followers))
            await tl.follow_celebrity(followers, author)

    async def _recent_ids(self, author: int, *, live_only: bool) -> list[str]:
        equals: dict[str, Any] = {"author_id": author, "deleted": False} if live_only else {"author_id": author}
        docs = await self.documents.find_page(POSTS, equals=equals, before_id=None, limit=MAX_TIMELINE_ITEMS)
        return [d["id"] for d in docs]

    def _require_timelines(self) -> TimelineStore:
        if self.timelines is None:
            raise RuntimeError("this profile has no timelines: feeds are read from the sources of truth")
        return self.timelines

    @staticmethod
    async def _pages(query: Any, user_id: int) -> AsyncIterator[list[int]]:
        after = 0
        while True:
            page: Sequence[int] = await query(user_id, after=after, limit=USERS_PAGE)
            if not page:
                return
            yield list(page)
            if len(page) < USERS_PAGE:
                return
            after = page[-1]

    async def _all(self, query: Any, user_id: int) -> AsyncIterator[int]:
        async for page in self._pages(query, user_id):
            for uid in page:
                yield uid
