"""The graph role: who follows whom, and the queries over it (mutuals, suggestions, paths). Neo4j in `seed`,
FalkorDB in `embedded`, SQL in `postgres-only`."""

from __future__ import annotations

from typing import Protocol

from polysocial.stores.base import Store


class GraphStore(Store, Protocol):
    """Later issues add follow, unfollow and the graph queries here."""
