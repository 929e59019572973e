"""What every store adapter has, whatever its role: open, close, ping, and say which engine it talks to."""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar, runtime_checkable
from urllib.parse import urlsplit

from polysocial.config import Role, StoreURL
from polysocial.domain.errors import StoreUnavailable

T = TypeVar("T")
P = ParamSpec("P")


@dataclass(frozen=True, slots=True)
class EngineInfo:
    engine: str  # "PostgreSQL", "FerretDB", "Neo4j", "FalkorDB", "Redis", "InfluxDB"
    version: str
    note: str = ""  # what a reader should know: "MongoDB wire protocol 7.0.42", "JSONB tables"

    def __str__(self) -> str:
        return f"{self.engine} {self.version}" + (f" ({self.note})" if self.note else "")


@runtime_checkable
class Store(Protocol):
    """The part of every role's protocol that the foundation needs: lifecycle and health."""

    @property
    def role(self) -> Role: ...

    @property
    def location(self) -> StoreURL: ...

    async def open(self) -> None:
        """Connect (and create what the adapter needs, such as indexes). Raises StoreUnavailable."""

    async def close(self) -> None:
        """Release connections. Safe to call twice, and after a failed open."""

    async def ping(self) -> None:
        """One round trip to the engine. Raises StoreUnavailable when it does not answer."""

    async def engine_info(self) -> EngineInfo: ...

    async def wipe(self) -> None:
        """Erase everything this role holds, leaving what ``open`` made (tables, indexes): a fresh start for tests
        and demos. Never called by the platform itself."""

    async def item_count(self) -> int:
        """How many items (rows, keys, nodes, documents, series) the role holds: what ``wipe`` leaves at zero."""


async def timed_ping(store: Store) -> float:
    """The round-trip time of one ping, in milliseconds."""
    started = time.perf_counter()
    await store.ping()
    return (time.perf_counter() - started) * 1000


async def guarded(location: StoreURL, call: Callable[[], Awaitable[T]]) -> T:
    """Run ``call``; any driver error becomes StoreUnavailable naming the role and the masked URL."""
    try:
        return await call()
    except StoreUnavailable:
        raise
    except Exception as exc:  # drivers raise many types; the caller needs one
        raise StoreUnavailable(location.role.value, location.masked, describe(exc, location.url)) from exc


class HasLocation(Protocol):
    @property
    def location(self) -> StoreURL: ...


S = TypeVar("S", bound=HasLocation)


def guard(
    method: Callable[Concatenate[S, P], Awaitable[T]],
) -> Callable[Concatenate[S, P], Coroutine[Any, Any, T]]:
    """An adapter method whose driver errors become StoreUnavailable (so a service can fall back on another
    store without knowing this one's driver)."""

    @functools.wraps(method)
    async def wrapper(self: S, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await guarded(self.location, lambda: method(self, *args, **kwargs))

    return wrapper


def describe(exc: BaseException, url: str = "") -> str:
    """A one-line reason without secrets: the exception type and the first line of its message, with the URL's
    password (should a driver echo it) blanked out."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    password = urlsplit(url).password if url else None
    if password:
        text = text.replace(password, "***")
    text = text[:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Adapter:
    """What every adapter shares: its role and location, and the open template (connect; on failure, close and
    raise StoreUnavailable naming the role and the masked URL). Subclasses implement ``_connect`` and ``close``."""

    def __init__(self, location: StoreURL, *, connect_timeout_s: float = 5.0) -> None:
        self._location = location
        self._timeout = connect_timeout_s

    @property
    def role(self) -> Role:
        return self._location.role

    @property
    def location(self) -> StoreURL:
        return self._location

    def not_open(self) -> StoreUnavailable:
        return StoreUnavailable(self.role.value, self._location.masked, "store is not open")

    async def open(self) -> None:
        try:
            await guarded(self._location, self._connect)
        except StoreUnavailable:
            await self.close()
            raise

    async def _connect(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError
