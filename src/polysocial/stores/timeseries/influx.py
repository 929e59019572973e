"""The time-series role on InfluxDB through its v1-compatible HTTP API (line protocol writes, InfluxQL queries), which
InfluxDB 1.x serves natively and 2.x and 3.x serve for compatibility.

URL: http(s)://[user:password@]host:port/<database>. Credentials go in an Authorization header (a 2.x or 3.x token
is the password), never in a query string that a proxy might log.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from polysocial.config import StoreURL
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
from polysocial.logging import get_logger
from polysocial.stores.base import Adapter, EngineInfo, guard, guarded
from polysocial.stores.breaker import StoreOptions

log = get_logger(__name__)

DEFAULT_DATABASE = "polysocial"
# post_id is a tag only here, in the hourly rollup, and only for as long as this policy keeps it: the number of
# series is the number of posts viewed in 35 days, not of posts ever viewed.
ROLLUP_POLICY = "views_hourly"
ROLLUP_RETENTION = "35d"
HOUR_NS = 3_600_000_000_000
WRITE_CHUNK = 5_000


def _escape_tag(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def _string_field(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _literal(value: str) -> str:
    """An InfluxQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _ns(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1_000


def _from_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


class InfluxTimeSeriesStore(Adapter):
    def __init__(self, location: StoreURL, options: StoreOptions | None = None) -> None:
        super().__init__(location, options)
        parts = urlsplit(location.url)
        host = parts.hostname or "localhost"
        if ":" in host:
            host = f"[{host}]"
        self._base_url = f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")
        self._auth = (parts.username or "", parts.password or "") if parts.username else None
        self.database = parts.path.strip("/") or DEFAULT_DATABASE
        self._http_timeout = httpx.Timeout(self.options.command_s, connect=self.options.connect_s)
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            raise self.not_open()
        return self._client

    async def _connect(self) -> None:
        self._client = httpx.AsyncClient(base_url=self._base_url, auth=self._auth, timeout=self._http_timeout)
        await self._ping_version()
        await self._create_database()

    async def _create_database(self) -> None:
        response = await self.client.post("/query", data={"q": f'CREATE DATABASE "{self.database}"'})
        if response.status_code >= 400:
            # 2.x and 3.x map v1 databases to buckets and refuse CREATE DATABASE: the bucket must exist already.
            log.info("InfluxDB did not create the database; expecting it to exist", database=self.database)
            return
        policy = (
            f'CREATE RETENTION POLICY "{ROLLUP_POLICY}" ON "{self.database}" DURATION {ROLLUP_RETENTION} REPLICATION 1'
        )
        response = await self.client.post("/query", data={"q": policy})
        if response.status_code >= 400 or "error" in response.text:
            log.info("InfluxDB kept its retention policy", policy=ROLLUP_POLICY, answer=response.text[:200])

    async def _ping_version(self) -> str:
        response = await self.client.get("/ping")
        if response.status_code not in (200, 204):
            raise RuntimeError(f"/ping answered HTTP {response.status_code}")
        return str(response.headers.get("X-Influxdb-Version", "unknown"))

    @guard
    async def wipe(self) -> None:
        response = await self.client.post("/query", data={"q": "DROP SERIES FROM /.*/", "db": self.database})
        response.raise_for_status()

    @guard
    async def item_count(self) -> int:
        response = await self.client.get("/query", params={"q": "SHOW SERIES", "db": self.database})
        response.raise_for_status()
        series = response.json()["results"][0].get("series") or []
        return sum(len(s.get("values") or []) for s in series)

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def ping(self) -> None:
        await guarded(self._location, self._ping_version)

    async def engine_info(self) -> EngineInfo:
        version = await guarded(self._location, self._ping_version)
        return EngineInfo("InfluxDB", version, f"database {self.database!r}, v1 API")

    # -- writes (line protocol, in chunks) --------------------------------------------------------------------------

    async def _write(self, lines: list[str], *, policy: str | None = None) -> None:
        params = {"db": self.database, "precision": "ns", **({"rp": policy} if policy else {})}
        for start in range(0, len(lines), WRITE_CHUNK):
            body = "\n".join(lines[start : start + WRITE_CHUNK]).encode()
            response = await self.client.post("/write", params=params, content=body)
            if response.status_code >= 300:
                raise RuntimeError(f"InfluxDB refused a write: HTTP {response.status_code} {response.text[:200]}")

    @guard
    async def write_views(self, views: Sequence[PostView]) -> None:
        if not views:
            return
        # Raw views: one series (no tags); the viewer and the post are fields, never tags. Points of one series
        # with the same timestamp overwrite each other, so each gets its own nanosecond.
        raw = [
            f"post_views post_id={_string_field(v.post_id)},viewer={v.viewer if v.viewer is not None else 0}i "
            f"{_ns(v.at) + i % 1000}"
            for i, v in enumerate(views)
        ]
        await self._write(raw)
        # The hourly rollup: one point per post and hour for this flush, at the hour plus this flush's instant
        # within an hour, so that flushes add up (sum) instead of overwriting each other.
        offset = time.time_ns() % HOUR_NS
        hourly = Counter((hour_floor(v.at), v.post_id) for v in views)
        rollup = [
            f"post_views_hourly,post_id={_escape_tag(post_id)} views={count}i {_ns(hour) + offset}"
            for (hour, post_id), count in hourly.items()
        ]
        await self._write(rollup, policy=ROLLUP_POLICY)

    @guard
    async def write_requests(self, requests: Sequence[ApiRequest]) -> None:
        lines = [
            f"api_requests,endpoint={_escape_tag(r.endpoint)},method={r.method},status_class={r.status_class} "
            f"duration_ms={float(r.duration_ms)},status={r.status}i {_ns(r.at) + i % 1000}"
            for i, r in enumerate(requests)
        ]
        await self._write(lines)

    @guard
    async def write_points(self, points: Sequence[Point]) -> None:
        lines = []
        for i, p in enumerate(points):
            tags = "".join(f",{k}={_escape_tag(v)}" for k, v in sorted(p.tags.items()))
            fields = ",".join(f"{k}={float(v)}" for k, v in sorted(p.fields.items()))
            lines.append(f"{p.measurement}{tags} {fields} {_ns(p.at) + i % 1000}")
        await self._write(lines)

    # -- queries (InfluxQL) -----------------------------------------------------------------------------------------

    async def _query(self, q: str) -> list[dict[str, Any]]:
        response = await self.client.post("/query", data={"q": q, "db": self.database, "epoch": "ms"})
        if response.status_code >= 300:
            raise RuntimeError(f"InfluxDB refused a query: HTTP {response.status_code} {response.text[:200]}")
        result = response.json()["results"][0]
        if "error" in result:
            raise RuntimeError(f"InfluxDB: {result['error']}")
        series: list[dict[str, Any]] = result.get("series") or []
        return series

    @staticmethod
    def _range(start: datetime, end: datetime) -> str:
        return f"time >= {_ns(start)} AND time < {_ns(end)}"

    @guard
    async def trending(self, start: datetime, end: datetime, *, limit: int) -> list[Trending]:
        # InfluxQL groups by tags only, and cannot order groups by a value: the sums come back per post and are
        # ranked here (with the same tie-break as every adapter).
        series = await self._query(
            f'SELECT sum("views") FROM "{ROLLUP_POLICY}"."post_views_hourly" '
            f'WHERE {self._range(hour_floor(start), end)} GROUP BY "post_id"'
        )
        totals = [Trending(s["tags"]["post_id"], int(s["values"][0][1])) for s in series if s["values"][0][1]]
        return sorted(totals, key=lambda t: (-t.views, t.post_id))[:limit]

    @guard
    async def views_per_hour(self, post_id: str, start: datetime, end: datetime) -> list[HourCount]:
        series = await self._query(
            f'SELECT sum("views") FROM "{ROLLUP_POLICY}"."post_views_hourly" WHERE "post_id" = {_literal(post_id)} '
            f"AND {self._range(hour_floor(start), end)} GROUP BY time(1h) fill(0)"
        )
        found = {int(row[0]): int(row[1] or 0) for s in series for row in s["values"]}
        hours = []
        at = hour_floor(start)
        while at < end:
            hours.append(HourCount(at, found.get(int(at.timestamp() * 1000), 0)))
            at = datetime.fromtimestamp(at.timestamp() + 3600, UTC)
        return hours

    @guard
    async def latency(self, start: datetime, end: datetime) -> list[Latency]:
        series = await self._query(
            'SELECT count("duration_ms"), mean("duration_ms"), percentile("duration_ms", 95) FROM "api_requests" '
            f'WHERE {self._range(start, end)} GROUP BY time(1h), "endpoint" fill(none)'
        )
        rows = [
            Latency(_from_ms(int(v[0])), s["tags"]["endpoint"], int(v[1]), float(v[2]), float(v[3]))
            for s in series
            for v in s["values"]
            if v[1]
        ]
        return sorted(rows, key=lambda r: (r.hour, r.endpoint))

    @guard
    async def status_counts(self, start: datetime, end: datetime) -> dict[str, int]:
        series = await self._query(
            f'SELECT count("duration_ms") FROM "api_requests" WHERE {self._range(start, end)} GROUP BY "status_class"'
        )
        return {s["tags"]["status_class"]: int(s["values"][0][1]) for s in series if s["values"][0][1]}

    @guard
    async def window_mean(
        self, measurement: str, field: str, tags: dict[str, str], start: datetime, end: datetime, *, window_s: int
    ) -> list[WindowMean]:
        Point(measurement, tags, {field: 0.0}, start)  # the names are checked before they reach a query
        where = "".join(f' AND "{k}" = {_literal(v)}' for k, v in sorted(tags.items()))
        offset = int(start.timestamp()) % window_s
        series = await self._query(
            f'SELECT mean("{field}") FROM "{measurement}" WHERE {self._range(start, end)}{where} '
            f"GROUP BY time({window_s}s, {offset}s)"
        )
        found = {int(row[0]): row[1] for s in series for row in s["values"]}
        windows = []
        at = start.timestamp()
        while at < end.timestamp():
            mean = found.get(int(at * 1000))
            windows.append(WindowMean(datetime.fromtimestamp(at, UTC), float(mean) if mean is not None else None))
            at += window_s
        return windows
