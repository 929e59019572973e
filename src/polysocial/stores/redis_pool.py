"""The connection pool of every Redis client here (the key-value role, and the FalkorDB graph on the same server)."""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool

# Connections per Redis URL in this process. A burst beyond it waits for a free connection (up to the connect
# timeout) instead of failing: redis-py's default pool refuses the 101st concurrent command with "Too many
# connections", which a burst of 150 health checks on a cold process turned into 503s.
MAX_CONNECTIONS = 64


def blocking_pool(
    url: str, *, timeout_s: float, command_timeout_s: float = 10, **options: object
) -> BlockingConnectionPool:
    """``timeout_s`` for connecting and for waiting on a free connection; ``command_timeout_s`` (at least
    ``timeout_s``) for an answer."""
    return BlockingConnectionPool.from_url(
        url,
        max_connections=MAX_CONNECTIONS,
        timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        socket_timeout=max(timeout_s, command_timeout_s),
        health_check_interval=30,
        **options,
    )
