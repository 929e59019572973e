"""The graph role on FalkorDB (`embedded`: the module loaded into the embedded Redis), in Cypher.

URL: redis://[:password@]host:port, falkor://..., or unix:///path/to/redis.sock, with ``?graph=name`` (default
``social``) naming the graph key.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode

from falkordb.asyncio import FalkorDB

from polysocial.config import GRAPH_NAME, Role, StoreURL
from polysocial.domain.errors import StoreUnavailable
from polysocial.stores.base import EngineInfo, guarded


def split_graph_url(url: str) -> tuple[str, str]:
    """(the Redis URL for the client, the graph name)."""
    base, _, query_string = url.partition("?")
    query = parse_qs(query_string)
    graph = query.pop("graph", [GRAPH_NAME])[0]
    scheme, sep, rest = base.partition("://")
    scheme = {"falkor": "redis", "falkors": "rediss"}.get(scheme, scheme)
    remaining = urlencode({k: v[0] for k, v in query.items()})
    return f"{scheme}{sep}{rest}" + (f"?{remaining}" if remaining else ""), graph


def module_version(encoded: int) -> str:
    """FalkorDB reports its version in MODULE LIST as one integer: 41603 is 4.16.3."""
    return f"{encoded // 10000}.{encoded // 100 % 100}.{encoded % 100}"


class FalkorGraphStore:
    def __init__(self, location: StoreURL, *, connect_timeout_s: float = 5.0) -> None:
        self._location = location
        self._timeout = connect_timeout_s
        self._redis_url, self.graph_name = split_graph_url(location.url)
        self._db: FalkorDB | None = None

    @property
    def role(self) -> Role:
        return self._location.role

    @property
    def location(self) -> StoreURL:
        return self._location

    @property
    def db(self) -> FalkorDB:
        if self._db is None:
            raise StoreUnavailable(self.role.value, self._location.masked, "store is not open")
        return self._db

    async def open(self) -> None:
        async def run() -> None:
            self._db = FalkorDB.from_url(
                self._redis_url, socket_connect_timeout=self._timeout, socket_timeout=max(self._timeout, 30)
            )
            await self._module_version()

        try:
            await guarded(self._location, run)
        except StoreUnavailable:
            await self.close()
            raise

    async def _module_version(self) -> str:
        modules = await self.db.connection.execute_command("MODULE", "LIST")
        for module in modules:
            fields = dict(zip(module[::2], module[1::2], strict=True)) if isinstance(module, list) else module
            if fields.get("name") == "graph":
                return module_version(int(fields["ver"]))
        raise RuntimeError("the server answers but has no FalkorDB (graph) module loaded")

    async def close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            # FalkorDB.from_url hands its client a pool it does not own, so closing the client leaves the pool's
            # sockets open: disconnect the pool itself.
            await db.connection.aclose()
            await db.connection.connection_pool.disconnect()

    async def ping(self) -> None:
        async def run() -> None:
            await self.db.connection.ping()

        await guarded(self._location, run)

    async def engine_info(self) -> EngineInfo:
        version = await guarded(self._location, self._module_version)
        return EngineInfo("FalkorDB", version, f"graph {self.graph_name!r}")
