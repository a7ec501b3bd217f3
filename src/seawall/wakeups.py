"""A wake-up call whose receiver starts later than its callers are built.

Services that commit webhook events (or new bank entries) want the background loop that handles them
to run at once instead of at its next poll. That loop (the webhook sender, retro-matching) is started
after the services exist, and only on some processes; the services are given a :class:`Wakeup` when
they are built and the loop attaches itself when it starts.
"""

from __future__ import annotations

from collections.abc import Callable


class Wakeup:
    """Calls whatever is attached now; does nothing while nothing is (not started, or closed)."""

    def __init__(self) -> None:
        self._target: Callable[[], None] | None = None

    def attach(self, target: Callable[[], None] | None) -> None:
        """Wake ``target`` from now on (None: nobody)."""
        self._target = target

    def __call__(self) -> None:
        target = self._target
        if target is not None:
            target()
