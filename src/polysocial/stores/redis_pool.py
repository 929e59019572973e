"""The connection pool of every Redis client here (the key-value role, and the FalkorDB graph on the same server)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from polysocial.config import StoreURL
from polysocial.stores.base import Adapter, guarded

if TYPE_CHECKING:
    from polysocial.stores.breaker import StoreOptions

# Connections per Redis URL in this process. A burst beyond it waits for a free connection (up to the connect
# timeout) instead of failing: redis-py's default pool refuses the 101st concurrent command with "Too many
# connections", which a burst of 150 health checks on a cold process turned into 503s.
MAX_CONNECTIONS = 64


def retry_once() -> Retry:
    """A lost connection is tried again once, at once, on a new connection (a pooled one that a restarted server
    closed); a timeout is not: the role's breaker, not a longer wait, handles an engine that hangs."""
    return Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))


def blocking_pool(url: str, options: StoreOptions, **extra: object) -> BlockingConnectionPool:
    """``options.connect_s`` for connecting and for waiting on a free connection; ``options.command_s`` for an
    answer; ``retry_once``."""
    kwargs: dict[str, object] = {
        "max_connections": MAX_CONNECTIONS,
        "timeout": options.connect_s,
        "socket_connect_timeout": options.connect_s,
        "socket_timeout": options.command_s,
        "health_check_interval": 30,
        "retry": retry_once(),
    }
    return BlockingConnectionPool.from_url(url, **(kwargs | extra))


class RedisBacked(Adapter):
    """An adapter on one Redis server through redis.asyncio, on a ``blocking_pool``: the keyvalue role, and the
    sessions role where it is Redis. Subclasses add what they register on connecting (``_connected``)."""

    def __init__(self, location: StoreURL, options: StoreOptions | None = None) -> None:
        super().__init__(location, options)
        self._client: Redis | None = None

    @property
    def client(self) -> Redis:
        if self._client is None:
            raise self.not_open()
        return self._client

    async def _connect(self) -> None:
        self._client = Redis(connection_pool=blocking_pool(self._location.url, self.options))
        await self._client.ping()
        self._connected(self._client)

    def _connected(self, client: Redis) -> None:
        """Register scripts and the like on a new client."""

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()
            await client.connection_pool.disconnect()  # a pool handed to the client is not closed with it

    async def ping(self) -> None:
        await guarded(self._location, self.client.ping)

    async def redis_version(self) -> str:
        async def run() -> str:
            info = await self.client.info("server")
            return str(info["redis_version"])

        return await guarded(self._location, run)
