"""Work a page view used to do every time, done at most once per interval per database instead.

Returning expired takes to the queue was a database round trip on every queue and case page. It need
not be fresher than a few seconds: a take expires after half an hour. (The console's bank list is
paced the same way in :mod:`seawall.store.bank_list`.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any
from weakref import WeakKeyDictionary

from seawall.store.db import Database

#: Expired takes are returned to the queue at most this often (seconds) by reads; a take lasts 30 minutes.
EXPIRE_EVERY = 5.0

_lock = threading.Lock()
_expired_at: WeakKeyDictionary[Database, float] = WeakKeyDictionary()


def expire_due(db: Database, expire: Callable[[], Any], *, every: float = EXPIRE_EVERY) -> bool:
    """Run ``expire`` unless it ran for this database less than ``every`` seconds ago; whether it ran."""
    now = time.monotonic()
    with _lock:
        last = _expired_at.get(db)
        if last is not None and now - last < every:
            return False
        _expired_at[db] = now
    expire()
    return True
