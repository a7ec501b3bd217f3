"""Fewer garbage collections while bulk work makes and drops millions of small objects.

A feed page is 20,000 entries: tens of thousands of dicts, tuples and strings made and freed within a
second. CPython's collector runs its youngest generation every 700 allocations and, with what survives,
the older ones, each run walking objects the page still holds: measured on a subscriber verifying,
parsing and normalising pages, two thirds of that CPU time was the collector (334 ms a page, 147 ms with
a threshold of 20,000, 94 ms without collections). At 20,000 a page's parsed entries still outlived
several young collections and were promoted, so the older generations (which walk the whole heap) kept
running: the collector was still about a quarter of a subscriber's sampled sync time. At 200,000 fewer of a
page's objects outlive a young collection. Those objects hold no reference cycles, so
reference counting frees them anyway; collections find nothing in them.

:func:`fewer_collections` raises the youngest generation's threshold while any bulk step runs in this
process (it is process-wide: threads share one collector) and puts the previous setting back when the
last one ends. It never turns collection off, and leaves it off if the host turned it off.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: Allocations between two collections of the youngest generation while bulk work runs (CPython: 700):
#: several pages' worth of entries' dicts, so fewer of a page's objects live long enough to be promoted.
BULK_THRESHOLD = 200_000

_lock = threading.Lock()
_holders = 0
_saved: tuple[int, int, int] | None = None


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Collect the youngest generation every :data:`BULK_THRESHOLD` allocations inside the block."""
    global _holders, _saved
    with _lock:
        if _holders == 0:
            first, second, third = gc.get_threshold()
            if 0 < first < BULK_THRESHOLD:  # 0: the host disabled automatic collection; keep that
                _saved = (first, second, third)
                gc.set_threshold(BULK_THRESHOLD, second, third)
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _saved is not None:
                if gc.get_threshold()[0] == BULK_THRESHOLD:  # unless someone else changed it meanwhile
                    gc.set_threshold(*_saved)
                _saved = None
