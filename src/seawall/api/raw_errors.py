"""Error answers sent by ASGI layers that run before FastAPI's error handlers (limits, time-outs, NUL
guard, address rate limit): one shape, ``{"code", "message"[, "detail"]}``, as the handlers answer."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Send


async def send_error(send: Send, status: int, code: str, message: str, *, detail: dict[str, Any] | None = None,
                     headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    """Answer ``status`` with the JSON error body; ``headers`` follow the content headers."""
    doc: dict[str, Any] = {"code": code, "message": message}
    if detail is not None:
        doc["detail"] = detail
    body = json.dumps(doc).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})


#: An exception handler as the app registers it.
Handler = Callable[[Request, Exception], Awaitable[Response]]


def app_handler_for(request: Request, exc: Exception) -> Handler | None:
    """The app's handler for ``exc`` as its exception middleware picks it, for a layer that answers outside
    the stack (``Exception`` itself is left to the server-error layer outside, as there)."""
    handlers: dict[Any, Handler] = request.app.exception_handlers
    for cls in type(exc).__mro__:
        if cls is Exception:
            return None
        if cls in handlers:
            return handlers[cls]
    return None
