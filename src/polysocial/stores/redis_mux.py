"""One multiplexed connection to a Redis server, for the quick commands every request makes (the feed's page script,
the post cache's MGET, the rate limit's script).

Why: redis.asyncio spends about 48 us of CPU on one EVALSHA (taking a pooled connection under a lock and a timeout,
checking it, packing, a Retry wrapper, parsing, giving it back); the same command costs about 7 us when hiredis packs
it and parses the reply on an asyncio protocol (``polysocial bench`` profile notes, benchmarks/profile.md). A feed
request made 1.3 such calls: 15% of its CPU. So the hot calls share one connection per process: each caller's
command is written (the writes of one loop turn together, in one send) and its future waits in a queue; Redis answers
a connection's commands in the order it received them, so each reply belongs to the oldest waiting future.

Not for blocking commands (BLPOP, WAIT): they would hold up every caller behind them. The rest of the adapter
(pipelines, transactions, pub/sub, scans, the cluster client) stays on redis.asyncio. hiredis does the protocol; this
module only pairs replies with callers and reconnects. Errors are redis-py's own types, so the adapters' error
handling (StoreUnavailable, NOSCRIPT reloads, breakers) treats both clients alike.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Sequence
from typing import Any, cast

import hiredis
from redis._parsers import BaseParser  # redis-py's mapping of an error reply to its exception type
from redis.asyncio.connection import UnixDomainSocketConnection, parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import InvalidResponse, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError


def _error(message: str) -> ResponseError:
    """redis-py's exception for an error reply (NOSCRIPT is NoScriptError, WRONGPASS AuthenticationError, ...)."""
    return cast(ResponseError, BaseParser.parse_error(message))  # type: ignore[no-untyped-call]


def _packed(command: Sequence[Any]) -> bytes:
    packed: bytes = hiredis.pack_command(tuple(command))
    return packed


def multiplexable(url: str) -> bool:
    """A plain single server (redis:// or unix://). TLS (rediss://) and clusters stay on redis.asyncio."""
    try:
        parsed = parse_url(url)
    except ValueError:
        return False
    return "connection_class" not in parsed or parsed["connection_class"] is UnixDomainSocketConnection


class _Pairing(asyncio.Protocol):
    """The connection: writes gathered per loop turn, replies handed to the waiting futures in order. A command not
    answered within ``command_s`` of its sending fails the connection, and with it every caller still waiting (a
    late reply must not reach the next caller): one timer, on the oldest command waiting, watches them all. A timeout
    per command (asyncio.timeout: a timer scheduled and cancelled each time) cost 6 us per command, 2% of a feed
    request's CPU; replies come in order, so the oldest command waiting is the only one that can be late first."""

    def __init__(self, loop: asyncio.AbstractEventLoop, command_s: float) -> None:
        self.loop = loop
        self.command_s = command_s
        self.transport: asyncio.Transport | None = None
        self.reader = hiredis.Reader(protocolError=InvalidResponse, replyError=ResponseError)
        self.waiting: collections.deque[asyncio.Future[Any]] = collections.deque()
        self.sent_at: collections.deque[float] = collections.deque()  # loop time of each waiting command's send
        self.watch: asyncio.TimerHandle | None = None
        self.gathered: list[bytes] = []
        self.lost: Exception | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, packed: bytes) -> asyncio.Future[Any]:
        if self.lost is not None:
            raise RedisConnectionError(f"connection to Redis lost: {self.lost}")
        answer = self.loop.create_future()
        self.waiting.append(answer)
        now = self.loop.time()
        self.sent_at.append(now)
        if self.watch is None:
            self.watch = self.loop.call_at(now + self.command_s, self._check)
        if not self.gathered:
            self.loop.call_soon(self._flush)
        self.gathered.append(packed)
        return answer

    def _check(self) -> None:
        """The watch's timer: the oldest command waiting is late (fail), or not yet (look again when it would be)."""
        self.watch = None
        if not self.sent_at or self.lost is not None:
            return
        due = self.sent_at[0] + self.command_s
        if self.loop.time() >= due:
            self.fail(RedisTimeoutError(f"Redis did not answer within {self.command_s:g} s"))
        else:
            self.watch = self.loop.call_at(due, self._check)

    def _flush(self) -> None:
        if self.gathered and self.transport is not None and self.lost is None:
            self.transport.write(b"".join(self.gathered))
        self.gathered.clear()

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        try:
            while (reply := self.reader.gets()) is not False:
                answer = self.waiting.popleft()
                self.sent_at.popleft()
                if answer.done():  # its caller gave up (a cancellation): the reply is dropped
                    continue
                if isinstance(reply, ResponseError):
                    answer.set_exception(_error(str(reply)))
                else:
                    answer.set_result(reply)
        except (InvalidResponse, IndexError) as exc:  # garbage, or a reply nobody asked for: the stream is unusable
            self.fail(RedisConnectionError(f"Redis protocol error: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(RedisConnectionError(f"connection to Redis lost: {exc or 'closed by the server'}"))

    def fail(self, exc: Exception) -> None:
        """Close the connection; every caller still waiting gets ``exc`` (none of them can get an answer now)."""
        if self.lost is None:
            self.lost = exc
        if self.transport is not None:
            self.transport.close()
        if self.watch is not None:
            self.watch.cancel()
            self.watch = None
        self.sent_at.clear()
        while self.waiting:
            answer = self.waiting.popleft()
            if not answer.done():
                answer.set_exception(exc)
        self.gathered.clear()


class MultiplexedRedis:
    """``execute(*command)`` on one shared connection, opened on first use and again after it is lost. A command
    that takes longer than ``command_s`` raises redis-py's TimeoutError and drops the connection (as redis-py drops a
    connection that timed out: a late reply must not reach the next caller), so a hung server fails fast (the watch
    of _Pairing)."""

    def __init__(self, url: str, *, connect_s: float, command_s: float) -> None:
        if not multiplexable(url):
            raise ValueError("only a plain redis:// or unix:// server can be multiplexed")
        self._target = parse_url(url)
        self._connect_s = connect_s
        self._command_s = command_s
        self._pairing: _Pairing | None = None
        self._opening: asyncio.Lock | None = None
        self._opening_loop: asyncio.AbstractEventLoop | None = None

    async def execute(self, *command: Any) -> Any:
        pairing = self._pairing
        if pairing is None or pairing.lost is not None or pairing.loop is not asyncio.get_running_loop():
            pairing = await self._open()
        return await pairing.send(_packed(command))

    async def execute_many(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """Several commands in one write, as a pipeline without MULTI: in order, each answer, or the exception of an
        error reply in its place (a lost connection or a timeout raises)."""
        if not commands:
            return []
        pairing = self._pairing
        if pairing is None or pairing.lost is not None or pairing.loop is not asyncio.get_running_loop():
            pairing = await self._open()
        answers = [pairing.send(_packed(command)) for command in commands]
        results = await asyncio.gather(*answers, return_exceptions=True)
        for result in results:
            if isinstance(result, RedisConnectionError | RedisTimeoutError):  # the connection failed: no answers
                raise result
        return results

    async def _open(self) -> _Pairing:
        loop = asyncio.get_running_loop()
        if self._opening is None or self._opening_loop is not loop:  # a lock serves one event loop
            self._opening, self._opening_loop = asyncio.Lock(), loop
        async with self._opening:
            current = self._pairing
            if current is not None and current.lost is None and current.loop is loop:
                return current  # another caller opened it meanwhile
            try:
                async with asyncio.timeout(self._connect_s):
                    pairing = await self._connect(loop)
            except TimeoutError:
                raise RedisTimeoutError(f"Timeout connecting to Redis within {self._connect_s:g} s") from None
            except OSError as exc:
                raise RedisConnectionError(f"Error connecting to Redis: {exc.strerror or exc}") from exc
            self._pairing = pairing
            return pairing

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> _Pairing:
        target = self._target
        if "path" in target:
            _, pairing = await loop.create_unix_connection(lambda: _Pairing(loop, self._command_s), target["path"])
        else:
            host, port = target.get("host", "localhost"), target.get("port", 6379)
            _, pairing = await loop.create_connection(lambda: _Pairing(loop, self._command_s), host, port)
        # AUTH and SELECT are queued before anyone else can queue a command on this connection
        setup = []
        if target.get("password"):
            user = [target["username"]] if target.get("username") else []
            setup.append(pairing.send(_packed(("AUTH", *user, target["password"]))))
        if target.get("db"):
            setup.append(pairing.send(_packed(("SELECT", target["db"]))))
        try:
            await asyncio.gather(*setup)
        except BaseException:
            pairing.fail(RedisConnectionError("connection to Redis refused its setup (AUTH or SELECT)"))
            raise
        return pairing

    async def close(self) -> None:
        if self._pairing is not None:
            self._pairing.fail(RedisConnectionError("connection to Redis closed"))
            self._pairing = None
