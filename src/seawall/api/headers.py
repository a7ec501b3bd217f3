"""Security headers on every response, so no page or file depends on a handler remembering them.

``nosniff`` stops a browser from running uploaded bytes as script or HTML; ``no-referrer`` keeps case
and item URLs from leaking to other sites; an HTML page without its own policy gets a strict
Content-Security-Policy (same-origin resources only, no framing, no plugins). Handlers that set a
header themselves (the console's own CSP, the sandboxed media responses) keep theirs.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_HTML_CSP = ("default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                    "frame-ancestors 'none'; form-action 'self'")
ALWAYS: tuple[tuple[str, str], ...] = (("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"))


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            add_security_headers(message)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def add_security_headers(message: Message) -> None:
    """Add the headers above to a ``http.response.start`` message (shared by every path that answers)."""
    if message["type"] != "http.response.start":
        return
    headers = MutableHeaders(scope=message)
    for name, value in ALWAYS:
        if name not in headers:
            headers[name] = value
    if headers.get("content-type", "").startswith("text/html"):
        if "content-security-policy" not in headers:
            headers["Content-Security-Policy"] = DEFAULT_HTML_CSP
        if "x-frame-options" not in headers:
            headers["X-Frame-Options"] = "DENY"
