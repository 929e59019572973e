"""api/transport.py: what one turn of the event loop writes reaches the socket as one write, and nothing written is
lost or reordered by the gathering."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.config import Config
from uvicorn.server import ServerState

from polysocial.api.transport import CoalescingHttpToolsProtocol, CoalescingTransport


class RecordingTransport(asyncio.Transport):
    """The real transport's side: records what it is asked to do."""

    def __init__(self) -> None:
        super().__init__(extra={"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)})
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False
        self.protocol: asyncio.BaseProtocol | None = None

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_write_buffer_size(self) -> int:
        return 0

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocol = protocol

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def a_turn() -> None:
    await asyncio.sleep(0)


async def test_writes_of_one_turn_leave_as_one_write_in_order() -> None:
    inner = RecordingTransport()
    outer = CoalescingTransport(inner, asyncio.get_running_loop())
    outer.write(b"head ")
    outer.writelines([b"body", memoryview(b" end")])
    assert inner.writes == []
    assert outer.get_write_buffer_size() == len(b"head body end")
    await a_turn()
    assert inner.writes == [b"head body end"]
    outer.write(b"next")
    await a_turn()
    assert inner.writes == [b"head body end", b"next"]
    assert outer.get_write_buffer_size() == 0


async def test_close_sends_what_is_gathered_abort_drops_it() -> None:
    inner = RecordingTransport()
    outer = CoalescingTransport(inner, asyncio.get_running_loop())
    outer.write(b"last words")
    outer.close()
    assert inner.writes == [b"last words"]
    assert inner.closed
    await a_turn()
    assert inner.writes == [b"last words"]  # the scheduled flush finds nothing left

    inner = RecordingTransport()
    outer = CoalescingTransport(inner, asyncio.get_running_loop())
    outer.write(b"never")
    outer.abort()
    await a_turn()
    assert inner.writes == []
    assert inner.aborted


async def test_nothing_is_written_to_a_connection_already_closing() -> None:
    inner = RecordingTransport()
    outer = CoalescingTransport(inner, asyncio.get_running_loop())
    outer.write(b"too late")
    inner.closed = True  # the peer reset the connection meanwhile
    await a_turn()
    assert inner.writes == []


async def test_an_upgrade_sends_the_old_protocol_s_bytes_first() -> None:
    inner = RecordingTransport()
    outer = CoalescingTransport(inner, asyncio.get_running_loop())
    outer.write(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")
    other = asyncio.Protocol()
    outer.set_protocol(other)
    assert inner.writes == [b"HTTP/1.1 101 Switching Protocols\r\n\r\n"]
    assert inner.protocol is other


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    assert scope["type"] == "http"
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]})
    await send({"type": "http.response.body", "body": b"hello"})


async def test_a_response_s_head_and_body_reach_the_socket_in_one_write() -> None:
    config = Config(app, lifespan="off", log_config=None)
    config.load()
    protocol = CoalescingHttpToolsProtocol(config, ServerState(), {}, asyncio.get_running_loop())
    inner = RecordingTransport()
    protocol.connection_made(inner)
    for request in range(2):  # and again on the same kept-alive connection
        protocol.data_received(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
        for _ in range(20):
            await a_turn()
            if len(inner.writes) > request:
                break
        assert len(inner.writes) == request + 1
        written = inner.writes[request]
        assert written.startswith(b"HTTP/1.1 200 OK\r\n")
        assert written.endswith(b"\r\n\r\nhello")
    protocol.connection_lost(None)
