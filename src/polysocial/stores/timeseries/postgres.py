"""The time-series role on PostgreSQL: raw events in append-only tables with BRIN indexes on time (tiny, and right
for rows that arrive in time order), plus an hourly rollup of views kept up to date on every flush, so that trending
and per-post series read rollups, never the raw events."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from polysocial.domain.analytics import (
    ApiRequest,
    HourCount,
    Latency,
    Point,
    PostView,
    Trending,
    WindowMean,
    hour_floor,
)
from polysocial.stores.postgres_common import PostgresBackedStore

SCHEMA_LOCK = 7_150_005

SCHEMA = """
CREATE TABLE IF NOT EXISTS ts_post_views (
    post_id text NOT NULL,
    viewer  bigint,
    at      timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS ts_post_views_at ON ts_post_views USING brin (at);
CREATE TABLE IF NOT EXISTS ts_post_views_hourly (
    hour    timestamptz NOT NULL,
    post_id text NOT NULL,
    views   bigint NOT NULL,
    PRIMARY KEY (hour, post_id)
);
CREATE INDEX IF NOT EXISTS ts_post_views_hourly_post ON ts_post_views_hourly (post_id, hour);
CREATE TABLE IF NOT EXISTS ts_api_requests (
    endpoint     text NOT NULL,
    method       text NOT NULL,
    status       integer NOT NULL,
    status_class text NOT NULL,
    duration_ms  double precision NOT NULL,
    at           timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS ts_api_requests_at ON ts_api_requests USING brin (at);
CREATE TABLE IF NOT EXISTS ts_points (
    measurement text NOT NULL,
    tags        jsonb NOT NULL,
    fields      jsonb NOT NULL,
    at          timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS ts_points_at ON ts_points USING brin (at);
CREATE INDEX IF NOT EXISTS ts_points_measurement ON ts_points (measurement, at);
"""


class PostgresTimeSeriesStore(PostgresBackedStore):
    note = "events and rollups in tables"
    tables = ("ts_api_requests", "ts_points", "ts_post_views", "ts_post_views_hourly")

    async def create_schema(self) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            await conn.execute(SCHEMA)

    async def write_views(self, views: Sequence[PostView]) -> None:
        if not views:
            return
        hourly = Counter((hour_floor(v.at), v.post_id) for v in views)
        async with self.pool.connection() as conn, conn.transaction():
            async with conn.cursor().copy("COPY ts_post_views (post_id, viewer, at) FROM STDIN") as copy:
                for view in views:
                    await copy.write_row((view.post_id, view.viewer, view.at))
            await conn.execute(
                "INSERT INTO ts_post_views_hourly AS h (hour, post_id, views) "
                "SELECT * FROM unnest(%s::timestamptz[], %s::text[], %s::bigint[]) "
                "ON CONFLICT (hour, post_id) DO UPDATE SET views = h.views + excluded.views",
                ([h for h, _ in hourly], [p for _, p in hourly], list(hourly.values())),
            )

    async def write_requests(self, requests: Sequence[ApiRequest]) -> None:
        if not requests:
            return
        async with self.pool.connection() as conn:
            query = "COPY ts_api_requests (endpoint, method, status, status_class, duration_ms, at) FROM STDIN"
            async with conn.cursor().copy(query) as copy:
                for r in requests:
                    await copy.write_row((r.endpoint, r.method, r.status, r.status_class, r.duration_ms, r.at))

    async def write_points(self, points: Sequence[Point]) -> None:
        if not points:
            return
        query = "COPY ts_points (measurement, tags, fields, at) FROM STDIN"
        async with self.pool.connection() as conn, conn.cursor().copy(query) as copy:
            for p in points:
                await copy.write_row((p.measurement, Jsonb(p.tags), Jsonb(p.fields), p.at))

    async def _fetch(self, query: str, params: Sequence[Any] | dict[str, Any]) -> list[tuple[Any, ...]]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(query, params)
            return await cur.fetchall()

    async def trending(self, start: datetime, end: datetime, *, limit: int) -> list[Trending]:
        rows = await self._fetch(
            "SELECT post_id, sum(views)::bigint FROM ts_post_views_hourly WHERE hour >= %s AND hour < %s "
            "GROUP BY post_id ORDER BY 2 DESC, 1 LIMIT %s",
            (start, end, limit),
        )
        return [Trending(r[0], int(r[1])) for r in rows]

    async def views_per_hour(self, post_id: str, start: datetime, end: datetime) -> list[HourCount]:
        rows = await self._fetch(
            "SELECT g.hour, coalesce(h.views, 0) FROM generate_series(%s::timestamptz, %s::timestamptz - "
            "interval '1 hour', interval '1 hour') AS g(hour) "
            "LEFT JOIN ts_post_views_hourly h ON h.hour = g.hour AND h.post_id = %s ORDER BY g.hour",
            (hour_floor(start), end, post_id),
        )
        return [HourCount(r[0], int(r[1])) for r in rows]

    async def latency(self, start: datetime, end: datetime) -> list[Latency]:
        rows = await self._fetch(
            "SELECT date_trunc('hour', at) AS hour, endpoint, count(*), avg(duration_ms), "
            "       percentile_disc(0.95) WITHIN GROUP (ORDER BY duration_ms) "
            "FROM ts_api_requests WHERE at >= %s AND at < %s GROUP BY 1, 2 ORDER BY 1, 2",
            (start, end),
        )
        return [Latency(r[0], r[1], int(r[2]), float(r[3]), float(r[4])) for r in rows]

    async def status_counts(self, start: datetime, end: datetime) -> dict[str, int]:
        rows = await self._fetch(
            "SELECT status_class, count(*) FROM ts_api_requests WHERE at >= %s AND at < %s GROUP BY 1",
            (start, end),
        )
        return {r[0]: int(r[1]) for r in rows}

    async def window_mean(
        self, measurement: str, field: str, tags: dict[str, str], start: datetime, end: datetime, *, window_s: int
    ) -> list[WindowMean]:
        rows = await self._fetch(
            "SELECT g.start, avg((p.fields ->> %(field)s)::double precision) "
            "FROM generate_series(%(start)s::timestamptz, %(end)s::timestamptz - make_interval(secs => 0.000001), "
            "                     make_interval(secs => %(w)s)) AS g(start) "
            "LEFT JOIN ts_points p ON p.measurement = %(m)s AND p.tags @> %(tags)s AND p.fields ? %(field)s "
            "  AND p.at >= g.start AND p.at < g.start + make_interval(secs => %(w)s) AND p.at < %(end)s "
            "GROUP BY g.start ORDER BY g.start",
            {"field": field, "start": start, "end": end, "w": window_s, "m": measurement, "tags": Jsonb(tags)},
        )
        return [WindowMean(r[0], float(r[1]) if r[1] is not None else None) for r in rows]
