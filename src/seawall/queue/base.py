"""The interface of a work queue: hand over an item id for a named stage; a handler does the work.

Handlers are idempotent by (item id, stage), so a queue may deliver a job more than once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

Handler = Callable[[str], None]


class WorkQueue(Protocol):
    def register(self, stage: str, handler: Handler) -> None:
        """Route jobs of ``stage`` to ``handler``."""

    def submit(self, stage: str, item_id: str) -> None:
        """Queue one job; returns at once."""

    def depth(self) -> int:
        """Jobs waiting or running, for /metrics and /healthz."""

    @property
    def connected(self) -> bool:
        """Whether jobs can be queued now (False while a broker is unreachable)."""

    def status(self) -> dict[str, Any]:
        """Backend name, depth and connection state, for /healthz."""

    def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        """Jobs given up on after repeated failures, newest first (empty where the backend keeps none)."""

    def close(self) -> None:
        """Stop taking jobs and wait for running ones."""
