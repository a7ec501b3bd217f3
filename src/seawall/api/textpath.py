"""The fast path for ``POST /v1/items`` with a plain JSON text item: one ASGI layer instead of the stack.

Why: a text item is decided in about a millisecond, and its request spent about as long again passing
five middlewares (security headers, address rate limit, body read timeout, NUL guard, body limit),
FastAPI's routing and dependency solving. Platforms send text items by the thousand a second, so this
layer, placed outside the others, answers them itself and hands every other request on untouched.

Which requests: ``POST /v1/items`` with no query string, a ``Content-Type`` starting
``application/json`` and one ``Content-Length`` within the JSON body limit and the size parsed on the
event loop. The choice is made from the request line and headers alone, before anything is counted or
read, so a request that is not taken here passes the documented route exactly as before.

What stays the same (``tests/test_text_fast_path.py`` sends every request to both and compares): the
checks run in the order the stack runs them, through the same functions (address limit, API key and
role, body read timeout and limit, parsing and validation, deciding and storing, metrics, the answer),
errors are answered by the app's own exception handlers, and every answer gets the security headers.
An exception no handler takes is raised, as from the route, to the app's 500 handler.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from seawall.api.auth import ensure_role, principal_from
from seawall.api.fastpath_prelude import BodyFastPath
from seawall.api.ratelimit import RateLimiter
from seawall.api.routes.items import _INLINE_JSON_BYTES, _text_item, item_answer, store_item

PATH = "/v1/items"
ROLES = ("submitter",)


class TextItemFastPath(BodyFastPath):
    """Serves plain JSON text items (see the module docstring); every other request goes to ``app``."""

    path = PATH
    content_type = b"application/json"

    def __init__(self, app: ASGIApp, *, json_limit: int, address_limiter: RateLimiter,
                 body_timeout: float) -> None:
        super().__init__(app, body_limit=json_limit, max_length=min(json_limit, _INLINE_JSON_BYTES),
                         address_limiter=address_limiter, body_timeout=body_timeout)

    async def answer(self, request: Request) -> Response | bytes:
        """The documented route's JSON branch, step for step (``seawall.api.routes.items.submit_item``); a
        200's body is returned as bytes, sent without building a ``JSONResponse`` (its headers are fixed)."""
        principal = ensure_role(await principal_from(request), ROLES)
        engine = request.app.state.engine
        started = time.perf_counter()
        payload, content = _text_item(engine, await request.body())
        item = await store_item(request, engine, principal, content, content_id=payload.content_id,
                                account_id=payload.account_id, keep=payload.keep, once=payload.once,
                                context=payload.context, reach=payload.reach)
        return item_answer(request, item, started)


#: A well-formed text item that :func:`warm_up` parses (never stored).
_SAMPLE_BODY = (b'{"content_id":"seawall-warm-up","account_id":"warm-up",'
                b'"text":"Warm-up notice about the weekend market"}')


def warm_up(engine: Any) -> None:
    """Parse and check one sample body as a text item does, before the server takes requests.

    Why: pydantic builds parts of ``ItemText``'s validator (and imports what its field checks use) on the
    first ``model_validate_json``, 4 ms on the first text item of a process against a few microseconds
    after; the first upload then took three times the median of the next hundred. Nothing is stored.
    """
    _text_item(engine, _SAMPLE_BODY)


