"""The graph role in PostgreSQL tables (`postgres-only`): the article's "could we just use PostgreSQL?"."""

from __future__ import annotations

from polysocial.stores.postgres_common import PostgresBackedStore


class PostgresGraphStore(PostgresBackedStore):
    note = "follow graph in SQL tables"
