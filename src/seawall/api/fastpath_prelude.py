"""What every ASGI fast path does around its own work, as the stack and the route do it.

The lookup and text-item fast paths answer requests without the middleware stack, so each must still
put the security headers on every answer and take a token from the address rate limit first (what
``SecurityHeadersMiddleware`` and ``AddressRateLimitMiddleware`` do), and send a 200 byte for byte as the
route's ``JSONResponse`` would; one module keeps them alike.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import Message, Scope, Send

from seawall.api.headers import ALWAYS, add_security_headers
from seawall.api.ratelimit import RateLimiter, refuse_address


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
