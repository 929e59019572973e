"""The graph role: who follows whom, and the queries over it (mutuals, suggestions, paths). Neo4j in `seed`,
FalkorDB in `embedded`, SQL in `postgres-only`. Every write is idempotent (MERGE, or INSERT ... ON CONFLICT), so
that the relay may deliver an event twice; every list is ordered and paged by user id (a cursor, never an offset)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from polysocial.domain.graph import GraphUser, Suggestion
from polysocial.stores.base import Store

MAX_PATH_HOPS = 6


class GraphStore(Store, Protocol):
    async def upsert_users(self, users: Sequence[GraphUser]) -> None:
        """Create each user's node, or update its name; never a second node for one user."""

    async def missing_users(self, user_ids: Sequence[int]) -> list[int]:
        """Those of ``user_ids`` that have no node, in ascending order."""

    async def duplicate_user_ids(self) -> list[int]:
        """User ids held by more than one node (there should be none)."""

    async def count_users(self) -> int: ...

    # -- follows ----------------------------------------------------------------------------------------------------

    async def bulk_load(self, users: Sequence[GraphUser], edges: Sequence[tuple[int, int]]) -> None:
        """Load users and follows into an empty graph, as fast as the engine allows (CREATE, COPY): for seeding
        and benchmarks, never for live traffic (nothing is merged, so it must not run twice)."""

    async def follow_many(self, edges: Sequence[tuple[int, int]]) -> None:
        """Add (follower, followee) edges, creating bare nodes as needed; an existing edge stays one edge."""

    async def unfollow_many(self, edges: Sequence[tuple[int, int]]) -> None: ...

    async def erase_user(self, user_id: int) -> None:
        """Remove the user's node and every follow to or from it (an account's erasure); twice is once."""

    async def follows(self, follower: int, followee: int) -> bool: ...

    async def followers(self, user_id: int, *, after: int, limit: int) -> list[int]:
        """Ids of the users who follow ``user_id``, ascending, greater than ``after``."""

    async def following(self, user_id: int, *, after: int, limit: int) -> list[int]: ...

    async def follower_ids(self, user_id: int) -> list[int]:
        """Every follower's id, in no particular order, in one round trip: what fan-out needs, as fast as the
        engine can hand it over (at 10,000 followers, FalkorDB's rows take 90 ms to parse; one JSON cell, 2 ms)."""

    async def follow_counts(self, user_id: int) -> tuple[int, int]:
        """(followers, following)."""

    async def mutual_follows(self, a: int, b: int, *, after: int, limit: int) -> list[int]:
        """Users that both ``a`` and ``b`` follow, ascending."""

    async def suggestions(self, user_id: int, *, limit: int) -> list[Suggestion]:
        """Friends of friends not yet followed (and not the user), by the number of distinct middle users, then by
        id. The middle node is named and counted: FalkorDB's ``count(*)`` over an anonymous middle is wrong."""

    async def within_hops(self, user_id: int, *, hops: int, limit: int) -> list[tuple[int, int]]:
        """(user, distance) for users reachable in 1..``hops`` follows, by distance then id, without the user."""

    async def path_length(self, source: int, target: int, *, max_hops: int = MAX_PATH_HOPS) -> int | None:
        """Fewest follows from ``source`` to ``target`` (degrees of separation), None beyond ``max_hops``."""
