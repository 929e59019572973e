"""The connection pool of every Redis client here (the key-value role, and the FalkorDB graph on the same server)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError

from polysocial.config import StoreURL
from polysocial.stores.base import Adapter, guarded
from polysocial.stores.redis_mux import MultiplexedRedis, multiplexable

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


class GatedRedisCluster(RedisCluster):
    """redis-py's cluster client refuses a command when a node's connections are all busy (MaxConnectionsError), where
    the single-server client here waits for one (``blocking_pool``): so commands wait at this gate, at most
    MAX_CONNECTIONS at a time per client; the nodes allow twice that, leaving room for pipelines."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._gate = asyncio.Semaphore(MAX_CONNECTIONS)

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        async with self._gate:
            return await super().execute_command(*args, **kwargs)


def cluster_url(url: str) -> str | None:
    """The URL without its ``cluster=true`` (a Redis Cluster: any node's address; the client finds the others), or
    None for a single server."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query)
    flags = [v for k, v in query if k == "cluster"]
    if not flags or flags[-1].lower() not in ("true", "yes", "1"):
        return None
    return urlunsplit(parts._replace(query=urlencode([(k, v) for k, v in query if k != "cluster"])))


class RedisBacked(Adapter):
    """An adapter on one Redis server through redis.asyncio, on a ``blocking_pool``: the keyvalue role, and the
    sessions role where it is Redis. Subclasses add what they register on connecting (``_connected``)."""

    def __init__(self, location: StoreURL, options: StoreOptions | None = None) -> None:
        super().__init__(location, options)
        self._client: Redis | None = None
        # A Redis Cluster (``?cluster=true``): the same commands through redis-py's cluster client, with every
        # multi-key script and transaction on keys of one hash slot (the keys carry hash tags), MGET split by slot,
        # and scripts in pipelines sent as EVAL (a failed-over master has an empty script cache).
        self.cluster = cluster_url(location.url) is not None
        # The quick commands of every request (scripts, MGET) share one multiplexed connection (stores/redis_mux.py)
        self._mux: MultiplexedRedis | None = None

    @property
    def client(self) -> Redis:
        if self._client is None:
            raise self.not_open()
        return self._client

    async def _connect(self) -> None:
        plain = cluster_url(self._location.url)
        if plain is None:
            self._client = Redis(connection_pool=blocking_pool(self._location.url, self.options))
            if multiplexable(self._location.url):
                self._mux = MultiplexedRedis(
                    self._location.url, connect_s=self.options.connect_s, command_s=self.options.command_s
                )
        else:
            cluster = GatedRedisCluster.from_url(
                plain,
                max_connections=2 * MAX_CONNECTIONS,
                socket_connect_timeout=self.options.connect_s,
                socket_timeout=self.options.command_s,
                retry=retry_once(),
            )
            await cluster.initialize()
            # The cluster client has the single server's command API (the same mixins): typed as one here
            self._client = cast(Redis, cluster)
        await self._client.ping()
        self._connected(self._client)

    async def mget(self, keys: Sequence[str | bytes]) -> list[Any]:
        """MGET, split by hash slot on a cluster (not atomic there: the feed's caches do not need it to be)."""
        if self.cluster:
            return list(await cast(RedisCluster, self.client).mget_nonatomic(list(keys)))
        if self._mux is not None:
            return list(await self._mux.execute("MGET", *keys))
        return list(await self.client.mget(list(keys)))

    async def run_script(self, script: AsyncScript, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        """``script`` on its keys: on the multiplexed connection by its SHA, loaded again (by redis-py's Script) on a
        server that does not know it; on a cluster or over TLS, through redis-py."""
        if self._mux is None:
            return await script(keys=list(keys), args=list(args))
        try:
            return await self._mux.execute("EVALSHA", script.sha, len(keys), *keys, *args)
        except NoScriptError:  # a restarted or flushed server
            return await script(keys=list(keys), args=list(args))

    async def run_scripts(self, script: AsyncScript, calls: Sequence[tuple[Sequence[Any], Sequence[Any]]]) -> list[Any]:
        """Many calls of ``script``, each with its keys and arguments, in one round trip; their answers in order.
        On the multiplexed connection by SHA; else in a redis-py pipeline, which loads the script first. A batch the
        server could not run (it did not know the script) is sent again that way: the scripts batched here may
        repeat (they set, add, read or move a generation on)."""
        if self._mux is not None:
            answers = await self._mux.execute_many(
                [("EVALSHA", script.sha, len(keys), *keys, *args) for keys, args in calls]
            )
            if not any(isinstance(a, NoScriptError) for a in answers):
                for answer in answers:
                    if isinstance(answer, Exception):
                        raise answer
                return answers
        pipe = self.client.pipeline(transaction=False)
        for keys, args in calls:
            await self.queue_script(pipe, script, keys, args)
        return list(await pipe.execute())

    async def queue_script(self, pipe: Any, script: AsyncScript, keys: Sequence[Any], args: Sequence[Any]) -> None:
        """Queue ``script`` in ``pipe``: by its SHA on one server (the pipeline loads it first), as EVAL on a cluster
        (a pipeline there cannot load it on the node each key lives on). The keys of one call share a hash slot."""
        if self.cluster:
            pipe.eval(script.script, len(keys), *keys, *args)
        else:
            await script(keys=list(keys), args=list(args), client=pipe)

    def _connected(self, client: Redis) -> None:
        """Register scripts and the like on a new client."""

    async def close(self) -> None:
        if self._mux is not None:
            mux, self._mux = self._mux, None
            await mux.close()
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()
            if not self.cluster:
                await client.connection_pool.disconnect()  # a pool handed to the client is not closed with it

    async def ping(self) -> None:
        await guarded(self._location, self.client.ping)

    async def redis_version(self) -> str:
        async def run() -> str:
            info = await self.client.info("server")
            if "redis_version" not in info:  # a cluster answers per node
                info = next(iter(info.values()))
            return str(info["redis_version"])

        return await guarded(self._location, run)
