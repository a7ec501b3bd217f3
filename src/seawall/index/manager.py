"""Keeps one in-memory index per signal type in step with the bank entries in the store.

The store is the truth; the indexes are a cache of it. ``refresh`` reads entries newer than the last
one loaded (a cursor over the entry id), so the same call serves start-up and writes made by other
processes (a CLI import, another node). Writes made through this process are added directly as they
are inserted. Deleted entries that linger in an index are harmless: matches are resolved against the
store, where they no longer exist.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from sqlalchemy import select

from seawall.index.base import Candidate, SignalIndex
from seawall.plugins import Registry
from seawall.store.db import Database
from seawall.store.tables import BankEntryRow

log = logging.getLogger(__name__)

REFRESH_CHUNK = 200_000

__all__ = ["Candidate", "IndexSet"]


class IndexSet:
    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._indexes: dict[str, SignalIndex] = {}
        self._cursor = 0
        self._refresh_lock = threading.Lock()
        self._create_lock = threading.Lock()

    @property
    def cursor(self) -> int:
        """Id of the newest entry loaded by ``refresh``."""
        return self._cursor

    def sizes(self) -> dict[str, int]:
        return {name: len(ix) for name, ix in self._indexes.items()}

    def memory_bytes(self) -> dict[str, int]:
        return {name: ix.memory_bytes() for name, ix in self._indexes.items()}

    def index_for(self, signal_type: str) -> SignalIndex | None:
        """The index of a known signal type (created on first use); None for unknown types."""
        ix = self._indexes.get(signal_type)
        if ix is None:
            sig = self._registry.signal_types.get(signal_type)
            if sig is None:
                return None
            with self._create_lock:
                ix = self._indexes.get(signal_type)
                if ix is None:
                    ix = self._indexes[signal_type] = sig.create_index()
        return ix

    def add(self, rows: Sequence[tuple[int, str, str]]) -> None:
        """Add (entry id, signal type, value) triples; ids already indexed are ignored."""
        by_type: dict[str, list[tuple[int, str]]] = {}
        for entry_id, signal_type, value in rows:
            by_type.setdefault(signal_type, []).append((int(entry_id), value))
        for signal_type, pairs in by_type.items():
            ix = self.index_for(signal_type)
            if ix is not None:
                ix.add(pairs)

    def remove(self, rows: Sequence[tuple[int, str, str]]) -> None:
        by_type: dict[str, list[tuple[int, str]]] = {}
        for entry_id, signal_type, value in rows:
            by_type.setdefault(signal_type, []).append((int(entry_id), value))
        for signal_type, pairs in by_type.items():
            ix = self._indexes.get(signal_type)
            if ix is not None:
                ix.remove(pairs)

    def refresh(self, db: Database) -> int:
        """Load entries added since the last refresh; returns how many were read."""
        with self._refresh_lock:
            total = 0
            while True:
                with db.session() as s:
                    rows = s.execute(
                        select(BankEntryRow.id, BankEntryRow.signal_type, BankEntryRow.value)
                        .where(BankEntryRow.id > self._cursor)
                        .order_by(BankEntryRow.id)
                        .limit(REFRESH_CHUNK)
                    ).all()
                if not rows:
                    return total
                self.add([(int(r[0]), r[1], r[2]) for r in rows])
                self._cursor = int(rows[-1][0])
                total += len(rows)
                if len(rows) < REFRESH_CHUNK:
                    return total

    def search(self, signal_type: str, values: Sequence[str], radius: int) -> list[Candidate]:
        """Hits for each query value (index into ``values``) within ``radius`` (ignored for exact types)."""
        ix = self._indexes.get(signal_type)
        if ix is None or len(ix) == 0:
            return []
        return ix.search(values, radius)
