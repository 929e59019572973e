"""The social graph's use cases: follow and unfollow (recorded in the outbox, applied to the graph at once and again
by the relay), and the reads over the graph, with names from the accounts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from polysocial.domain.errors import DomainError, NotFound
from polysocial.domain.events import followed, unfollowed
from polysocial.logging import get_logger
from polysocial.stores.base import describe
from polysocial.stores.graph.protocol import GraphStore
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


async def set_following(relational: RelationalStore, graph: GraphStore, follower: int, followee: int, on: bool) -> None:
    """Follow (``on``) or unfollow. The event commits first; the graph write that follows is for the caller to see
    their change at once, and if it is lost the relay applies the event anyway."""
    if follower == followee:
        raise SelfFollow("you cannot follow yourself")
    await require_users(relational, followee)
    async with relational.transaction() as tx:
        await tx.add_events([followed(follower, followee) if on else unfollowed(follower, followee)])
    try:
        if on:
            await graph.follow_many([(follower, followee)])
        else:
            await graph.unfollow_many([(follower, followee)])
    except Exception as exc:  # the relay will deliver it: the change is committed
        log.warning("graph write deferred to the relay", follower=follower, followee=followee, error=describe(exc))
