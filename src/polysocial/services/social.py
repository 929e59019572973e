"""The social graph's use cases: follow and unfollow (recorded in the outbox, applied to the graph at once and again
by the relay), and the reads over the graph, with names from the accounts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from polysocial.domain.errors import DomainError, NotFound
from polysocial.domain.events import Event, followed, unfollowed
from polysocial.logging import get_logger
from polysocial.stores.base import describe
from polysocial.stores.graph.protocol import MAX_PATH_HOPS, GraphStore
from polysocial.stores.relational.protocol import RelationalStore

log = get_logger(__name__)

MAX_PAGE = 100


class SelfFollow(DomainError):
    status = 422
    title = "Cannot follow yourself"
    type_slug = "self-follow"


@dataclass(frozen=True, slots=True)
class NamedUser:
    user_id: int
    name: str


async def require_users(relational: RelationalStore, *user_ids: int) -> dict[int, str]:
    names = await relational.user_names(list(user_ids))
    for user_id in user_ids:
        if user_id not in names:
            raise NotFound(f"user {user_id} does not exist")
    return names


async def named(relational: RelationalStore, user_ids: Sequence[int]) -> list[NamedUser]:
    names = await relational.user_names(list(user_ids)) if user_ids else {}
    return [NamedUser(uid, names.get(uid, "")) for uid in user_ids]


@dataclass(frozen=True, slots=True)
class FollowPage:
    users: list[NamedUser]
    next_after: int | None


@dataclass(frozen=True, slots=True)
class NamedSuggestion:
    user_id: int
    name: str
    strength: int


@dataclass(frozen=True, slots=True)
class NamedNearby:
    user_id: int
    name: str
    distance: int


class Social:
    """Follows and the graph's reads. Writes are the caller's own; names come from the accounts."""

    def __init__(self, relational: RelationalStore, graph: GraphStore) -> None:
        self.relational = relational
        self.graph = graph

    async def follow(self, follower: int, followee: int) -> None:
        """Follow (following twice is still one follow)."""
        await self._record(follower, followee, followed(follower, followee), follow=True)
        await self._apply_now(follower, followee, self.graph.follow_many)

    async def unfollow(self, follower: int, followee: int) -> None:
        await self._record(follower, followee, unfollowed(follower, followee), follow=False)
        await self._apply_now(follower, followee, self.graph.unfollow_many)

    async def _record(self, follower: int, followee: int, event: Event, *, follow: bool) -> None:
        """The follow record and its event, in one transaction (the graph applies the event)."""
        if follower == followee:
            raise SelfFollow("you cannot follow yourself")
        await require_users(self.relational, followee)
        async with self.relational.transaction() as tx:
            if follow:
                if not await tx.follows.record(follower, followee):  # erased meanwhile
                    raise NotFound(f"user {followee} does not exist")
            else:
                await tx.follows.erase(follower, followee)
            await tx.outbox.add([event])

    @staticmethod
    async def _apply_now(
        follower: int, followee: int, write: Callable[[Sequence[tuple[int, int]]], Awaitable[None]]
    ) -> None:
        """The event is committed; this graph write is for the caller to see their change at once. If it is lost,
        the relay applies the event anyway."""
        try:
            await write([(follower, followee)])
        except Exception as exc:  # the relay will deliver it: the change is committed
            log.warning("graph write deferred to the relay", follower=follower, followee=followee, error=describe(exc))

    async def names(self, user_ids: Sequence[int]) -> dict[int, str]:
        """Display names of these users (a user that does not exist is left out)."""
        return await self.relational.user_names(list(dict.fromkeys(user_ids))) if user_ids else {}

    async def _page(self, ids: list[int], limit: int) -> FollowPage:
        return FollowPage(await named(self.relational, ids), ids[-1] if len(ids) == limit else None)

    async def followers(self, user_id: int, *, after: int, limit: int) -> FollowPage:
        await require_users(self.relational, user_id)
        return await self._page(await self.graph.followers(user_id, after=after, limit=limit), limit)

    async def following(self, user_id: int, *, after: int, limit: int) -> FollowPage:
        await require_users(self.relational, user_id)
        return await self._page(await self.graph.following(user_id, after=after, limit=limit), limit)

    async def counts(self, user_id: int) -> tuple[int, int]:
        """(followers, following)."""
        await require_users(self.relational, user_id)
        return await self.graph.follow_counts(user_id)

    async def relationship(self, me: int, user_id: int) -> tuple[bool, bool]:
        """(I follow them, they follow me)."""
        await require_users(self.relational, user_id)
        return await self.graph.follows(me, user_id), await self.graph.follows(user_id, me)

    async def mutuals(self, me: int, user_id: int, *, after: int, limit: int) -> FollowPage:
        await require_users(self.relational, user_id)
        return await self._page(await self.graph.mutual_follows(me, user_id, after=after, limit=limit), limit)

    async def suggestions(self, me: int, *, limit: int) -> list[NamedSuggestion]:
        found = await self.graph.suggestions(me, limit=limit)
        names = await self.relational.user_names([s.user_id for s in found]) if found else {}
        return [NamedSuggestion(s.user_id, names.get(s.user_id, ""), s.strength) for s in found]

    async def nearby(self, me: int, *, hops: int, limit: int) -> list[NamedNearby]:
        found = await self.graph.within_hops(me, hops=hops, limit=limit)
        names = await self.relational.user_names([uid for uid, _ in found]) if found else {}
        return [NamedNearby(uid, names.get(uid, ""), d) for uid, d in found]

    async def separation(self, me: int, user_id: int) -> int | None:
        await require_users(self.relational, user_id)
        return await self.graph.path_length(me, user_id, max_hops=MAX_PATH_HOPS)
