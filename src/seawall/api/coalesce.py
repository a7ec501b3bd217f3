"""One send per response: the writes a response makes in one event-loop step leave together.

uvicorn writes a response's status line and headers as soon as the app starts the response, and the
body in a second write a few microseconds later. On loopback or a fast network each write is its own
TCP segment, and the first wakes the client only for it to find half a response and wait again: two
system calls and two client wake-ups per small JSON answer. On two cores shared with the load that
is the hottest line of a lookup (``transport.write`` of the headers, ~30 % of the server's samples at
concurrency 8). :class:`CoalescingTransport` keeps the writes of one step and sends them at once when
the response completes, or at the next loop iteration for a response that streams.
"""

from __future__ import annotations

import asyncio
from typing import Any


class CoalescingTransport:
    """An :class:`asyncio.Transport` front that joins the writes made within one loop step."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self.flush)  # a streaming response is not held past this step
        self._pending.append(bytes(data))
        self._size += len(data)

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def flush(self) -> None:
        """Send what was written so far (a no-op when nothing waits)."""
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending.clear()
        self._size = 0
        if not self._transport.is_closing():
            self._transport.write(data)

    def get_write_buffer_size(self) -> int:
        return int(self._transport.get_write_buffer_size()) + self._size

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending.clear()
        self._size = 0
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:  # is_closing, get_extra_info, pause_reading, set_protocol…
        return getattr(self._transport, name)
