"""Keeps one in-memory index per signal type in step with the bank entries in the store.

The store is the truth; the indexes are a cache of it. ``refresh`` reads entries newer than the last
one loaded (a cursor over the entry id), so the same call serves start-up, writes made by this process
and writes made by others (a CLI import, another node). Deleted entries that linger in an index are
harmless: matches are resolved against the store, where they no longer exist.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select

from seawall.index.exact import ExactIndex
from seawall.index.pdq import PdqIndex
from seawall.plugins import Registry
from seawall.store.db import Database
from seawall.store.tables import BankEntryRow

log = logging.getLogger(__name__)

REFRESH_CHUNK = 200_000


@dataclass(frozen=True, slots=True)
class Candidate:
    """An index hit before it is checked against the store and bank thresholds."""

    query_index: int
    entry_id: int
    distance: int


class IndexSet:
    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._exact: dict[str, ExactIndex] = {}
        self._hamming: dict[str, PdqIndex] = {}
        self._cursor = 0
        self._refresh_lock = threading.Lock()

    @property
    def cursor(self) -> int:
        """Id of the newest entry loaded."""
        return self._cursor

    def sizes(self) -> dict[str, int]:
        out = {name: len(ix) for name, ix in self._exact.items()}
        out.update({name: len(ix) for name, ix in self._hamming.items()})
        return out

    def memory_bytes(self) -> dict[str, int]:
        out = {name: ix.memory_bytes() for name, ix in self._exact.items()}
        out.update({name: ix.memory_bytes() for name, ix in self._hamming.items()})
        return out

    def _index_kind(self, signal_type: str) -> str | None:
        sig = self._registry.signal_types.get(signal_type)
        return sig.index_kind if sig else None

    def _exact_for(self, signal_type: str) -> ExactIndex:
        ix = self._exact.get(signal_type)
        if ix is None:
            ix = self._exact[signal_type] = ExactIndex()
        return ix

    def _hamming_for(self, signal_type: str) -> PdqIndex:
        ix = self._hamming.get(signal_type)
        if ix is None:
            ix = self._hamming[signal_type] = PdqIndex()
        return ix

    def add(self, rows: Sequence[tuple[int, str, str]]) -> None:
        """Add (entry id, signal type, value) triples; ids already indexed are ignored."""
        by_hamming: dict[str, tuple[list[int], list[bytes]]] = {}
        for entry_id, signal_type, value in rows:
            kind = self._index_kind(signal_type)
            if kind == "exact":
                self._exact_for(signal_type).add(entry_id, value)
            elif kind == "hamming256":
                ids, hashes = by_hamming.setdefault(signal_type, ([], []))
                ids.append(entry_id)
                hashes.append(bytes.fromhex(value))
        for signal_type, (ids, hashes) in by_hamming.items():
            arr = np.frombuffer(b"".join(hashes), dtype=np.uint8).reshape(-1, 32)
            self._hamming_for(signal_type).add(np.asarray(ids, dtype=np.int64), arr)

    def remove(self, rows: Sequence[tuple[int, str, str]]) -> None:
        by_hamming: dict[str, list[int]] = {}
        for entry_id, signal_type, value in rows:
            kind = self._index_kind(signal_type)
            if kind == "exact" and signal_type in self._exact:
                self._exact[signal_type].remove(entry_id, value)
            elif kind == "hamming256":
                by_hamming.setdefault(signal_type, []).append(entry_id)
        for signal_type, ids in by_hamming.items():
            if signal_type in self._hamming:
                self._hamming[signal_type].remove(ids)

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
        kind = self._index_kind(signal_type)
        out: list[Candidate] = []
        if kind == "exact":
            ix = self._exact.get(signal_type)
            if ix is None:
                return out
            for qi, v in enumerate(values):
                out.extend(Candidate(qi, eid, 0) for eid in ix.get(v))
        elif kind == "hamming256":
            hix = self._hamming.get(signal_type)
            if hix is None or len(hix) == 0:
                return out
            q = np.frombuffer(b"".join(bytes.fromhex(v) for v in values), dtype=np.uint8).reshape(-1, 32)
            for qi, hits in enumerate(hix.search_batch(q, radius)):
                out.extend(Candidate(qi, eid, dist) for eid, dist in hits)
        return out
