"""The fast path for ``GET /v1/lookup``: one ASGI layer answers it instead of the whole stack.

Why: a lookup is an index probe of a few microseconds, and its request spent several times that passing
the middlewares (security headers, address rate limit, body read timeout, NUL guard, body limit),
Starlette's routing, and building request, query and response objects. Partners call this endpoint in
bulk, and on two cores that overhead was most of its cost and a large part of its latency tail.

Which requests: ``GET /v1/lookup`` exactly (no mount prefix). The choice is made from the request line
alone, before anything is counted, so every other request passes the stack untouched.

What stays the same (``tests/test_lookup_fast_path.py`` sends every request to an app with this layer and
one without, and compares status, headers and body): the checks run in the order the stack runs them,
through the same functions — address rate limit, NUL guard, API key and role (with the per-key rate
limit and the invalid-key brake), query validation, the engine's lookup — errors are answered by the
app's own exception handlers, and every answer carries the security headers. An exception no handler
takes is raised to the app's 500 handler, as from the route.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from seawall.api.auth import ensure_role, principal_from
from seawall.api.fastpath_prelude import admitted, json_body, send_json_ok
from seawall.api.ratelimit import RateLimiter
from seawall.api.raw_errors import app_handler_for, send_error
from seawall.api.routes.lookup import ROLES, lookup_body, lookup_query
from seawall.storable import NUL_MESSAGE

PATH = "/v1/lookup"


class LookupFastPath:
    """Serves ``GET /v1/lookup`` (see the module docstring); every other request goes to ``app``."""

    def __init__(self, app: ASGIApp, *, address_limiter: RateLimiter) -> None:
        self.app = app
        self.address_limiter = address_limiter
        #: Requests answered here (tests check the path is taken).
        self.served = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope.get("path") != PATH or scope.get("method") != "GET"
                or scope.get("root_path")):
            await self.app(scope, receive, send)
            return
        self.served += 1
        # SecurityHeadersMiddleware and AddressRateLimitMiddleware, then NulGuardMiddleware (the layers
        # that run before the route)
        send_with_headers = await admitted(self.address_limiter, scope, send)
        if send_with_headers is None:
            return
        query: bytes = scope.get("query_string", b"")
        if b"\x00" in query or b"%00" in query:
            await send_error(send_with_headers, 422, "invalid_characters", f"the request URL {NUL_MESSAGE}")
            return
        request = Request(scope, receive=receive)
        try:
            body = await _answer(request, query)
        except Exception as exc:
            handler = app_handler_for(request, exc)
            if handler is None:
                raise
            response = await handler(request, exc)
            await response(scope, receive, send_with_headers)
            return
        await send_json_ok(send, body)


async def _answer(request: Request, query: bytes) -> bytes:
    """The route, step for step (``seawall.api.routes.lookup``): caller, parameters, lookup, JSON body."""
    ensure_role(await principal_from(request), ROLES)
    # as Starlette's QueryParams: latin-1, blank values kept, the last of a repeated name wins
    params = dict(parse_qsl(query.decode("latin-1"), keep_blank_values=True)) if query else {}
    signal_type, value = lookup_query(params)
    doc = lookup_body(request.app.state.engine, signal_type, value)
    return json_body(doc)


