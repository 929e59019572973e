"""The documents role: posts, comments and articles, one read per post (DESIGN.md section 1). MongoDB in `seed`,
PostgreSQL JSONB elsewhere. Document aggregates carry their own pending events (DESIGN.md section 3)."""

from __future__ import annotations

from typing import Protocol

from polysocial.stores.base import Store


class DocumentStore(Store, Protocol):
    """Later issues add posts, comments and the in-document outbox here."""
