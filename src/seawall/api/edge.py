"""What the store cannot hold (see :mod:`seawall.storable`) is refused at the API's edge as a 422.

An id or a cursor beyond the database's integer columns can name nothing, and a NUL character can be
part of no stored value, so such a request is refused before any route runs a query with it: path ids
and query integers are bounded in the OpenAPI schema, request-body strings are checked by the types
below, and a URL holding a NUL is refused by a middleware before routing.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from pydantic import AfterValidator
from starlette.types import ASGIApp, Receive, Scope, Send

from seawall.api.raw_errors import send_error
from seawall.storable import MAX_INT32, MAX_INT64, NUL_MESSAGE, check_stored, has_nul

__all__ = ["MAX_INT32", "MAX_INT64", "Id32", "Id64", "NulGuardMiddleware", "StoredJson", "StoredText",
           "check_stored"]

#: Path ids of rows in 32-bit and 64-bit id columns.
Id32 = Annotated[int, Path(ge=1, le=MAX_INT32, description=f"A positive id, at most {MAX_INT32}")]
Id64 = Annotated[int, Path(ge=1, le=MAX_INT64, description=f"A positive id, at most {MAX_INT64}")]


def _check_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError(NUL_MESSAGE)
    return value


#: A string field of a request body that is stored (no NUL).
StoredText = Annotated[str, AfterValidator(_check_text)]


def _check_json(value: Any) -> Any:
    if has_nul(value):
        raise ValueError(NUL_MESSAGE)
    return value


#: A JSON value of a request body that is stored as JSON (no NUL in any string or key).
StoredJson = AfterValidator(_check_json)


def _url_has_nul(scope: Scope) -> bool:
    if "\x00" in scope.get("path", ""):
        return True
    query: bytes = scope.get("query_string", b"")
    return b"\x00" in query or b"%00" in query


class NulGuardMiddleware:
    """422 ``invalid_characters`` for a URL (path or query string) that holds a NUL character."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _url_has_nul(scope):
            await self.app(scope, receive, send)
            return
        await send_error(send, 422, "invalid_characters", f"the request URL {NUL_MESSAGE}")
