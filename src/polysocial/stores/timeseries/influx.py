"""The time-series role on InfluxDB through its v1-compatible HTTP API (line protocol writes, InfluxQL queries), which
InfluxDB 1.x serves natively and 2.x and 3.x serve for compatibility.

URL: http(s)://[user:password@]host:port/<database>. Credentials go in an Authorization header (a 2.x or 3.x token
is the password), never in a query string that a proxy might log.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from polysocial.config import StoreURL
from polysocial.logging import get_logger
from polysocial.stores.base import Adapter, EngineInfo, guarded

log = get_logger(__name__)

DEFAULT_DATABASE = "polysocial"


class InfluxTimeSeriesStore(Adapter):
    def __init__(self, location: StoreURL, *, connect_timeout_s: float = 5.0) -> None:
        super().__init__(location, connect_timeout_s=connect_timeout_s)
        parts = urlsplit(location.url)
        host = parts.hostname or "localhost"
        if ":" in host:
            host = f"[{host}]"
        self._base_url = f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")
        self._auth = (parts.username or "", parts.password or "") if parts.username else None
        self.database = parts.path.strip("/") or DEFAULT_DATABASE
        self._http_timeout = httpx.Timeout(max(connect_timeout_s, 10), connect=connect_timeout_s)
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

    async def _ping_version(self) -> str:
        response = await self.client.get("/ping")
        if response.status_code not in (200, 204):
            raise RuntimeError(f"/ping answered HTTP {response.status_code}")
        return str(response.headers.get("X-Influxdb-Version", "unknown"))

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def ping(self) -> None:
        await guarded(self._location, self._ping_version)

    async def engine_info(self) -> EngineInfo:
        version = await guarded(self._location, self._ping_version)
        return EngineInfo("InfluxDB", version, f"database {self.database!r}, v1 API")
