"""Timelines on Redis, in the manner of Mastodon's FeedManager: one sorted set per timeline, capped at
MAX_TIMELINE_ITEMS on every insert. Every member is scored 0, so the set is ordered by the member itself: a post id's
16 bytes (domain/ids.py), which sort as the ids do. 16 bytes rather than the 26 characters keep an entry under 100
bytes in the skiplist encoding (measured on Redis 8.2: 96 bytes, against 105); the compact listpack encoding (21
bytes) would cost an O(n) scan per insert at 800 entries, which fan-out cannot afford.

Two sentinel members sort before every id (which starts with a non-zero byte for any time after 2004): BUILDING while
a rebuild runs (the timeline is *live*: fan-out writes into it) and READY once it is done (readers use it). A
sentinel also keeps an empty timeline in existence, so a user who follows nobody is not rebuilt on every read.
Exactly one sentinel is present at a time, always at rank 0, which is what the trim keeps.

A home timeline has a companion set, the celebrities its owner follows (members are user ids, plus ``0`` so that an
empty set exists), and a second one, the owner's likes: the ids of the posts they liked, so that a page of the feed
learns which of its posts its reader liked in the same round trip (a copy of the document store's ``likers``, filled
on demand and invalidated by every like and unlike; services/feed.py). All three keys carry the owner in a hash tag,
so they share a Redis Cluster slot and a script may touch them all.

Fan-out hands one script many owners' timelines at once (the Python side, not Redis, is the limit of a per-owner
pipeline: about 35,000 inserts/s); on Redis Cluster those batches would be split by hash slot first.
"""

from __future__ import annotations

from collections.abc import Sequence
from time import monotonic
from typing import Any, Protocol, overload

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.crc import key_slot

from polysocial.config import StoreURL
from polysocial.domain.ids import IdOutOfRange, from_bytes, to_bytes
from polysocial.stores.base import guard
from polysocial.stores.keyvalue.protocol import CachedPage, CacheKey, ReaderLikes, TimelineKind

MAX_TIMELINE_ITEMS = 800
TIMELINE_TTL_S = 7 * 86_400  # an idle user's timeline goes; reading restarts the clock, fan-out does not
# A process restarts a timeline's clock on its first read, then at most once in this long (RedisTimelines._clock):
# an active reader's timeline still never expires, and a read is no write.
TTL_REFRESH_S = 3_600
REFRESHED_MAX = 100_000  # timelines whose last restart a process remembers; past it, it forgets them all
READY = b"\x00"  # the Lua scripts below spell these '\0' and '\0\0'
BUILDING = b"\x00\x00"
LIKES_COMPLETE = b"\x00"  # the reader's likes: sentinels, as the fill script spells them
LIKES_TOO_MANY = b"\x00\x00"
NO_CELEBRITY = "0"
PIPELINE_CHUNK = 2_000
PUSH_CHUNK = 500  # timelines per script call: long enough to amortise the call, short enough not to stall Redis

# KEYS timelines; ARGV[1] cap, ARGV[2..] ids. Only live timelines take them (a missing one is rebuilt on demand; a live
# one has its sentinel, so its size is never 0). The trim runs only past the cap: two calls per timeline, not three,
# until it is full. Rank 0 is the sentinel; the oldest ids follow it, so ranks 1 .. size-cap-1 are the overflow.
PUSH_SCRIPT = """
local cap = tonumber(ARGV[1])
local entries = {}
for i = 2, #ARGV do
  entries[#entries + 1] = 0
  entries[#entries + 1] = ARGV[i]
end
local taken = 0
for k = 1, #KEYS do
  local size = redis.call('ZCARD', KEYS[k])
  if size > 0 then
    size = size + redis.call('ZADD', KEYS[k], unpack(entries))
    if size > cap + 1 then redis.call('ZREMRANGEBYRANK', KEYS[k], 1, size - cap - 1) end
    taken = taken + 1
  end
end
return taken
"""

# KEYS[1] timeline, KEYS[2] its celebrity set and KEYS[3] its owner's likes (home only); ARGV[1] upper bound, ARGV[2]
# limit, ARGV[3] the ttl to restart the three keys' clocks with, or '' to leave them (RedisTimelines._clock). The
# page's members (16-byte ids) in ``ids``, the followed celebrities in ``celebrities``, and in ``likes`` what the
# owner's likes say of the page: 'k' and a '0' or '1' per id, 'm' (missing) or 's' (ask the source); false when the
# timeline is not ready. A live celebrity set is never empty (it holds '0'), and the likes' READY sentinel is asked
# with the page's ids: four calls and no write, where an EXPIRE of each key on every read (a write, which Redis also
# appends to its AOF) made nine. The script 20.1 -> 17.5 us (commandstats); Redis per feed 54-55 -> 49-50 us.
READ_PAGE = """
if not redis.call('ZSCORE', KEYS[1], '\0') then return false end
local celebrities = {}
if #KEYS > 1 then
  celebrities = redis.call('SMEMBERS', KEYS[2])
  if #celebrities == 0 then return false end
end
local ids = redis.call('ZREVRANGEBYLEX', KEYS[1], ARGV[1], '(\0\0', 'LIMIT', 0, tonumber(ARGV[2]))
local likes = 's'
if #KEYS > 1 then
  local flags = redis.call('SMISMEMBER', KEYS[3], '\0', unpack(ids))
  if flags[1] == 1 then
    likes = 'k' .. table.concat(flags, '', 2)
  elseif redis.call('EXISTS', KEYS[3]) == 0 then
    likes = 'm'
  end
end
if ARGV[3] ~= '' then
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  if #KEYS > 1 then
    redis.call('EXPIRE', KEYS[2], ARGV[3])
    if likes ~= 'm' then redis.call('EXPIRE', KEYS[3], ARGV[3]) end
  end
end
"""

READ_SCRIPT = READ_PAGE + "return {ids, celebrities, likes}\n"


# READ_SCRIPT, and the cached values of the ids it returns, in one round trip (single server only: the cache keys are
# not among KEYS, and on a cluster they live in other slots). ARGV[4] and ARGV[5]: what goes before and after an id's
# 16 bytes in its cache key. The ids stay the 16 bytes the timeline holds: writing each out as its 26 characters (for
# text keys) was 26 of the script's 60 us of Redis per page; the feed needs the text of one id per page, the cursor.
READ_CACHED_SCRIPT = (
    READ_PAGE
    + """
local keys = {}
for n = 1, #ids do keys[n] = ARGV[4] .. ids[n] .. ARGV[5] end
local values = {}
if #keys > 0 then
  local found = redis.call('MGET', unpack(keys))
  for n = 1, #keys do values[n] = found[n] or '' end
end
return {ids, celebrities, values, likes}
"""
)

# KEYS as READ_SCRIPT; ARGV[1] ttl.
BEGIN_SCRIPT = """
if redis.call('ZSCORE', KEYS[1], '\0') and (#KEYS == 1 or redis.call('EXISTS', KEYS[2]) == 1) then return 0 end
redis.call('ZREM', KEYS[1], '\0')
redis.call('ZADD', KEYS[1], 0, '\0\0')
redis.call('EXPIRE', KEYS[1], ARGV[1])
if #KEYS > 1 then
  redis.call('DEL', KEYS[2])
  redis.call('SADD', KEYS[2], '0')
  redis.call('EXPIRE', KEYS[2], ARGV[1])
end
return 1
"""

# KEYS as READ_SCRIPT; ARGV[1] ttl, ARGV[2] cap, ARGV[3] number of ids n, ARGV[4..3+n] ids, the rest celebrities.
FINISH_SCRIPT = """
local n = tonumber(ARGV[3])
for i = 4, 3 + n do redis.call('ZADD', KEYS[1], 0, ARGV[i]) end
redis.call('ZADD', KEYS[1], 0, '\0')
redis.call('ZREM', KEYS[1], '\0\0')
redis.call('ZREMRANGEBYRANK', KEYS[1], 1, -(tonumber(ARGV[2]) + 1))
redis.call('EXPIRE', KEYS[1], ARGV[1])
if #KEYS > 1 then
  redis.call('SADD', KEYS[2], '0')
  for i = 4 + n, #ARGV do redis.call('SADD', KEYS[2], ARGV[i]) end
  redis.call('EXPIRE', KEYS[2], ARGV[1])
end
return 1
"""

# KEYS[1] a celebrity set; ARGV[1] the celebrity. Only live home timelines track their celebrities.
FOLLOW_CELEBRITY_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
return redis.call('SADD', KEYS[1], ARGV[1])
"""

CELEBRITIES_KEY = "celebrities"

# KEYS[1] a reader's likes, KEYS[2] their generation; ARGV[1] the generation read before the source, ARGV[2] ttl,
# ARGV[3] the sentinel ('\0': complete; '\0\0': too many, ask the source), ARGV[4..] the liked ids (16 bytes).
LIKES_FILL_SCRIPT = """
if (redis.call('GET', KEYS[2]) or '0') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SADD', KEYS[1], ARGV[3])
for i = 4, #ARGV, 1000 do redis.call('SADD', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV))) end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""

CACHE_SET_SCRIPT = """
local current = redis.call('GET', KEYS[2]) or '0'
if current ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
return 1
"""

CACHE_INVALIDATE_SCRIPT = """
redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[1])
return 1
"""

# A generation must outlive every value stored under it; a day is far beyond any cache TTL used here.
GENERATION_TTL_S = 86_400


@overload
def cache_keys(key: str) -> tuple[str, str]: ...


@overload
def cache_keys(key: bytes) -> tuple[bytes, bytes]: ...


def cache_keys(key: CacheKey) -> tuple[CacheKey, CacheKey]:
    """A cached value's key and its generation's, in one hash tag (one slot on a cluster). ``key`` in bytes (a post
    cache key holds a 16-byte id) gives bytes: a byte of the id may be a brace, which ends the hash tag early, but it
    ends both keys' at the same byte, so they still share a slot."""
    if isinstance(key, bytes):
        return b"cache:{" + key + b"}", b"cachegen:{" + key + b"}"
    return f"cache:{{{key}}}", f"cachegen:{{{key}}}"


def timeline_key(kind: TimelineKind, owner: int) -> str:
    return f"timeline:{kind.value}:{{{owner}}}"


def celebrities_key(owner: int) -> str:
    return f"timeline:celebrities:{{{owner}}}"


def likes_keys(reader: int) -> list[str]:
    """The reader's likes (a set of 16-byte ids and a sentinel) and their generation: the owner's hash tag."""
    return [f"timeline:likes:{{{reader}}}", f"timeline:likesgen:{{{reader}}}"]


def _keys(kind: TimelineKind, owner: int) -> list[str]:
    if kind is TimelineKind.HOME:
        return [timeline_key(kind, owner), celebrities_key(owner), likes_keys(owner)[0]]
    return [timeline_key(kind, owner)]


def _likes(raw: bytes | str, n: int) -> tuple[ReaderLikes, list[bool] | None]:
    text = _text(raw)
    state = ReaderLikes(text[:1])
    if state is not ReaderLikes.KNOWN:
        return state, None
    if len(text) != n + 1:
        raise ValueError(f"the read script gave {len(text) - 1} like flags for {n} ids")
    return state, [c == "1" for c in text[1:]]


def _upper(before: str | None) -> bytes:
    if before is None:
        return b"+"
    try:
        return b"(" + to_bytes(before)
    except IdOutOfRange:  # a cursor above every possible id: the same as none
        return b"+"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisHandle(Protocol):
    """What the timelines borrow from the Redis adapter that owns them: its client and its location."""

    @property
    def client(self) -> Redis: ...

    @property
    def location(self) -> StoreURL: ...

    cluster: bool

    async def mget(self, keys: Sequence[CacheKey]) -> list[Any]: ...

    async def run_script(self, script: AsyncScript, keys: Sequence[Any], args: Sequence[Any]) -> Any: ...

    async def run_scripts(
        self, script: AsyncScript, calls: Sequence[tuple[Sequence[Any], Sequence[Any]]]
    ) -> list[Any]: ...


class RedisTimelines:
    """The Redis adapter's timelines, celebrity sets and batched post caches: a part of RedisKeyValueStore (its
    ``timelines``), on the same client, so a profile whose key-value store keeps timelines states it by having one."""

    def __init__(self, owner: RedisHandle) -> None:
        self._owner = owner
        self._scripts: dict[str, AsyncScript] = {}
        self._refreshed: dict[str, float] = {}  # timeline key -> when this process last restarted its clock

    def _clock(self, key: str) -> int | bytes:
        """The read scripts' ttl argument for the timeline at ``key``: TIMELINE_TTL_S, to restart its clock (and
        its companion sets'), when this process has not within TTL_REFRESH_S; else b'' (leave them)."""
        now = monotonic()
        last = self._refreshed.get(key)
        if last is not None and now - last < TTL_REFRESH_S:
            return b""
        if len(self._refreshed) >= REFRESHED_MAX:
            self._refreshed.clear()
        self._refreshed[key] = now
        return TIMELINE_TTL_S

    @property
    def location(self) -> StoreURL:
        return self._owner.location

    @property
    def client(self) -> Redis:
        return self._owner.client

    @property
    def cluster(self) -> bool:
        return self._owner.cluster

    async def mget(self, keys: Sequence[CacheKey]) -> list[Any]:
        return await self._owner.mget(keys)

    async def run_script(self, script: AsyncScript, *, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        return await self._owner.run_script(script, keys, args)

    async def run_scripts(self, script: AsyncScript, calls: Sequence[tuple[Sequence[Any], Sequence[Any]]]) -> list[Any]:
        return await self._owner.run_scripts(script, calls)

    def bind(self, client: Redis) -> None:
        """Register the scripts on a newly opened client."""
        for name, text in (
            ("tl_push", PUSH_SCRIPT),
            ("tl_read", READ_SCRIPT),
            ("tl_read_cached", READ_CACHED_SCRIPT),
            ("tl_begin", BEGIN_SCRIPT),
            ("tl_finish", FINISH_SCRIPT),
            ("tl_follow_celebrity", FOLLOW_CELEBRITY_SCRIPT),
            ("likes_fill", LIKES_FILL_SCRIPT),
            ("cache_set", CACHE_SET_SCRIPT),
            ("cache_invalidate", CACHE_INVALIDATE_SCRIPT),
        ):
            self._scripts[name] = client.register_script(text)

    @guard
    async def timeline_read(
        self, kind: TimelineKind, owner: int, *, before: str | None, limit: int
    ) -> tuple[list[str], set[int]] | None:
        keys = _keys(kind, owner)
        found = await self.run_script(
            self._scripts["tl_read"], keys=keys, args=[_upper(before), limit, self._clock(keys[0])]
        )
        if not found:
            return None
        ids, celebrities, _ = found
        return [from_bytes(i) for i in ids], {int(c) for c in celebrities if _text(c) != NO_CELEBRITY}

    @guard
    async def timeline_read_cached(
        self, kind: TimelineKind, owner: int, *, before: str | None, limit: int, cache_prefix: bytes
    ) -> CachedPage | None:
        keys = _keys(kind, owner)
        args: list[bytes | str | int] = [_upper(before), limit, self._clock(keys[0])]
        if self.cluster:  # the cache keys are in other slots: two round trips
            found = await self.run_script(self._scripts["tl_read"], keys=keys, args=args)
            if not found:
                return None
            ids, celebrities, likes = found
            values = await self.cache_get_many([cache_prefix + i for i in ids])
        else:
            head, _, tail = cache_keys(cache_prefix + b"\n")[0].partition(b"\n")
            answer = await self.run_script(self._scripts["tl_read_cached"], keys=keys, args=[*args, head, tail])
            if not answer:
                return None
            ids, celebrities, raw_values, likes = answer
            values = [v or None for v in raw_values]  # '' stands for a miss: a Lua table cannot hold nil
        state, liked = _likes(likes, len(ids))
        return CachedPage(ids, {int(c) for c in celebrities if _text(c) != NO_CELEBRITY}, values, state, liked)

    @guard
    async def timeline_read_many(
        self, kind: TimelineKind, owners: Sequence[int], *, before: str | None, limit: int
    ) -> dict[int, list[bytes] | None]:
        upper = _upper(before)
        keys = [timeline_key(kind, owner) for owner in owners]
        results = await self.run_scripts(
            self._scripts["tl_read"], [([key], [upper, limit, self._clock(key)]) for key in keys]
        )
        return {owner: list(found[0]) if found else None for owner, found in zip(owners, results, strict=True)}

    @guard
    async def timeline_is_live(self, kind: TimelineKind, owner: int) -> bool:
        return bool(await self.client.exists(timeline_key(kind, owner)))

    @guard
    async def timeline_push(self, kind: TimelineKind, owners: Sequence[int], post_ids: Sequence[str]) -> int:
        if not post_ids:
            return 0
        args: list[bytes | int] = [MAX_TIMELINE_ITEMS, *(to_bytes(p) for p in post_ids)]
        batches = self._push_batches([timeline_key(kind, owner) for owner in owners])
        return sum(int(r) for r in await self.run_scripts(self._scripts["tl_push"], [(keys, args) for keys in batches]))

    def _push_batches(self, keys: list[str]) -> list[list[str]]:
        """PUSH_CHUNK timelines per script call; on a cluster, only timelines of one hash slot share a call."""
        if not self.cluster:
            return [keys[at : at + PUSH_CHUNK] for at in range(0, len(keys), PUSH_CHUNK)]
        by_slot: dict[int, list[str]] = {}
        for key in keys:
            by_slot.setdefault(key_slot(key.encode()), []).append(key)
        return [group[at : at + PUSH_CHUNK] for group in by_slot.values() for at in range(0, len(group), PUSH_CHUNK)]

    @guard
    async def timeline_remove(self, kind: TimelineKind, owners: Sequence[int], post_ids: Sequence[str]) -> None:
        if not post_ids:
            return
        members = [to_bytes(p) for p in post_ids]
        for start in range(0, len(owners), PIPELINE_CHUNK):
            pipe = self.client.pipeline(transaction=False)
            for owner in owners[start : start + PIPELINE_CHUNK]:
                pipe.zrem(timeline_key(kind, owner), *members)
            await pipe.execute()

    @guard
    async def timeline_drop(self, kind: TimelineKind, owner: int) -> None:
        await self.client.delete(*_keys(kind, owner))
        if kind is TimelineKind.HOME:  # the likes' copy goes as a like takes it: a fill read before now is refused
            await self._invalidate([likes_keys(owner)])

    # -- the reader's likes ---------------------------------------------------------------------------------------

    @guard
    async def reader_likes_generation(self, reader: int) -> int:
        value = await self.client.get(likes_keys(reader)[1])
        return int(value) if value is not None else 0

    @guard
    async def reader_likes_fill(self, reader: int, post_ids: Sequence[str] | None, *, generation: int) -> bool:
        args: list[bytes | str | int] = [str(generation), TIMELINE_TTL_S]
        if post_ids is None:
            args.append(LIKES_TOO_MANY)
        else:
            args += [LIKES_COMPLETE, *(to_bytes(p) for p in post_ids)]
        return bool(await self.run_script(self._scripts["likes_fill"], keys=likes_keys(reader), args=args))

    @guard
    async def reader_likes_invalidate(self, readers: Sequence[int]) -> None:
        await self._invalidate([likes_keys(reader) for reader in readers])

    @guard
    async def timeline_begin_rebuild(self, kind: TimelineKind, owner: int) -> bool:
        return bool(await self.run_script(self._scripts["tl_begin"], keys=_keys(kind, owner), args=[TIMELINE_TTL_S]))

    @guard
    async def timeline_finish_rebuild(
        self, kind: TimelineKind, owner: int, post_ids: Sequence[str], celebrities: Sequence[int] = ()
    ) -> None:
        await self.run_script(
            self._scripts["tl_finish"],
            keys=_keys(kind, owner),
            args=[TIMELINE_TTL_S, MAX_TIMELINE_ITEMS, len(post_ids), *(to_bytes(p) for p in post_ids), *celebrities],
        )

    # -- celebrities ------------------------------------------------------------------------------------------------

    @guard
    async def celebrity_add(self, user_id: int) -> bool:
        return bool(await self.client.sadd(CELEBRITIES_KEY, user_id))

    @guard
    async def celebrity_remove(self, user_id: int) -> None:
        await self.client.srem(CELEBRITIES_KEY, str(user_id))

    @guard
    async def is_celebrity(self, user_id: int) -> bool:
        return bool(await self.client.sismember(CELEBRITIES_KEY, str(user_id)))

    @guard
    async def celebrities_among(self, user_ids: Sequence[int]) -> set[int]:
        if not user_ids:
            return set()
        flags = await self.client.smismember(CELEBRITIES_KEY, [str(u) for u in user_ids])
        return {u for u, flag in zip(user_ids, flags, strict=True) if flag}

    @guard
    async def follow_celebrity(self, readers: Sequence[int], celebrity: int) -> None:
        for start in range(0, len(readers), PIPELINE_CHUNK):
            chunk = readers[start : start + PIPELINE_CHUNK]
            await self.run_scripts(
                self._scripts["tl_follow_celebrity"], [([celebrities_key(r)], [celebrity]) for r in chunk]
            )

    @guard
    async def unfollow_celebrity(self, reader: int, celebrity: int) -> None:
        await self.client.srem(celebrities_key(reader), str(celebrity))

    # -- batched cache-aside: the feed's post and author caches -----------------------------------------------------
    # One MGET over keys in different slots: on Redis Cluster, redis-py's ``mget_nonatomic`` splits it by slot.

    @guard
    async def cache_get_many(self, keys: Sequence[CacheKey]) -> list[bytes | None]:
        if not keys:
            return []
        values = await self.mget([cache_keys(k)[0] for k in keys])
        return [v.encode() if isinstance(v, str) else v for v in values]

    @guard
    async def cache_generations(self, keys: Sequence[CacheKey]) -> list[int]:
        if not keys:
            return []
        values = await self.mget([cache_keys(k)[1] for k in keys])
        return [int(v) if v is not None else 0 for v in values]

    @guard
    async def cache_set_many(self, entries: Sequence[tuple[CacheKey, bytes, int, int]]) -> None:
        if entries:
            await self.run_scripts(
                self._scripts["cache_set"], [(cache_keys(k), [v, str(g), ttl_s]) for k, v, g, ttl_s in entries]
            )

    @guard
    async def cache_invalidate_many(self, keys: Sequence[CacheKey]) -> None:
        await self._invalidate([list(cache_keys(key)) for key in keys])

    async def _invalidate(self, pairs: Sequence[Sequence[CacheKey]]) -> None:
        """Each (value, generation) pair: the value goes and its generation moves on, so that a value read from the
        source before now is refused after it (the post and card caches, a reader's likes). One pipeline."""
        if pairs:
            await self.run_scripts(self._scripts["cache_invalidate"], [(pair, [GENERATION_TTL_S]) for pair in pairs])
