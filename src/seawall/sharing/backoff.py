"""How long a source waits after failures, for pulls and pushes alike."""

from __future__ import annotations

#: First wait after a failure, doubled with each further one, never above BACKOFF_MAX (seconds).
BACKOFF_BASE = 5.0
BACKOFF_MAX = 3600.0


def backoff_seconds(failures: int, retry_after: float | None = None) -> float:
    """Exponential back-off for the ``failures``-th failure in a row; a remote's ``Retry-After`` (capped at
    BACKOFF_MAX) lengthens it, never shortens it."""
    delay = min(BACKOFF_MAX, BACKOFF_BASE * 2 ** min(failures - 1, 20))
    if retry_after is not None:
        delay = max(delay, min(retry_after, BACKOFF_MAX))
    return delay
