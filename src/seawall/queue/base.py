"""The interface of a work queue: hand over an item id for a named stage; a handler does the work.

Handlers are idempotent by (item id, stage), so a queue may deliver a job more than once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

Handler = Callable[[str], None]


class WorkQueue(Protocol):
    def register(self, stage: str, handler: Handler) -> None:
        """Route jobs of ``stage`` to ``handler``."""

    def submit(self, stage: str, item_id: str) -> None:
        """Queue one job; returns at once."""

    def depth(self) -> int:
        """Jobs waiting or running, for /metrics and /healthz."""

    def close(self) -> None:
        """Stop taking jobs and wait for running ones."""
