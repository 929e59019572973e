"""One socket write per response: uvicorn's httptools protocol over a transport that gathers what a response writes
in one turn of the event loop.

uvicorn writes a response's status line and headers when the application sends ``http.response.start``, and the body
when it sends ``http.response.body``: two writes, so two TCP segments and two sends, each of which on loopback also
runs the receiver's side of TCP in the sender's system call. A py-spy profile of `polysocial serve` under the
request mix had 12% of a worker's samples in the frame that makes those writes (``RequestResponseCycle.send``).
Gathering them into one write served 1.1-1.2x the feeds and 1.16x the wallets per second (wrk, alternating rounds
against the same data) and 1.25x the framework's fixed page (benchmarks/profile.md).

The gathering is only in time, never in size: what was written during one callback of the event loop goes out as one
write at the start of the next, before any other I/O is waited for. ``close`` sends what is gathered first; ``abort``
drops it, as it drops the kernel's buffer.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class CoalescingTransport(asyncio.Transport):
    """A transport that hands the writes of one event-loop callback to the real one as a single write."""

    __slots__ = ("_inner", "_loop", "_pending")

    def __init__(self, inner: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._inner = inner
        self._loop = loop
        self._pending: list[bytes] | None = None

    # -- writing ------------------------------------------------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._pending is None:
            self._pending = [bytes(data)]
            self._loop.call_soon(self._flush)
        else:
            self._pending.append(bytes(data))

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def _flush(self) -> None:
        pending, self._pending = self._pending, None
        if pending and not self._inner.is_closing():  # the peer went away: the kernel would drop it too
            self._inner.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def get_write_buffer_size(self) -> int:
        return self._inner.get_write_buffer_size() + sum(map(len, self._pending or ()))

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._inner.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._inner.set_write_buffer_limits(high, low)

    def write_eof(self) -> None:
        self._flush()
        self._inner.write_eof()

    def can_write_eof(self) -> bool:
        return self._inner.can_write_eof()

    # -- closing ------------------------------------------------------------------------------------------------------

    def close(self) -> None:
        self._flush()
        self._inner.close()

    def abort(self) -> None:
        self._pending = None
        self._inner.abort()

    def is_closing(self) -> bool:
        return self._inner.is_closing()

    # -- the rest, as the real transport has it -------------------------------------------------------------------

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._inner.get_extra_info(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._flush()  # an upgrade: what this protocol wrote goes before anything the next one writes
        self._inner.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._inner.get_protocol()

    def is_reading(self) -> bool:
        return self._inner.is_reading()

    def pause_reading(self) -> None:
        self._inner.pause_reading()

    def resume_reading(self) -> None:
        self._inner.resume_reading()


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol (the one ``http="auto"`` picks here), writing through a CoalescingTransport."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))
