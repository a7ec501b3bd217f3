"""A serving process hands the GIL back to its event loop within half a millisecond, not five.

Why: beside its event loop every server process runs background threads in Python — the index refresh
(four times a second), the webhook sender, the source supervisor, the legal tick. When one of them runs
Python code while a request is ready, CPython lets it keep the GIL until it blocks or until the switch
interval has passed, 5 ms by default; a request that takes a fraction of a millisecond then waits up to
5 ms, and on a busy two-core host that wait is what the 99th percentile of ``GET /v1/lookup`` was made
of. With 0.5 ms the event loop waits at most that long for the GIL; a thread that runs longer is asked
to let go more often, which costs nothing measurable while no other thread wants the GIL.
"""

from __future__ import annotations

import sys

#: Seconds a thread may keep the GIL while another waits for it (CPython's default is 0.005).
SERVING_SWITCH_INTERVAL = 0.0005


def favour_event_loop(interval: float = SERVING_SWITCH_INTERVAL) -> float:
    """Set the interpreter's switch interval for serving (never raise it); returns the one in force before."""
    before = sys.getswitchinterval()
    if interval < before:
        sys.setswitchinterval(interval)
    return before
