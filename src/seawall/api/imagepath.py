"""The fast path for ``POST /v1/items`` with a multipart upload: one ASGI layer instead of the stack.

Why: under load a 1 MP JPEG upload spent about a millisecond of the event loop's CPU outside the engine —
five middlewares each wrapping every read of the body and the answer, Starlette's routing, FastAPI's
dependency solving and exception layers, a ``JSONResponse`` — on top of the thread hand-off. Image
uploads are the bulk of a platform's traffic, so this layer, placed outside the others, answers them
itself and hands every other request on untouched.

Which requests: ``POST /v1/items`` with no query string, a ``Content-Type`` starting
``multipart/form-data`` and one ``Content-Length`` within the upload limit and no larger than the bodies
the route reads whole anyway (``_RAW_FORM_LIMIT``, about 1 MB; larger ones are parsed as they stream in,
spooled to disk, the documented way). The choice is made from the request line and headers alone,
before anything is counted or read, so a request that is not taken passes the documented route as before.

What stays the same (``tests/test_image_fast_path.py`` sends every request to both and compares): the
checks run in the order the stack runs them, through the same functions (address limit, API key and
role, body read timeout and limit, the form read with the same limits and checked by
the same function, the upload's own limits and decoding checks, deciding and storing, metrics, the
answer); errors are answered by the app's own exception handlers, and every answer gets the security
headers. A body of the plain shape every client sends is split in one pass by
:func:`seawall.api.formparse.simple_form` (Starlette's parser copied a 1 MB file part several times, about
2 ms); any other body, hostile ones included, is parsed by the route's own parser, so its errors stay
the route's.
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from seawall.api.auth import ensure_role, principal_from
from seawall.api.fastpath_prelude import BodyFastPath
from seawall.api.formparse import simple_form
from seawall.api.ratelimit import RateLimiter
from seawall.api.routes.items import (
    _RAW_FORM_LIMIT,
    FORM_MAX_FIELDS,
    FORM_MAX_FILES,
    FORM_MAX_PART,
    form_item,
    item_answer,
    store_item,
)

PATH = "/v1/items"
ROLES = ("submitter",)


class ImageUploadFastPath(BodyFastPath):
    """Serves multipart uploads (see the module docstring); every other request goes to ``app``."""

    path = PATH
    content_type = b"multipart/form-data"

    def __init__(self, app: ASGIApp, *, upload_limit: int, address_limiter: RateLimiter,
                 body_timeout: float) -> None:
        super().__init__(app, body_limit=upload_limit, max_length=min(upload_limit, _RAW_FORM_LIMIT),
                         address_limiter=address_limiter, body_timeout=body_timeout)
        #: Of the requests answered here, those whose body :func:`simple_form` split (tests check it).
        self.split = 0

    async def answer(self, request: Request) -> Response | bytes:
        """The documented route's form branch, step for step (``seawall.api.routes.items.submit_item``); a
        200's body is returned as bytes, sent without building a ``JSONResponse`` (its headers are fixed)."""
        principal = ensure_role(await principal_from(request), ROLES)
        engine = request.app.state.engine
        started = time.perf_counter()
        # the declared length is within _RAW_FORM_LIMIT: the route reads such a body whole first too
        body = await request.body()
        # a body of the plain shape is split here in one pass; any other is parsed by Starlette, as the route does
        parsed = simple_form(request.headers["content-type"].encode("latin-1"), body, max_files=FORM_MAX_FILES,
                             max_fields=FORM_MAX_FIELDS, max_part_size=FORM_MAX_PART)
        if parsed is not None:
            self.split += 1
        form = await form_item(request, engine, body, parsed)
        item = await store_item(request, engine, principal, form.content, content_id=form.content_id or "",
                                account_id=form.account_id, keep=form.keep, once=form.once, context=form.context,
                                reach=form.reach)
        return item_answer(request, item, started)
