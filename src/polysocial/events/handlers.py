"""Event handlers: the projections built from the sources of truth. A redelivered event does no harm: a handler is
either idempotent by construction (MERGE, a cache invalidation; ``tracked=False``) or the relay records which
handler took which event and skips it the second time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from polysocial import tracing
from polysocial.domain.events import (
    ACCOUNT_DELETED,
    CART_CHANGED,
    FOLLOWED,
    PROFILE_UPDATED,
    UNFOLLOWED,
    USER_REGISTERED,
    Event,
)
from polysocial.domain.graph import GraphUser
from polysocial.domain.posts import COMMENT_ADDED, LIKES_CHANGED, POST_CREATED, POST_DELETED, POST_EDITED
from polysocial.services import carts, posts
from polysocial.services.erasure import Erasure
from polysocial.services.feed import Feeds
from polysocial.services.profiles import invalidate_profile
from polysocial.stores.documents.protocol import POSTS, DocumentStore
from polysocial.stores.graph.protocol import GraphStore
from polysocial.stores.keyvalue.protocol import KeyValueStore
from polysocial.stores.relational.protocol import RelationalStore


@dataclass(frozen=True, slots=True)
class Handler:
    name: str  # stable: it keys the processed-event records
    event_types: frozenset[str]
    run: Callable[[Event], Awaitable[None]]
    # Many events in one round trip (an UNWIND, a pipeline). The relay hands it at most one event per aggregate,
    # so applying them together keeps the order per aggregate.
    run_many: Callable[[Sequence[Event]], Awaitable[None]] | None = None
    # False for a handler that is idempotent by construction (a MERGE, an upsert, a cache invalidation, its own
    # record in the same transaction) and depends only on its aggregate's events: applying it again is harmless, so
    # the relay skips the two tracking round trips. Fan-out reads other aggregates (who follows whom now), so the
    # feed's handlers stay tracked: re-run after an unfollow, a fan-out would put the post back.
    tracked: bool = True

    async def apply(self, events: Sequence[Event]) -> None:
        """Each delivery is a span continuing the trace of the request that wrote its events (when tracing is on)."""
        if self.run_many is not None:
            with tracing.delivering(events, self.name):
                await self.run_many(events)
        else:
            for event in events:
                with tracing.delivering([event], self.name):
                    await self.run(event)


def account_handlers(graph: GraphStore, keyvalue: KeyValueStore) -> list[Handler]:
    async def user_nodes(events: Sequence[Event]) -> None:
        await graph.upsert_users([GraphUser(int(e.payload["user_id"]), str(e.payload["name"])) for e in events])

    async def user_node(event: Event) -> None:
        await user_nodes([event])

    async def user_node_name(event: Event) -> None:
        fields = event.payload.get("fields", {})
        if "name" in fields:
            await graph.upsert_users([GraphUser(int(event.payload["user_id"]), str(fields["name"]))])

    async def profile_cache(event: Event) -> None:
        await invalidate_profile(keyvalue, int(event.payload["user_id"]))

    return [
        Handler("graph.user_node", frozenset({USER_REGISTERED}), user_node, user_nodes, tracked=False),
        Handler("graph.user_node_name", frozenset({PROFILE_UPDATED}), user_node_name, tracked=False),
        Handler("cache.profile", frozenset({PROFILE_UPDATED}), profile_cache, tracked=False),
    ]


def follow_handlers(graph: GraphStore) -> list[Handler]:
    """The graph applies follows at once for the user who made them; these handlers apply them again from the
    outbox (idempotently), so a follow whose direct write was lost still lands."""

    def pairs(events: Sequence[Event]) -> list[tuple[int, int]]:
        return [(int(e.payload["follower"]), int(e.payload["followee"])) for e in events]

    async def follow_many(events: Sequence[Event]) -> None:
        await graph.follow_many(pairs(events))

    async def unfollow_many(events: Sequence[Event]) -> None:
        await graph.unfollow_many(pairs(events))

    async def follow_one(event: Event) -> None:
        await follow_many([event])

    async def unfollow_one(event: Event) -> None:
        await unfollow_many([event])

    return [
        Handler("graph.follow", frozenset({FOLLOWED}), follow_one, follow_many, tracked=False),
        Handler("graph.unfollow", frozenset({UNFOLLOWED}), unfollow_one, unfollow_many, tracked=False),
    ]


def post_handlers(documents: DocumentStore) -> list[Handler]:
    async def store_comment(event: Event) -> None:
        await posts.store_comment(documents, dict(event.payload["comment"]))

    return [Handler("documents.comment", frozenset({COMMENT_ADDED}), store_comment, tracked=False)]


POST_CHANGED = frozenset({POST_EDITED, LIKES_CHANGED, COMMENT_ADDED})  # what a cached feed post shows


def feed_handlers(feeds: Feeds) -> list[Handler]:
    """Timelines and the post cache (only where the keyvalue role keeps timelines; postgres-only reads on demand)."""
    if feeds.timelines is None:
        return []

    def is_post(event: Event) -> bool:
        return str(event.payload.get("collection", POSTS)) == POSTS

    async def fan_out(event: Event) -> None:
        if is_post(event):
            await feeds.post_created(str(event.payload["post_id"]), int(event.payload["author_id"]))

    async def take_out(event: Event) -> None:
        if is_post(event):
            await feeds.post_deleted(str(event.payload["post_id"]), int(event.payload["author_id"]))

    async def posts_changed_many(events: Sequence[Event]) -> None:
        await feeds.posts_changed([str(e.payload["post_id"]) for e in events])

    async def post_changed(event: Event) -> None:
        await posts_changed_many([event])

    async def followed(event: Event) -> None:
        await feeds.followed(int(event.payload["follower"]), int(event.payload["followee"]))

    async def unfollowed(event: Event) -> None:
        await feeds.unfollowed(int(event.payload["follower"]), int(event.payload["followee"]))

    async def likes_changed_many(events: Sequence[Event]) -> None:
        await feeds.likes_changed([int(e.payload["user_id"]) for e in events])

    async def likes_changed(event: Event) -> None:
        await likes_changed_many([event])

    return [
        Handler("feed.fan_out", frozenset({POST_CREATED}), fan_out),
        Handler("feed.take_out", frozenset({POST_DELETED}), take_out),
        # A cached post goes when it is edited, liked or commented on: an invalidation, idempotent and harmless in
        # any order.
        Handler("feed.post_changed", POST_CHANGED, post_changed, posts_changed_many, tracked=False),
        Handler("feed.follow", frozenset({FOLLOWED}), followed),
        Handler("feed.unfollow", frozenset({UNFOLLOWED}), unfollowed),
        # An invalidation: idempotent, and harmless in any order.
        Handler("feed.reader_likes", frozenset({LIKES_CHANGED}), likes_changed, likes_changed_many, tracked=False),
    ]


def cart_handlers(relational: RelationalStore) -> list[Handler]:
    async def durable_copy(event: Event) -> None:
        p = event.payload
        await carts.apply_durable(relational, event.event_id, int(p["user_id"]), int(p["product_id"]), int(p["delta"]))

    # Its own record (cart_deltas_applied) commits with the change: tracking it again would add nothing.
    return [Handler("carts.durable_copy", frozenset({CART_CHANGED}), durable_copy, tracked=False)]


def erasure_handlers(erasure: Erasure) -> list[Handler]:
    """An account's erasure (services/erasure.py). Idempotent by construction, every step: untracked."""
    return [Handler("accounts.erase", frozenset({ACCOUNT_DELETED}), erasure.erase, tracked=False)]
