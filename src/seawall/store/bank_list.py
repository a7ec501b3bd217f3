"""The bank list the console shows in filters and decision forms, read at most once per few seconds.

A new bank is rare and nothing needs the list fresher than a few seconds, so queue and case pages
do not pay a database round trip for it on every view. :class:`seawall.banks.BankService` forgets
the list when it creates or deletes a bank in this process.
"""

from __future__ import annotations

import threading
import time
from weakref import WeakKeyDictionary

from sqlalchemy import select

from seawall.store.db import Database
from seawall.store.tables import BankRow

#: The bank list shown in filters and decision forms is read again after this many seconds.
BANKS_FRESH_FOR = 5.0

_lock = threading.Lock()
_banks: WeakKeyDictionary[Database, tuple[float, list[tuple[str, str]]]] = WeakKeyDictionary()


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
