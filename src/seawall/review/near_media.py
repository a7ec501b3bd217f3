"""Near-same media without a bank entry: open cases whose PDQ hashes lie within the match threshold.

The same picture posted many times by many accounts, before anyone has banked it, is one judgement,
not many: the case page offers to decide the whole group at once (each case decided and audited on its
own, as for cases that matched the same bank entry).

Each case's PDQ hashes are stored when it is opened (``case_hashes``). One in-process PDQ index holds
them, topped up from that table by id on every look-up, and answers a case's hashes with one batch
search, so finding a group is an index probe, never a comparison of every pair. Which hits are still
undecided is asked of the database, so a case decided elsewhere (another process) drops out at once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from seawall.models.records import ComputedSignal
from seawall.signals.pdq.index import PdqIndex
from seawall.store.db import Database
from seawall.store.tables import CaseHashRow

#: Hits looked up in the database per statement (keeps IN lists short on both stores).
CHUNK = 500


def keep_case_hashes(s: Session, case_id: int, signals: Iterable[ComputedSignal]) -> None:
    """Store a new case's PDQ hashes (in the caller's transaction) so near-same cases can find it."""
    values = sorted({sig.value.lower() for sig in signals if sig.type == "pdq" and _is_hex64(sig.value)})
    for value in values:
        s.add(CaseHashRow(case_id=case_id, value=value))


def _is_hex64(value: str) -> bool:
    if len(value) != 64:
        return False
    try:
        bytes.fromhex(value)
    except ValueError:
        return False
    return True


class NearMediaIndex:
    """Cases' PDQ hashes in one index; ``near(case_id)`` gives the cases within ``radius`` of any of its hashes."""

    def __init__(self, db: Database, radius: int) -> None:
        self.db = db
        self.radius = radius
        self._index = PdqIndex(background_merge=False)
        self._cursor = 0
        self._lock = threading.Lock()

    def refresh(self, s: Session | None = None) -> int:
        """Add hashes stored since the last look-up (read in ``s`` when given); returns how many were added."""
        with self._lock:
            if s is None:
                with self.db.session() as own:
                    rows = self._stored_since(own)
            else:
                rows = self._stored_since(s)
            if not rows:
                return 0
            ids = np.array([r.id for r in rows], dtype=np.int64)
            hashes = np.frombuffer(b"".join(bytes.fromhex(r.value) for r in rows), dtype=np.uint8).reshape(-1, 32)
            self._index.add(ids, hashes)
            self._cursor = int(ids.max())
            return len(rows)

    def near(self, s: Session, case_id: int) -> set[int]:
        """Ids of other cases (any state) whose stored PDQ hashes are within ``radius`` of this case's."""
        mine = list(s.scalars(select(CaseHashRow.value).where(CaseHashRow.case_id == case_id)))
        if not mine:
            return set()
        self.refresh(s)
        queries = np.frombuffer(b"".join(bytes.fromhex(v) for v in mine), dtype=np.uint8).reshape(-1, 32)
        hit_ids = sorted({hid for hits in self._index.search_batch(queries, self.radius) for hid, _ in hits})
        found: set[int] = set()
        for lo in range(0, len(hit_ids), CHUNK):
            found.update(s.scalars(select(CaseHashRow.case_id).where(CaseHashRow.id.in_(hit_ids[lo:lo + CHUNK]))))
        found.discard(case_id)
        return found

    def _stored_since(self, s: Session) -> list[Any]:
        return list(s.execute(select(CaseHashRow.id, CaseHashRow.value).where(CaseHashRow.id > self._cursor)
                              .order_by(CaseHashRow.id)).all())
