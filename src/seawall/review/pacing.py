"""Work a page view used to do every time, done at most once per interval per database instead.

Returning expired takes to the queue and listing the banks for a filter were each a database round
trip on every queue and case page. Neither needs to be fresher than a few seconds: a take expires
after half an hour, and a new bank is rare. Pacing them keeps the page's own reads the only cost.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import select

from seawall.store.db import Database
from seawall.store.tables import BankRow

#: Expired takes are returned to the queue at most this often (seconds) by reads; a take lasts 30 minutes.
EXPIRE_EVERY = 5.0
#: The bank list shown in filters and decision forms is read again after this many seconds.
BANKS_FRESH_FOR = 5.0

_lock = threading.Lock()
_expired_at: WeakKeyDictionary[Database, float] = WeakKeyDictionary()
_banks: WeakKeyDictionary[Database, tuple[float, list[tuple[str, str]]]] = WeakKeyDictionary()


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


def bank_choices(db: Database) -> list[tuple[str, str]]:
    """``(name, kind)`` of every bank, by name: read once per ``BANKS_FRESH_FOR`` seconds, without entry counts."""
    now = time.monotonic()
    with _lock:
        cached = _banks.get(db)
    if cached is not None and now - cached[0] < BANKS_FRESH_FOR:
        return cached[1]
    with db.session() as s:
        rows = [(name, kind) for name, kind in s.execute(select(BankRow.name, BankRow.kind).order_by(BankRow.name))]
    with _lock:
        _banks[db] = (now, rows)
    return rows


def forget_banks(db: Database) -> None:
    """Drop the cached bank list (after a bank is created or deleted in this process)."""
    with _lock:
        _banks.pop(db, None)
