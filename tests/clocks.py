"""Time in tests without waiting for it: a clock the test moves, and waiting on a condition, not a duration.

A test that sleeps past a cache lifetime costs that long on every run and still races a loaded machine;
components that expire things take a ``clock`` (a ``time.monotonic``-like callable) so the test steps
past the lifetime instead. Where another thread or process does the work, ``eventually`` polls the
condition itself and returns as soon as it holds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class SteppedClock:
    """A monotonic clock that moves only when the test says so (thread-safe)."""

    def __init__(self, start: float = 1_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a monotonic clock does not go back")
        with self._lock:
            self._now += seconds


def eventually(predicate: Callable[[], T], timeout: float = 30.0, *, what: str = "condition") -> T:
    """The first truthy value of ``predicate``, polled until ``timeout`` seconds; fails the test after that.

    The timeout only bounds a failing test: a passing one returns as soon as the condition holds.
    """
    deadline = time.monotonic() + timeout
    pause = 0.005
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout:g} s")
        threading.Event().wait(pause)
        pause = min(pause * 2, 0.1)
