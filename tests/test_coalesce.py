"""A response's writes leave in one send: nothing goes out before the step ends, then all of it at once."""

from __future__ import annotations

import asyncio
import socket

from seawall.api.coalesce import CoalescingTransport


class _Sink(asyncio.Protocol):
    pass


def _pending(peer: socket.socket) -> bytes:
    try:
        return peer.recv(65536)
    except BlockingIOError:
        return b""


async def _open() -> tuple[CoalescingTransport, asyncio.Transport, socket.socket]:
    ours, peer = socket.socketpair()
    peer.setblocking(False)
    transport, _ = await asyncio.get_running_loop().connect_accepted_socket(_Sink, ours)
    return CoalescingTransport(transport, asyncio.get_running_loop()), transport, peer


def test_writes_of_one_step_leave_together_when_flushed() -> None:
    async def run() -> None:
        front, _transport, peer = await _open()
        front.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        front.write(memoryview(b"{}"))
        assert front.get_write_buffer_size() == 40
        assert _pending(peer) == b""  # nothing sent yet: the headers do not go out alone
        front.flush()  # the response is complete
        await asyncio.sleep(0)
        assert _pending(peer) == b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"
        assert front.get_write_buffer_size() == 0
        front.close()
        peer.close()

    asyncio.run(run())


def test_a_streaming_response_is_sent_at_the_next_loop_iteration() -> None:
    async def run() -> None:
        front, transport, peer = await _open()
        front.write(b"chunk-1")
        await asyncio.sleep(0)  # one iteration: flushed without anyone asking
        await asyncio.sleep(0)
        assert _pending(peer) == b"chunk-1"
        front.write(b"last")
        front.close()  # closing sends what waits first
        await asyncio.sleep(0.01)
        assert _pending(peer) == b"last"
        assert transport.is_closing() and front.is_closing()  # the rest is the transport's own
        peer.close()

    asyncio.run(run())


def test_abort_drops_what_waits() -> None:
    async def run() -> None:
        front, _transport, peer = await _open()
        front.write(b"never")
        front.abort()
        await asyncio.sleep(0.01)
        assert front.get_write_buffer_size() == 0
        assert _pending(peer) == b""
        peer.close()

    asyncio.run(run())
