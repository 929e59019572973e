"""The documents role on PostgreSQL JSONB (`embedded` and `postgres-only`)."""

from __future__ import annotations

from polysocial.stores.postgres_common import PostgresBackedStore


class PostgresDocumentStore(PostgresBackedStore):
    note = "JSONB documents"
