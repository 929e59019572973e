"""The keyvalue role: home timelines, rate limits, caches, leaderboards and live carts. Redis in `embedded`
and `seed` (in `embedded`, the same server as the FalkorDB graph), PostgreSQL tables in `postgres-only`.

Consistency here is deliberately weaker (docs/ARCHITECTURE.md): caches and timelines may be lost with the server;
everything that must survive lives in PostgreSQL. Sessions are a role of their own (stores/sessions/).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

from polysocial.domain.analytics import Ranked
from polysocial.domain.limits import RateDecision, RateLimit
from polysocial.stores.base import Store


class KeyValueStore(Store, Protocol):
    # -- what this engine offers beyond the verbs below (the factory reads these; services never probe types) -----
    @property
    def timelines(self) -> TimelineStore | None:
        """Home and user timelines with fan-out (Redis), or None where feeds are read from the sources of truth
        (the PostgreSQL tables of `postgres-only`)."""

    # -- rate limiting: GCRA, one atomic step per call (never INCR then EXPIRE) ------------------------------------
    async def rate_limit(self, key: str, rule: RateLimit, *, cost: int = 1) -> RateDecision:
        """Count ``cost`` requests against ``key`` if they fit; ``cost=0`` only asks whether one more would."""

    # -- cache-aside with generations: a value computed before an invalidation is never stored after it ------------
    async def cache_get(self, key: str) -> bytes | None: ...

    async def cache_generation(self, key: str) -> int: ...

    async def cache_set(self, key: str, value: bytes, *, ttl_s: int, generation: int) -> bool:
        """Store ``value`` unless ``key`` was invalidated since ``generation`` was read; True when stored."""

    async def cache_invalidate(self, key: str) -> None: ...

    # -- live carts: one hash per user, atomic per item, with a TTL (the durable copy is in PostgreSQL) -------------

    async def cart_add(self, user_id: int, product_id: int, delta: int, *, ttl_s: int) -> int | None:
        """Add ``delta`` to the line (HINCRBY; a line at 0 or below goes) if the live cart exists; the line's
        quantity after it, or None when there is no live cart (it is rebuilt from the durable copy)."""

    async def cart_get(self, user_id: int) -> dict[int, int] | None:
        """product id -> quantity; None when there is no live cart."""

    async def cart_put(self, user_id: int, lines: dict[int, int], *, ttl_s: int) -> None:
        """Replace the live cart (a rebuild); an empty one still exists."""

    async def cart_set_line(self, user_id: int, product_id: int, quantity: int) -> None:
        """Set one line (0: remove it) if the live cart exists: the relay's correction from the durable copy."""

    async def cart_drop(self, user_id: int) -> None:
        """Forget the live cart (an account's erasure); the next read would rebuild it from the durable copy."""

    # -- leaderboards: sorted sets; ties go to the greater member (as Redis orders them) --------------------------

    async def board_submit(self, board: str, member: str, score: float, *, keep_best: bool) -> float:
        """Record a score: the best of the member's scores (``keep_best``) or their sum. The member's score after."""

    async def board_add(self, board: str, increments: dict[str, float], *, ttl_s: int | None = None) -> None:
        """Add to several members' scores at once (the views feed); ``ttl_s`` makes the board expire."""

    async def board_top(self, board: str, *, limit: int) -> list[Ranked]: ...

    async def board_rank(self, board: str, member: str) -> Ranked | None: ...

    async def board_scores(self, member: str) -> dict[str, float]:
        """The member's score on every board that has one (an account's export): board -> score."""

    async def board_forget(self, member: str) -> int:
        """Remove the member from every board (an account's erasure); how many boards had them."""

    # -- short locks (one recompute per key at a time) ------------------------------------------------------------
    async def lock_acquire(self, key: str, *, ttl_s: float) -> str | None:
        """A token when the lock is ours (it expires after ``ttl_s``), None when another holder has it."""

    async def lock_release(self, key: str, token: str) -> None:
        """Release the lock if ``token`` still holds it."""

    # -- read-your-writes across processes (stores/replicas.py) ------------------------------------------------------
    async def position_put(self, user_id: int, position: str, *, ttl_s: float) -> None:
        """Where the primary's WAL was after ``user_id``'s last write, for ``ttl_s`` seconds."""

    async def position_get(self, user_id: int) -> str | None:
        """That position, while it lasts, whichever process noted it."""


class TimelineKind(StrEnum):
    HOME = "home"  # what a user's followees posted, and their own posts (fan-out on write)
    USER = "user"  # one author's own posts (read for the celebrity merge)


# More likes than this and a reader's likes are not copied: the document store answers for each page instead.
MAX_READER_LIKES = 5_000


class ReaderLikes(StrEnum):
    """What a home timeline's read knows of its owner's likes."""

    KNOWN = "k"  # every post the reader likes is in the copy: ``liked`` answers for the page
    MISSING = "m"  # no copy (never filled, expired, invalidated): fill it
    SOURCE = "s"  # the reader likes more than MAX_READER_LIKES posts: ask the document store


CacheKey = str | bytes  # a batched cache's key: text, or bytes where it holds a 16-byte id (the post cache)


@dataclass(frozen=True, slots=True)
class CachedPage:
    """One page of a timeline, as ``timeline_read_cached`` reads it."""

    ids: list[bytes]  # newest first, as the timeline holds them: 16 bytes each (domain/ids.to_bytes)
    celebrities: set[int]  # followed celebrities (a home timeline)
    values: list[bytes | None]  # each id's cached value, None for a miss
    likes: ReaderLikes = ReaderLikes.SOURCE  # a user timeline has no reader: SOURCE
    liked: list[bool] | None = None  # per id, when ``likes`` is KNOWN


@runtime_checkable
class TimelineStore(Protocol):
    """Home and user timelines: ids of posts in sorted sets, newest id first, capped, with a TTL so that idle users'
    timelines go away (and are rebuilt on demand). Implemented by Redis only; without it, feeds are read from the
    sources of truth (postgres-only, or Redis down).

    A timeline is *live* from the start of its rebuild and *ready* once the rebuild finished: writers (fan-out,
    backfill) touch live timelines only, readers use ready ones only. So a post fanned out during a rebuild is not
    lost, and nobody reads a half-built timeline.
    """

    async def timeline_read(
        self, kind: TimelineKind, owner: int, *, before: str | None, limit: int
    ) -> tuple[list[str], set[int]] | None:
        """(ids newest first below ``before``, followed celebrities for a home timeline); None if not ready. A read
        keeps the timeline alive."""

    async def timeline_read_cached(
        self, kind: TimelineKind, owner: int, *, before: str | None, limit: int, cache_prefix: bytes
    ) -> CachedPage | None:
        """``timeline_read``, the ids in their 16 bytes, with the cached value of each (under the cache key
        ``cache_prefix + id``, as ``cache_get_many`` reads it; None for a miss) and, for a home timeline, which of
        the ids its owner liked (from the reader's likes, below): one round trip on a single server."""

    async def timeline_read_many(
        self, kind: TimelineKind, owners: Sequence[int], *, before: str | None, limit: int
    ) -> dict[int, list[bytes] | None]:
        """Several timelines in one round trip (the celebrity merge), their ids in 16 bytes; None for those not
        ready."""

    async def timeline_is_live(self, kind: TimelineKind, owner: int) -> bool: ...

    async def timeline_push(self, kind: TimelineKind, owners: Sequence[int], post_ids: Sequence[str]) -> int:
        """Add ``post_ids`` to the live timelines of ``owners`` (pipelined), trimming each to its cap; how many
        timelines took them."""

    async def timeline_remove(self, kind: TimelineKind, owners: Sequence[int], post_ids: Sequence[str]) -> None: ...

    async def timeline_drop(self, kind: TimelineKind, owner: int) -> None:
        """Forget the timeline (reconcile found it wrong): the next read rebuilds it from the sources of truth."""

    async def timeline_begin_rebuild(self, kind: TimelineKind, owner: int) -> bool:
        """Make the timeline live (not ready) unless it is ready already; False when it is ready."""

    async def timeline_finish_rebuild(
        self, kind: TimelineKind, owner: int, post_ids: Sequence[str], celebrities: Sequence[int] = ()
    ) -> None:
        """Add the rebuilt ids (and, for a home timeline, the followed celebrities) and mark the timeline ready."""

    # -- the reader's likes: which posts a reader liked, next to their home timeline -------------------------------
    # A copy of the document store's ``likers`` for one reader, so that the feed's page learns ``user_has_liked``
    # in the timeline's own round trip. Filled on demand with a generation read before the source (as the caches
    # are): a like or unlike invalidates it, and a copy read before that is never stored after it.

    async def reader_likes_generation(self, reader: int) -> int: ...

    async def reader_likes_fill(self, reader: int, post_ids: Sequence[str] | None, *, generation: int) -> bool:
        """Store every post ``reader`` likes (``None``: more than MAX_READER_LIKES, so the document store keeps
        answering for them), unless invalidated since ``generation``; True when stored."""

    async def reader_likes_invalidate(self, readers: Sequence[int]) -> None:
        """Forget the readers' likes (a like or unlike changed them), so the next page loads them again."""

    # -- celebrities: authors whose posts are merged in at read time instead of fanned out ---------------------------

    async def celebrity_add(self, user_id: int) -> bool:
        """Record ``user_id`` as a celebrity (for good); True when new."""

    async def is_celebrity(self, user_id: int) -> bool: ...

    async def celebrity_remove(self, user_id: int) -> None:
        """Forget that ``user_id`` is a celebrity (only for an account's erasure: their posts are gone)."""

    async def celebrities_among(self, user_ids: Sequence[int]) -> set[int]: ...

    async def follow_celebrity(self, readers: Sequence[int], celebrity: int) -> None:
        """Add ``celebrity`` to the followed celebrities of those ``readers`` whose home timeline is live."""

    async def unfollow_celebrity(self, reader: int, celebrity: int) -> None: ...

    # -- batched cache-aside (same keys and generations as KeyValueStore's cache) -----------------------------------

    async def cache_get_many(self, keys: Sequence[CacheKey]) -> list[bytes | None]:
        """One MGET."""

    async def cache_generations(self, keys: Sequence[CacheKey]) -> list[int]: ...

    async def cache_set_many(self, entries: Sequence[tuple[CacheKey, bytes, int, int]]) -> None:
        """(key, value, generation, ttl_s) each, stored unless invalidated since; pipelined."""

    async def cache_invalidate_many(self, keys: Sequence[CacheKey]) -> None: ...
