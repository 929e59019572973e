"""What every store adapter has, whatever its role: open, close, ping, and say which engine it talks to."""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Any, ClassVar, Concatenate, ParamSpec, Protocol, TypeVar, runtime_checkable
from urllib.parse import urlsplit

import cassandra
import cassandra.cluster
import httpx
import neo4j.exceptions
import psycopg
import pymongo.errors
import redis.exceptions

from polysocial.config import Role, StoreURL
from polysocial.domain.errors import PolysocialError, StoreUnavailable
from polysocial.stores.breaker import CircuitBreaker, CircuitOpen, StoreOptions

T = TypeVar("T")

# The breakers whose guarded call the current task is inside (a nested call leaves the verdict to the outer one).
_HELD: ContextVar[tuple[CircuitBreaker, ...]] = ContextVar("held_breakers", default=())
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

    @property
    def circuit(self) -> CircuitBreaker:
        """The circuit breaker this role's calls go through (metrics read its state)."""
        ...

    def pool_usage(self) -> tuple[int, int] | None:
        """(connections in use, requests waiting) of the role's pool, where the driver counts them; else None."""


async def timed_ping(store: Store) -> float:
    """The round-trip time of one ping, in milliseconds."""
    started = time.perf_counter()
    await store.ping()
    return (time.perf_counter() - started) * 1000


async def guarded(location: StoreURL, call: Callable[[], Awaitable[T]], breaker: CircuitBreaker | None = None) -> T:
    """Run ``call``; any driver error becomes StoreUnavailable naming the role and the masked URL (errors of this
    package pass as they are). With the role's ``breaker``: refused at once while it is open, and the outcome
    (transport failure, or an answer) recorded."""
    async with watched(location, breaker):
        return await call()


class watched:
    """The block talks to the role's engine. A driver error leaving it becomes StoreUnavailable (with
    ``answers_too=False`` only a transport failure does: a transaction's own answers, such as a serialization
    failure, must reach the code that retries them). With the role's ``breaker``: the block is refused at once
    while it is open, and its outcome is recorded; a block inside another of the same role leaves both to that one
    (so a half-open probe is never refused by its own inner calls).

    A class, not an ``asynccontextmanager``: every store call goes through one, and the generator's frames cost
    2 us of a guarded call's 3."""

    __slots__ = ("answers_too", "breaker", "location", "probe", "token")

    def __init__(self, location: StoreURL, breaker: CircuitBreaker | None, *, answers_too: bool = True) -> None:
        self.location = location
        self.breaker = breaker
        self.answers_too = answers_too
        self.token: Token[tuple[CircuitBreaker, ...]] | None = None  # set: this block holds the breaker
        self.probe = False

    async def __aenter__(self) -> None:
        breaker = self.breaker
        if breaker is None:
            return
        held = _HELD.get()
        if breaker in held:
            return  # the outer block of the same role decides
        self.token = _HELD.set((*held, breaker))
        try:
            self.probe = ask_breaker(self.location, breaker)
        except BaseException:
            _HELD.reset(self.token)
            raise

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None, _: object) -> None:
        breaker, location = self.breaker, self.location
        if breaker is None:
            if isinstance(exc, Exception) and not isinstance(exc, PolysocialError):  # drivers raise many types
                raise StoreUnavailable(location.role.value, location.masked, describe(exc, location.url)) from exc
            return
        if self.token is None:  # inside another block of the same role
            return
        try:
            if exc is None:
                breaker.success()
            elif isinstance(exc, StoreUnavailable):  # said by a part below (not open; another role's store)
                if self.probe:
                    breaker.cancel_probe()
            elif isinstance(exc, PolysocialError):  # an answer that means something (Conflict): the engine is up
                breaker.success()
            elif isinstance(exc, Exception):
                if self.answers_too or is_transport_failure(exc):
                    raise unavailable(location, exc, breaker) from exc
                breaker.success()
            elif self.probe:  # cancelled: no answer either way
                breaker.cancel_probe()
        finally:
            _HELD.reset(self.token)


def ask_breaker(location: StoreURL, breaker: CircuitBreaker) -> bool:
    """Ask the breaker for a call: True when it is the half-open probe; StoreUnavailable when it is refused."""
    try:
        return breaker.before()
    except CircuitOpen as exc:
        raise StoreUnavailable(
            location.role.value, location.masked, str(exc), retry_after_s=exc.retry_after_s
        ) from None


def unavailable(location: StoreURL, exc: BaseException, breaker: CircuitBreaker) -> StoreUnavailable:
    """The StoreUnavailable for a driver error, after telling the breaker: a transport failure counts towards
    opening it; any other error means the engine answered, so it is up."""
    reason = describe(exc, location.url)
    if is_transport_failure(exc):
        breaker.failure(reason)
    else:
        breaker.success()
    return StoreUnavailable(location.role.value, location.masked, reason, retry_after_s=breaker.retry_after_s() or 1.0)


def is_transport_failure(exc: BaseException) -> bool:
    """Did the engine fail to answer (refused, reset, timed out, pool exhausted), as opposed to answering with an
    error? Each driver has its own classes for it."""
    if isinstance(exc, OSError | TimeoutError):
        return True
    if isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
        return True
    if isinstance(exc, psycopg.OperationalError):
        # Client-side failures (connection lost, pool timeout) have no SQLSTATE; class 08 is connection trouble,
        # 57P01-57P03 an engine shutting down or starting. Serialization failures and deadlocks (also
        # OperationalError) are answers.
        state = exc.sqlstate
        return state is None or state.startswith("08") or state in {"57P01", "57P02", "57P03"}
    if isinstance(exc, psycopg.InterfaceError):
        return True
    if isinstance(exc, pymongo.errors.ConnectionFailure):
        return True
    if isinstance(exc, neo4j.exceptions.ServiceUnavailable | neo4j.exceptions.SessionExpired):
        return True
    if isinstance(exc, cassandra.OperationTimedOut):
        return True
    if isinstance(exc, cassandra.cluster.NoHostAvailable):
        # No node answered, unless every node tried answered that too few replicas are up: that is an answer (the
        # consistency level asked for cannot be met), and the nodes are fine for the levels that can.
        errors = list(exc.errors.values()) if isinstance(exc.errors, dict) else []
        return not errors or not all(isinstance(e, cassandra.RequestExecutionException) for e in errors)
    return isinstance(exc, httpx.TransportError)


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
        return await guarded(self.location, lambda: method(self, *args, **kwargs), getattr(self, "breaker", None))

    wrapper.__guarded__ = True  # type: ignore[attr-defined]
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
    """What every adapter shares: its role and location, its circuit breaker, and the open template (connect; on
    failure, close and raise StoreUnavailable naming the role and the masked URL). Subclasses implement
    ``_connect`` and ``close``.

    Every public coroutine method a subclass defines goes through ``guard`` (driver errors become StoreUnavailable,
    the breaker is asked and told), unless the class sets ``guard_methods = False`` and guards its calls itself
    (the PostgreSQL adapters guard their pooled connections instead, which transactions need)."""

    guard_methods: ClassVar[bool] = True
    _unguarded: ClassVar[frozenset[str]] = frozenset({"open", "close"})

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.guard_methods:
            return
        for name, member in list(vars(cls).items()):
            if name.startswith("_") or name in cls._unguarded or getattr(member, "__guarded__", False):
                continue
            if inspect.iscoroutinefunction(member):
                setattr(cls, name, guard(member))

    def __init__(self, location: StoreURL, options: StoreOptions | None = None) -> None:
        self._location = location
        self.options = options or StoreOptions()
        self._timeout = self.options.connect_s
        self.breaker = CircuitBreaker(self.options.breaker)

    @property
    def circuit(self) -> CircuitBreaker:
        """The circuit breaker this role's calls go through (metrics read its state)."""
        return self.breaker

    def pool_usage(self) -> tuple[int, int] | None:
        """(connections in use, requests waiting) of the role's pool, where the driver counts them; else None."""
        return None

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
