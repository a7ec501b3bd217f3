"""Slow clients are cut off: a deadline for request headers, an idle limit for request bodies.

uvicorn closes idle keep-alive connections but has no limit on how long a client may take to send
its headers, so a thousand sockets trickling one header byte at a time held a server's connections
for as long as they liked (slowloris). ``HeaderDeadlineProtocol`` closes a connection whose request
headers are not complete ``SEAWALL_HEADER_READ_TIMEOUT_SECONDS`` after its first byte (or after the
connection opened); ``BodyReadTimeoutMiddleware`` answers 408 and closes when a request body stalls
longer than ``SEAWALL_BODY_READ_TIMEOUT_SECONDS`` between chunks. ``seawall serve`` selects the
protocol with ``http="seawall.api.slowclients:HeaderDeadlineProtocol"``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from seawall.api.coalesce import CoalescingTransport
from seawall.api.raw_errors import send_error
from seawall.config import get_settings

PROTOCOL = "seawall.api.slowclients:HeaderDeadlineProtocol"


class HeaderDeadlineProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    """uvicorn's HTTP/1.1 protocol with a deadline for each request's headers."""

    header_timeout: float | None = None  # None: read from the settings (each server process does)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._armed_for: object = None
        if self.header_timeout is None:
            self.header_timeout = get_settings().header_read_timeout_seconds

    def _arm(self) -> None:
        self._armed_for = self.cycle  # the headers are complete once a new request cycle exists
        assert self.header_timeout is not None
        self._header_timer = self.loop.call_later(self.header_timeout, self._header_deadline)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_deadline(self) -> None:
        self._header_timer = None
        if self.cycle is self._armed_for and not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)
        # status line, headers and body of a response in one send (see seawall.api.coalesce)
        self.transport = CoalescingTransport(transport, self.loop)
        self._arm()

    def on_response_complete(self) -> None:
        self.transport.flush()
        super().on_response_complete()

    def data_received(self, data: bytes) -> None:
        if self._header_timer is None and (self.cycle is None or self.cycle.response_complete):
            self._arm()  # the first bytes of the next request on a kept-alive connection
        super().data_received(data)
        if self._header_timer is not None and self.cycle is not self._armed_for:
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


class _BodyStalled(Exception):
    pass


class BodyReadTimeoutMiddleware:
    """408 and ``Connection: close`` when the client stops sending its request body."""

    def __init__(self, app: ASGIApp, timeout: float) -> None:
        self.app = app
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        body_done = False

        async def timed_receive() -> Message:
            nonlocal body_done
            if body_done:  # later reads wait for a disconnect (streaming responses): no limit on those
                return await receive()
            try:
                # a deadline on this task, not wait_for's extra task per read: every request body passes here
                async with asyncio.timeout(self.timeout):
                    message = await receive()
            except TimeoutError:
                raise _BodyStalled() from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, timed_receive, tracking_send)
        except _BodyStalled:
            if started:
                raise
            await send_stalled(send, self.timeout)


async def send_stalled(send: Send, timeout: float) -> None:
    """408 ``request_timeout`` and ``Connection: close`` (also sent by the text-item fast path)."""
    await send_error(send, 408, "request_timeout", f"the request body stalled for over {timeout:g} s",
                     headers=[(b"connection", b"close")])
