"""The relational role on PostgreSQL (every profile)."""

from __future__ import annotations

from polysocial.stores.postgres_common import PostgresBackedStore


class PostgresRelationalStore(PostgresBackedStore):
    note = ""
