"""What every ASGI fast path does before its own work, as the stack does it before the route.

The lookup and text-item fast paths answer requests without the middleware stack, so each must still
put the security headers on every answer and take a token from the address rate limit first (what
``SecurityHeadersMiddleware`` and ``AddressRateLimitMiddleware`` do); one function keeps them alike.
"""

from __future__ import annotations

from starlette.types import Message, Scope, Send

from seawall.api.headers import add_security_headers
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
