"""Request-body limits enforced while bytes arrive, before any parser or decoder sees them.

A declared ``Content-Length`` over the limit is refused at once; a chunked body is counted and cut off
the moment it passes the limit, so an oversized upload never fills memory or disk.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from seawall.api.raw_errors import send_error


class BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, limit_for: Callable[[str, str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""), Headers(scope=scope).get("content-type", "").lower())
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _reject(send, 400, "bad_request", "Content-Length is not a number")
                    return
                if declared > limit:
                    await reject_too_large(send, limit)
                    return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await reject_too_large(send, limit)


def _too_large(limit: int) -> str:
    return f"the request body is over the limit of {limit:,} bytes"


async def _reject(send: Send, status: int, code: str, message: str) -> None:
    await send_error(send, status, code, message, headers=[(b"connection", b"close")])


async def reject_too_large(send: Send, limit: int) -> None:
    """413 ``too_large`` for a body over ``limit`` (also sent by the text-item fast path)."""
    await _reject(send, 413, "too_large", _too_large(limit))
