"""Every error leaves the API as ``{"code": …, "message": …}`` with the right status.

That includes the unexpected: an unhandled exception is logged with its traceback and answered as a
JSON 500 (``internal_error``), so a client parses every failure the same way.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from seawall.errors import SeawallError
from seawall.store.db import UNAVAILABLE_ERRORS

log = logging.getLogger(__name__)

#: Seconds a client waits before retrying a request the store could not serve.
STORE_RETRY_AFTER_SECONDS = 2

_STATUS_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    409: "conflict", 413: "too_large", 415: "unsupported_media_type", 422: "invalid_input",
}


def error_response(status: int, code: str, message: str, detail: Any = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if detail is not None:
        body["detail"] = detail
    return JSONResponse(body, status_code=status, headers=headers)


def store_unavailable_response() -> JSONResponse:
    """503 ``store_unavailable`` with ``Retry-After``: the database is away for the moment."""
    return error_response(503, "store_unavailable", "the database did not answer; retry this request shortly "
                          "(uploads sent with once are never stored twice)",
                          {"retry_after_seconds": STORE_RETRY_AFTER_SECONDS},
                          {"Retry-After": str(STORE_RETRY_AFTER_SECONDS)})


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "form")]
    return ".".join(parts) or "request"


#: Addresses whose refusals a person reads in a browser: answered with the console's error page when the
#: console is installed (``app.state.console_error_page``), else as JSON like the rest of the API.
CONSOLE_PREFIX = "/console/"


def _console_page(request: Request) -> Any:
    if request.url.path.startswith(CONSOLE_PREFIX):
        return getattr(request.app.state, "console_error_page", None)
    return None


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(SeawallError)
    async def _seawall(_: Request, exc: SeawallError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        if exc.status == 413:  # close rather than read the rest of a refused body (it may be 45 MB)
            headers = {"Connection": "close"}
        if exc.status in (429, 503) and isinstance(exc.detail, dict) and "retry_after_seconds" in exc.detail:
            headers = {"Retry-After": str(exc.detail["retry_after_seconds"])}
        return error_response(exc.status, exc.code, exc.message, exc.detail, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        field = _field_name(tuple(first.get("loc", ())))
        message = f"{field}: {first.get('msg', 'invalid')}"
        page = _console_page(request)
        if page is not None:
            return await page(request, 422, "invalid_request", message)
        detail = [{"field": _field_name(tuple(e.get("loc", ()))), "message": e.get("msg", "")} for e in errors]
        return error_response(422, "invalid_request", message, detail)

    @app.exception_handler(StaleDataError)
    async def _stale(_: Request, exc: StaleDataError) -> JSONResponse:
        return error_response(409, "conflict", "the object was changed or deleted by another request while this "
                                               "one ran; read it again and retry")

    async def _store_unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.warning("store unavailable in %s %s: %s", request.method, request.url.path, type(exc).__name__)
        return store_unavailable_response()

    # the store did not answer: the transaction was rolled back, so the client should come back, not give up
    for exc_type in UNAVAILABLE_ERRORS:
        app.add_exception_handler(exc_type, _store_unavailable)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Starlette logs the traceback too; this line ties it to the request that failed.
        log.error("unhandled %s in %s %s", type(exc).__name__, request.method, request.url.path)
        return error_response(500, "internal_error", "the server failed to handle this request; the failure "
                                                     "was logged for its operator")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = _STATUS_CODES.get(exc.status_code, "error")
        page = _console_page(request) if exc.status_code in (404, 405) else None
        if page is not None:
            message = "there is no such page in the console" if exc.status_code == 404 else \
                f"{request.method} is not allowed on this console page"
            response: Response = await page(request, exc.status_code, code, message)
            response.headers.update(getattr(exc, "headers", None) or {})
            return response
        if exc.status_code == 404 and exc.detail == "Not Found":
            message = f"there is no endpoint {request.method} {request.url.path}; see /docs"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}; see /docs"
        else:
            message = exc.detail if isinstance(exc.detail, str) else "the request failed"
        return error_response(exc.status_code, code, message, headers=getattr(exc, "headers", None))
