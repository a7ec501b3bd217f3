"""Error answers sent by ASGI layers that run before FastAPI's error handlers (limits, time-outs, NUL
guard, address rate limit): one shape, ``{"code", "message"[, "detail"]}``, as the handlers answer."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

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
