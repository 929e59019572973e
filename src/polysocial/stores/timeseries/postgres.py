"""The time-series role on PostgreSQL (raw events and rollups)."""

from __future__ import annotations

from polysocial.stores.postgres_common import PostgresBackedStore


class PostgresTimeSeriesStore(PostgresBackedStore):
    note = "events and rollups in tables"
