"""The redis role on Redis (`embedded` and `seed`), through redis.asyncio."""

from __future__ import annotations

from redis.asyncio import Redis

from polysocial.config import Role, StoreURL
from polysocial.domain.errors import StoreUnavailable
from polysocial.stores.base import EngineInfo, guarded


class RedisKeyValueStore:
    def __init__(self, location: StoreURL, *, connect_timeout_s: float = 5.0) -> None:
        self._location = location
        self._timeout = connect_timeout_s
        self._client: Redis | None = None

    @property
    def role(self) -> Role:
        return self._location.role

    @property
    def location(self) -> StoreURL:
        return self._location

    @property
    def client(self) -> Redis:
        if self._client is None:
            raise StoreUnavailable(self.role.value, self._location.masked, "store is not open")
        return self._client

    async def open(self) -> None:
        async def run() -> None:
            self._client = Redis.from_url(
                self._location.url,
                socket_connect_timeout=self._timeout,
                socket_timeout=max(self._timeout, 10),
                health_check_interval=30,
            )
            await self._client.ping()

        try:
            await guarded(self._location, run)
        except StoreUnavailable:
            await self.close()
            raise

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def ping(self) -> None:
        await guarded(self._location, self.client.ping)

    async def engine_info(self) -> EngineInfo:
        async def run() -> str:
            info = await self.client.info("server")
            return str(info["redis_version"])

        return EngineInfo("Redis", await guarded(self._location, run))
