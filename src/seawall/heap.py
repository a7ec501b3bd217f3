"""Keep a serving process's start-up heap out of the cyclic garbage collector's full passes.

A full (generation 2) collection walks every container object the process holds: the modules,
routes, schemas and models loaded at start-up (a few hundred thousand objects, 100-300 ms on these
machines). CPython runs one whenever enough new objects survived into the oldest generation, e.g.
every few seconds while an index follows a bulk import, and every request of the process waits for
it. Those start-up objects live as long as the process, so after warm-up they are collected once and
then frozen (:func:`gc.freeze`): later full passes walk only what was allocated since.
"""

from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger(__name__)


def freeze_start_up_heap() -> int:
    """Collect what start-up left over, then freeze the rest; returns how many objects were frozen."""
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.info("start-up heap frozen: %d objects kept out of full collections (%.0f ms)", frozen,
             (time.perf_counter() - started) * 1000)
    return frozen
