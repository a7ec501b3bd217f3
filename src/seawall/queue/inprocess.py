"""The embedded queue: a bounded pool of threads in the serving process.

Durability comes from the store, not the queue: an item waiting for background work is stored as
``pending`` with its upload spooled to disk, and start-up re-queues every pending item, so a crash or
restart loses nothing.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from seawall.queue.base import Handler

log = logging.getLogger(__name__)


class InProcessQueue:
    def __init__(self, workers: int = 1) -> None:
        self.workers = max(1, workers)
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="seawall-worker")
        self._handlers: dict[str, Handler] = {}
        self._lock = threading.Lock()
        self._inflight: set[tuple[str, str]] = set()
        self._closed = False

    def register(self, stage: str, handler: Handler) -> None:
        self._handlers[stage] = handler

    def submit(self, stage: str, item_id: str) -> None:
        if stage not in self._handlers:
            raise KeyError(f"no handler for stage {stage!r}")
        key = (stage, item_id)
        with self._lock:
            if self._closed or key in self._inflight:
                return
            self._inflight.add(key)
        self._pool.submit(self._run, stage, item_id)

    def _run(self, stage: str, item_id: str) -> None:
        try:
            self._handlers[stage](item_id)
        except Exception:
            log.exception("background stage %s failed for item %s", stage, item_id)
        finally:
            with self._lock:
                self._inflight.discard((stage, item_id))

    def start_threads(self, timeout: float = 1.0) -> None:
        """Start every worker thread now instead of on the first jobs (the warm-up calls this).

        Why: the pool starts a thread when a job finds none idle, so the first image uploads of a
        process each started one beside their request. Each thread waits here until all have started
        (at most ``timeout`` seconds, if some are busy with real jobs).
        """
        barrier = threading.Barrier(self.workers + 1)
        for _ in range(self.workers):
            self._pool.submit(_wait_at, barrier, timeout)
        _wait_at(barrier, timeout)

    def depth(self) -> int:
        with self._lock:
            return len(self._inflight)

    @property
    def connected(self) -> bool:
        """Always: there is no broker to lose."""
        return True

    def status(self) -> dict[str, Any]:
        return {"backend": "in-process", "connected": True, "depth": self.depth(), "consuming": True}

    def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        """None: a failing job marks its item failed, and a crash leaves it pending for the next start."""
        return []

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)


def _wait_at(barrier: threading.Barrier, timeout: float) -> None:
    # some thread was busy (broken barrier): the ones that came are started all the same
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait(timeout)
