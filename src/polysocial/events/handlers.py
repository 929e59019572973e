"""Event handlers: the projections built from the sources of truth. Each is idempotent (MERGE, a cache
invalidation), so a redelivered event does no harm; the relay also records which handler took which event."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from polysocial.domain.events import PROFILE_UPDATED, USER_REGISTERED, Event
from polysocial.domain.graph import GraphUser
from polysocial.services.profiles import invalidate_profile
from polysocial.stores.graph.protocol import GraphStore
from polysocial.stores.redis.protocol import KeyValueStore


@dataclass(frozen=True, slots=True)
class Handler:
    name: str  # stable: it keys the processed-event records
    event_types: frozenset[str]
    run: Callable[[Event], Awaitable[None]]


def account_handlers(graph: GraphStore, kv: KeyValueStore) -> list[Handler]:
    async def user_node(event: Event) -> None:
        await graph.upsert_users([GraphUser(int(event.payload["user_id"]), str(event.payload["name"]))])

    async def user_node_name(event: Event) -> None:
        fields = event.payload.get("fields", {})
        if "name" in fields:
            await graph.upsert_users([GraphUser(int(event.payload["user_id"]), str(fields["name"]))])

    async def profile_cache(event: Event) -> None:
        await invalidate_profile(kv, int(event.payload["user_id"]))

    return [
        Handler("graph.user_node", frozenset({USER_REGISTERED}), user_node),
        Handler("graph.user_node_name", frozenset({PROFILE_UPDATED}), user_node_name),
        Handler("cache.profile", frozenset({PROFILE_UPDATED}), profile_cache),
    ]
