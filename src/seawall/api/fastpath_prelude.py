"""What every ASGI fast path does around its own work, as the stack and the route do it.

The lookup, text-item and image-upload fast paths answer requests without the middleware stack, so each
must still put the security headers on every answer and take a token from the address rate limit first
(what ``SecurityHeadersMiddleware`` and ``AddressRateLimitMiddleware`` do), and send a 200 byte for byte as
the route's ``JSONResponse`` would; the two with a request body also bound each read of it in time and
the whole of it in size (``BodyReadTimeoutMiddleware``, ``BodyLimitMiddleware``) and answer errors with
the app's own handlers (:func:`serve_with_body`). One module keeps them alike.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from seawall.api.headers import ALWAYS, add_security_headers
from seawall.api.limits import BodyTooLarge, reject_too_large
from seawall.api.ratelimit import RateLimiter, refuse_address
from seawall.api.raw_errors import app_handler_for
from seawall.api.slowclients import send_stalled


def declared_post(scope: Scope, path: str) -> tuple[bytes, int] | None:
    """The content type and declared length of a ``POST`` to exactly ``path`` (no query string, no mount
    prefix) with one numeric ``Content-Length`` (the first ``Content-Type`` counts, as Starlette's headers
    read it); None for any other request, which a fast path leaves to the stack."""
    if (scope["type"] != "http" or scope.get("method") != "POST" or scope.get("path") != path
            or scope.get("query_string") or scope.get("root_path")):
        return None
    ctype = length = None
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            if ctype is None:
                ctype = value
        elif name == b"content-length":
            if length is not None:
                return None
            length = value
    if ctype is None or length is None or not length.isdigit():
        return None
    return ctype, int(length)


def with_security_headers(send: Send) -> Send:
    """``send`` adding the security headers to the start of every answer."""

    async def send_with_headers(message: Message) -> None:
        add_security_headers(message)
        await send(message)

    return send_with_headers


async def admitted(address_limiter: RateLimiter, scope: Scope, send: Send) -> Send | None:
    """The send to answer with (security headers added), or None when the caller's address is over its
    rate limit and has been answered 429 already."""
    send_with_headers = with_security_headers(send)
    if await refuse_address(address_limiter, scope, send_with_headers):
        return None
    return send_with_headers


#: Starlette's ``JSONResponse`` encoder, built once (``json.dumps`` with these options builds one per call).
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":"))
#: Headers of a JSON 200 after its length: the content type, then the security headers, in their order.
_OK_HEADERS = ((b"content-type", b"application/json"),
               *((name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in ALWAYS))


def json_body(doc: Any) -> bytes:
    """``doc`` as the route's ``JSONResponse`` renders it."""
    return _ENCODER.encode(doc).encode("utf-8")


async def send_json_ok(send: Send, body: bytes) -> None:
    """Answer 200 with ``body`` (from :func:`json_body`): the route's ``JSONResponse`` with the security
    headers, without building one (its headers are fixed)."""
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(body)).encode("latin-1")), *_OK_HEADERS]})
    await send({"type": "http.response.body", "body": body})


class _Stalled(Exception):
    pass


#: A fast path's own work on a request whose body it reads: a 200's body as bytes (see :func:`json_body`),
#: or any other answer as a response.
Answer = Callable[[Request], Awaitable[Response | bytes]]


async def serve_with_body(scope: Scope, receive: Receive, send: Send, *, address_limiter: RateLimiter,
                          body_timeout: float, body_limit: int, answer: Answer) -> None:
    """Answer a request with a body through ``answer``, with the layers the stack runs around the route.

    In the stack's order: the security headers on every answer and the address rate limit
    (:func:`admitted`); each read of the body bounded by ``body_timeout`` (408 and close, as
    ``BodyReadTimeoutMiddleware``) and the body by ``body_limit`` (413 and close, as ``BodyLimitMiddleware``);
    an exception ``answer`` raises goes to the app's handler for it, and one no handler takes is raised, as
    from the route, to the app's 500 handler.
    """
    send_with_headers = await admitted(address_limiter, scope, send)
    if send_with_headers is None:
        return
    received = 0

    async def checked_receive() -> Message:
        # what BodyReadTimeoutMiddleware and BodyLimitMiddleware do to each read of the body
        nonlocal received
        try:
            async with asyncio.timeout(body_timeout):
                message = await receive()
        except TimeoutError:
            raise _Stalled() from None
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > body_limit:
                raise BodyTooLarge()
        return message

    request = Request(scope, receive=checked_receive)
    try:
        result = await answer(request)
    except _Stalled:
        await send_stalled(send_with_headers, body_timeout)
        return
    except BodyTooLarge:
        await reject_too_large(send_with_headers, body_limit)
        return
    except Exception as exc:
        handler = app_handler_for(request, exc)
        if handler is None:
            raise
        result = await handler(request, exc)
    if isinstance(result, bytes):
        # the 200 JSONResponse the route gives, its headers already with the security headers
        await send_json_ok(send, result)
        return
    await result(scope, receive, send_with_headers)


class BodyFastPath:
    """A ``POST`` to one path with a body of one content type, answered here; every other request goes on.

    The text-item and image-upload fast paths differ only in what they take (``content_type``, bodies up
    to ``max_length``) and in their own work (:meth:`answer`); the choice from the request line and
    headers, the count of requests taken and :func:`serve_with_body` around the work are the same.
    """

    #: The path served, and the start of the ``Content-Type`` taken.
    path: ClassVar[str]
    content_type: ClassVar[bytes]

    def __init__(self, app: ASGIApp, *, body_limit: int, max_length: int, address_limiter: RateLimiter,
                 body_timeout: float) -> None:
        self.app = app
        #: The body limit the stack applies to such a request (``BodyLimitMiddleware``).
        self.body_limit = body_limit
        #: The largest declared body taken here; larger ones go the documented way.
        self.max_length = max_length
        self.address_limiter = address_limiter
        self.body_timeout = body_timeout
        #: Requests answered here (tests check that the path is taken; ``/metrics`` needs no more).
        self.served = 0

    def _takes(self, scope: Scope) -> bool:
        declared = declared_post(scope, self.path)
        return declared is not None and declared[0].startswith(self.content_type) and declared[1] <= self.max_length

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._takes(scope):
            await self.app(scope, receive, send)
            return
        self.served += 1
        await serve_with_body(scope, receive, send, address_limiter=self.address_limiter,
                              body_timeout=self.body_timeout, body_limit=self.body_limit, answer=self.answer)

    async def answer(self, request: Request) -> Response | bytes:
        """This path's own work on a taken request (see :data:`Answer`)."""
        raise NotImplementedError
