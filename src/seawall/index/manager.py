"""Keeps one in-memory index per signal type in step with the bank entries in the store.

The store is the truth; the indexes are a cache of it. ``refresh`` reads, per signal type, entries
newer than the last one loaded (a cursor over the entry id), so the same call serves start-up and
writes made by other processes (a CLI import, another node). Writes made through this process are
added directly as they are inserted. Deleted entries that linger in an index are harmless: matches
are resolved against the store, where they no longer exist.

On PostgreSQL, ids come from a sequence and are handed out when a row is inserted, not when its
transaction commits, so a slow transaction can commit an id below the cursor after the cursor passed
it. Every entry records its transaction id (``tx_id``), and each refresh also reads the entries whose
transaction finished since the previous refresh — those below the oldest transaction still running
(``pg_snapshot_xmin``) — and adds the ones the cursor skipped. The horizon is read before the id feed,
so any entry the id feed could not see yet is in a transaction at or above it. A late entry is
matchable one refresh after its commit; SQLite serialises writers, so its ids commit in order.

Indexes that support snapshots are saved to ``<snapshot_dir>/<signal_type>-<cursor>.snap``; at start-up
the newest one is loaded and only entries after its cursor are read from the store. A snapshot that
fails its checks is deleted and the index is rebuilt from the store — it is never trusted blindly.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.exc import ProgrammingError

from seawall.index.base import Candidate, SignalIndex, SnapshotIndex
from seawall.index.snapshot import SnapshotError
from seawall.plugins import Registry
from seawall.store.db import Database
from seawall.store.tables import BankEntryRow

log = logging.getLogger(__name__)

REFRESH_CHUNK = 200_000
_SNAPSHOT_NAME = re.compile(r"^(?P<signal>[a-z0-9_]+)-(?P<cursor>\d+)\.snap$")

__all__ = ["Candidate", "IndexSet"]


class IndexSet:
    def __init__(self, registry: Registry, snapshot_dir: Path | None = None) -> None:
        self._registry = registry
        self._indexes: dict[str, SignalIndex] = {}
        self._cursors: dict[str, int] = {}
        self._unsaved: dict[str, int] = {}
        self._snapshot_dir = snapshot_dir
        self._refresh_lock = threading.Lock()
        self._create_lock = threading.Lock()
        self._save_lock = threading.Lock()
        self._max_id: dict[str, int] = {}
        #: Oldest transaction still running at the previous refresh (PostgreSQL); None before the first.
        self._horizon: int | None = None
        self._late_feed = True

    def cursor(self, signal_type: str) -> int:
        """Id of the newest entry of this type loaded by ``refresh`` or a snapshot."""
        return self._cursors.get(signal_type, 0)

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
                self._unsaved[signal_type] = self._unsaved.get(signal_type, 0) + len(pairs)

    def remove(self, rows: Sequence[tuple[int, str, str]]) -> None:
        by_type: dict[str, list[tuple[int, str]]] = {}
        for entry_id, signal_type, value in rows:
            by_type.setdefault(signal_type, []).append((int(entry_id), value))
        for signal_type, pairs in by_type.items():
            ix = self._indexes.get(signal_type)
            if ix is not None:
                ix.remove(pairs)
                self._unsaved[signal_type] = self._unsaved.get(signal_type, 0) + len(pairs)

    def refresh(self, db: Database) -> int:
        """Load entries added since the last refresh, per signal type; returns how many were read."""
        total = 0
        with self._refresh_lock:
            horizon = self._commit_horizon(db)
            before = dict(self._cursors)
            for signal_type in list(self._registry.signal_types):
                while True:
                    cursor = self._cursors.get(signal_type, 0)
                    with db.session() as s:
                        rows = s.execute(
                            select(BankEntryRow.id, BankEntryRow.value)
                            .where(BankEntryRow.signal_type == signal_type, BankEntryRow.id > cursor)
                            .order_by(BankEntryRow.id)
                            .limit(REFRESH_CHUNK)
                        ).all()
                    if not rows:
                        break
                    ix = self.index_for(signal_type)
                    if ix is not None:
                        ix.add([(int(r[0]), r[1]) for r in rows])
                        self._unsaved[signal_type] = self._unsaved.get(signal_type, 0) + len(rows)
                    self._cursors[signal_type] = int(rows[-1][0])
                    total += len(rows)
                    if len(rows) < REFRESH_CHUNK:
                        break
            if horizon is not None:
                if self._horizon is not None and horizon > self._horizon:
                    total += self._read_late(db, self._horizon, horizon, before)
                if self._horizon is None or horizon > self._horizon:
                    self._horizon = horizon
        return total

    def _commit_horizon(self, db: Database) -> int | None:
        """Every transaction below this id has finished (PostgreSQL only)."""
        if not self._late_feed or db.dialect != "postgresql":
            return None
        with db.session() as s:
            return int(s.scalar(text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")) or 0)

    def _read_late(self, db: Database, low: int, high: int, cursors: dict[str, int]) -> int:
        """Entries committed by transactions in [low, high) with ids at or below the cursor of the time."""
        read = 0
        for signal_type, cursor in cursors.items():
            try:
                with db.session() as s:
                    rows = s.execute(
                        text("SELECT id, value FROM bank_entries WHERE tx_id >= (:low)::text::xid8 "
                             "AND tx_id < (:high)::text::xid8 AND signal_type = :t AND id <= :c"),
                        {"low": low, "high": high, "t": signal_type, "c": cursor},
                    ).all()
            except ProgrammingError:
                log.warning("bank_entries has no tx_id column (old schema?); late commits are not followed")
                self._late_feed = False
                return read
            if not rows:
                continue
            ix = self.index_for(signal_type)
            if ix is None:
                continue
            size = len(ix)
            ix.add([(int(r[0]), r[1]) for r in rows])
            if len(ix) > size:
                log.info("picked up %d %s entries committed after newer ones", len(ix) - size, signal_type)
                self._unsaved[signal_type] = self._unsaved.get(signal_type, 0) + len(ix) - size
            read += len(rows)
        return read

    def search(self, signal_type: str, values: Sequence[str], radius: int) -> list[Candidate]:
        """Hits for each query value (index into ``values``) within ``radius`` (ignored for exact types)."""
        ix = self._indexes.get(signal_type)
        if ix is None or len(ix) == 0:
            return []
        return ix.search(values, radius)

    # --- snapshots -------------------------------------------------------------------------------
    def _snapshot_files(self, signal_type: str) -> list[tuple[int, Path]]:
        if self._snapshot_dir is None or not self._snapshot_dir.is_dir():
            return []
        found = []
        for path in self._snapshot_dir.iterdir():
            m = _SNAPSHOT_NAME.match(path.name)
            if m and m.group("signal") == signal_type:
                found.append((int(m.group("cursor")), path))
        return sorted(found)

    def load_snapshots(self, db: Database) -> dict[str, int]:
        """Load the newest trustworthy snapshot per signal type; returns the entries loaded per type."""
        loaded: dict[str, int] = {}
        with db.session() as s:
            self._max_id = {
                t: int(m or 0)
                for t, m in s.execute(
                    select(BankEntryRow.signal_type, func.max(BankEntryRow.id)).group_by(BankEntryRow.signal_type)
                )
            }
        for signal_type, sig in self._registry.signal_types.items():
            probe = sig.create_index()
            if not isinstance(probe, SnapshotIndex):
                continue
            for cursor, path in reversed(self._snapshot_files(signal_type)):
                try:
                    if cursor > self._max_id.get(signal_type, 0):
                        raise SnapshotError(f"cursor {cursor} is past the newest {signal_type} entry in the store")
                    ix = type(probe).load(path)
                except (SnapshotError, OSError) as exc:
                    log.warning("snapshot %s rejected (%s); rebuilding from the store", path, exc)
                    path.unlink(missing_ok=True)
                    continue
                self._indexes[signal_type] = ix
                self._cursors[signal_type] = cursor
                self._unsaved[signal_type] = 0
                loaded[signal_type] = len(ix)
                break
        return loaded

    def save_snapshots(self, *, min_changes: int = 1) -> list[Path]:
        """Snapshot every index with at least ``min_changes`` changes since its last snapshot."""
        if self._snapshot_dir is None:
            return []
        written: list[Path] = []
        with self._save_lock:
            self._snapshot_dir.mkdir(parents=True, exist_ok=True)
            for signal_type, ix in list(self._indexes.items()):
                if not isinstance(ix, SnapshotIndex) or self._unsaved.get(signal_type, 0) < min_changes:
                    continue
                with self._refresh_lock:
                    cursor = self._cursors.get(signal_type, 0)
                    self._unsaved[signal_type] = 0
                path = self._snapshot_dir / f"{signal_type}-{cursor}.snap"
                ix.save(path)
                for _, old in self._snapshot_files(signal_type):
                    if old != path:
                        old.unlink(missing_ok=True)
                written.append(path)
        return written
