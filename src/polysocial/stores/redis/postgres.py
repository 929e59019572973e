"""The redis role in PostgreSQL tables (`postgres-only`)."""

from __future__ import annotations

from polysocial.stores.postgres_common import PostgresBackedStore


class PostgresKeyValueStore(PostgresBackedStore):
    note = "caches, sessions and timelines in tables"
