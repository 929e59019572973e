"""The graph role: who follows whom, and the queries over it (mutuals, suggestions, paths). Neo4j in `seed`,
FalkorDB in `embedded`, SQL in `postgres-only`. Every write is idempotent (MERGE, or INSERT ... ON CONFLICT), so
that the relay may deliver an event twice."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from polysocial.domain.graph import GraphUser
from polysocial.stores.base import Store


class GraphStore(Store, Protocol):
    async def upsert_users(self, users: Sequence[GraphUser]) -> None:
        """Create each user's node, or update its name; never a second node for one user."""

    async def missing_users(self, user_ids: Sequence[int]) -> list[int]:
        """Those of ``user_ids`` that have no node, in ascending order."""

    async def duplicate_user_ids(self) -> list[int]:
        """User ids held by more than one node (there should be none)."""

    async def count_users(self) -> int: ...
