"""Errors that cross the service boundary carry a stable machine code, a human sentence and an HTTP status.

The API and CLI render the same error the same way, so clients can branch on ``code`` and people can
read ``message``.
"""

from __future__ import annotations

from typing import Any, Protocol


class SeawallError(Exception):
    """A refusal the caller can act on (bad input, missing object, limit exceeded)."""

    status: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.detail = detail

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle with the code, status and detail, so a refusal raised in a worker process arrives whole."""
        return (_rebuild, (type(self), self.args), dict(self.__dict__))

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.detail is not None:
            body["detail"] = self.detail
        return body


def _rebuild(cls: type[SeawallError], args: tuple[Any, ...]) -> SeawallError:
    """The error without running its ``__init__`` (subclasses take other arguments); pickle restores its fields."""
    error = cls.__new__(cls)
    error.args = args
    return error


class InvalidInput(SeawallError):
    status = 422
    code = "invalid_input"


class NotFound(SeawallError):
    status = 404
    code = "not_found"


class Conflict(SeawallError):
    status = 409
    code = "conflict"


class TooLarge(SeawallError):
    status = 413
    code = "too_large"


class UnsupportedMedia(SeawallError):
    status = 415
    code = "unsupported_media_type"


class Unauthorized(SeawallError):
    status = 401
    code = "unauthorized"


class Forbidden(SeawallError):
    status = 403
    code = "forbidden"


class Retryable(SeawallError):
    """A failure worth trying again later (a remote service or the database was briefly unavailable).

    Raised by a background stage (or a signal plugin it calls) so the queue redelivers the job instead
    of marking the item failed; after the configured number of deliveries it is dead-lettered.
    """

    status = 503
    code = "retry_later"


class QueueFull(SeawallError):
    """Background work is too far behind to accept more; the client should retry later."""

    status = 503
    code = "queue_full"


class QueueUnavailable(SeawallError):
    """The work queue's broker cannot be reached (and, for uploads, the offline backlog is full).

    Images and text are still decided in the request; only work that must go through the queue is
    refused, with a ``Retry-After`` where a retry makes sense.
    """

    status = 503
    code = "queue_unavailable"


class RateLimited(SeawallError):
    """Too many requests from one key or address; ``detail.retry_after_seconds`` says when to come back."""

    status = 429
    code = "rate_limited"


class _ValidationFailure(Protocol):
    def errors(self) -> Any: ...


def invalid_input_from(exc: _ValidationFailure | ValueError, *, code: str = "invalid_field") -> InvalidInput:
    """Turn a pydantic validation failure into one 422 that names the first bad field.

    Every place that validates a body by hand (outside FastAPI's own parsing) answers the same way: the
    message starts with the field's dotted path, ``detail`` lists every failing field.
    """
    errs = list(exc.errors()) if hasattr(exc, "errors") else []
    if not errs:
        return InvalidInput("the body is not valid JSON", code=code)
    first = errs[0]
    where = ".".join(str(p) for p in first["loc"]) or "request"
    return InvalidInput(f"{where}: {first['msg']}", code=code,
                        detail=[{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in errs])
