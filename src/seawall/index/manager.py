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
matchable at the first refresh after its commit once every older transaction on the server has ended
too (the horizon is server-wide); SQLite serialises writers, so its ids commit in order.

Indexes that support snapshots are saved to ``<snapshot_dir>/<signal_type>-<cursor>.snap``; at start-up
the newest one is loaded and only entries after its cursor are read from the store. A snapshot that
fails its checks is deleted and the index is rebuilt from the store — it is never trusted blindly.

Snapshots are memory-mapped read-only, so the server processes of one host share one copy of a large
index in the page cache. Start-up runs under a lock file in the snapshot directory
(:meth:`IndexSet.start_up_lock`): when no snapshot can be used, the first process rebuilds the index from
the store and saves it (:meth:`IndexSet.share_rebuilt`) while the others wait, and they then map the file
it wrote instead of rebuilding and holding the same index again.

Saving a large index (hundreds of MB of checksummed arrays, then fsync) takes seconds, so while serving
it happens on one dedicated low-priority thread (:meth:`IndexSet.request_snapshots`): lookups and
refreshes never wait for it, and it never runs twice at once. Searches read a published view of the
index without locks; a save only holds the index's update lock while it copies the small mutable parts.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from sqlalchemy import bindparam, func, select, text
from sqlalchemy.exc import ProgrammingError

from seawall.index.base import Candidate, SignalIndex, SnapshotIndex
from seawall.index.snapshot import SnapshotError
from seawall.plugins import Registry
from seawall.store.db import Database
from seawall.store.file_lock import FileLock
from seawall.store.tables import BankEntryRow

log = logging.getLogger(__name__)

#: Rows read per query by a refresh. The database driver converts a fetched batch in one C call that holds
#: the GIL throughout: 200,000 rows held every other request of the server for ~200 ms while a bulk import
#: in another process committed; 10,000 keep each hold to a few milliseconds at no measurable cost.
REFRESH_CHUNK = 10_000
#: Entries of one signal type after a cursor, oldest first. Built once: a refresh asks it for every signal type
#: several times a second, and building the statement cost more than SQLite took to answer it.
_NEW_ENTRIES = (
    select(BankEntryRow.id, BankEntryRow.value)
    .where(BankEntryRow.signal_type == bindparam("t"), BankEntryRow.id > bindparam("c"))
    .order_by(BankEntryRow.id)
    .limit(REFRESH_CHUNK)
)
#: The newest entry id of any type: one primary-key probe. While it has not moved there is nothing new to read,
#: and a refresh skips the per-type reads (one query per signal type, ~2.5 ms of the GIL four times a second in
#: every server process, during which that process's lookups waited).
_NEWEST_ENTRY = select(func.max(BankEntryRow.id))
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
        #: Newest entry id (any type) when the per-type reads last ran; ids are never reused (autoincrement).
        self._seen_newest = 0
        #: Oldest transaction still running at the previous refresh (PostgreSQL); None before the first.
        self._horizon: int | None = None
        self._late_feed = True
        # the snapshot thread: one at most, started on the first request
        self._snap_cond = threading.Condition()
        self._snap_wanted: int | None = None
        self._snap_running = False
        self._snap_closed = False
        self._snap_thread: threading.Thread | None = None
        self._snap_saved = 0

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
        types = {r[1] for r in rows}
        if len(types) == 1:  # a page of a feed: one type, no regrouping row by row
            by_type[types.pop()] = [(int(r[0]), r[2]) for r in rows]
        else:
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
            # Nothing past the newest id already read: every per-type read would come back empty. Only where
            # ids commit in order (SQLite): on PostgreSQL an id below the newest can commit later
            # above its own type's cursor, and only the per-type read finds it, so it is not probed there.
            newest = 0
            if db.dialect == "sqlite":
                with db.session() as s:
                    newest = int(s.scalar(_NEWEST_ENTRY) or 0)
            unchanged = db.dialect == "sqlite" and newest <= self._seen_newest
            for signal_type in [] if unchanged else list(self._registry.signal_types):
                while True:
                    cursor = self._cursors.get(signal_type, 0)
                    with db.session() as s:
                        rows = s.execute(_NEW_ENTRIES, {"t": signal_type, "c": cursor}).all()
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
            self._seen_newest = max(self._seen_newest, newest)
            if horizon is not None:
                if self._horizon is not None and horizon > self._horizon:
                    total += self._read_late(db, self._horizon, horizon, before)
                if self._horizon is None or horizon > self._horizon:
                    self._horizon = horizon
        return total

    def _commit_horizon(self, db: Database) -> int | None:
        """Every transaction below this id has finished (PostgreSQL only)."""
        return db.commit_horizon() if self._late_feed else None

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
                # an index that had to reorganise itself on load is saved again in that form
                self._unsaved[signal_type] = 1 if getattr(ix, "merged_on_load", False) else 0
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
                # A delta past its limit is folded first: a process loading the file would otherwise fold it into
                # a private copy of the base instead of searching the shared mapping.
                settle = getattr(ix, "settle", None)
                if settle is not None:
                    settle()
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

    @contextlib.contextmanager
    def start_up_lock(self) -> Iterator[None]:
        """Hold an exclusive lock on the snapshot directory while this process loads or rebuilds its indexes.

        Why: the N processes of ``seawall serve --workers N`` start together. Without the lock each would
        find no snapshot, read every entry from the store and keep its own copy; with it the first one
        rebuilds and saves (:meth:`share_rebuilt`), and the rest map that snapshot when they get the lock.
        """
        if self._snapshot_dir is None:
            yield
            return
        with FileLock(self._snapshot_dir / ".start-up.lock"):
            yield

    def share_rebuilt(self, *, min_changes: int) -> list[str]:
        """Save every index rebuilt at start-up with at least ``min_changes`` entries read, and map the file.

        Call once after the first refresh, before serving (no update runs beside it). The saved snapshot
        replaces this process's private copy by the shared mapping that the other processes of the host
        load, so a large index lives once in memory. Returns the signal types switched over.
        """
        shared: list[str] = []
        for path in self.save_snapshots(min_changes=min_changes):
            m = _SNAPSHOT_NAME.match(path.name)
            if m is None:  # pragma: no cover - save_snapshots names every file this way
                continue
            signal_type = m.group("signal")
            saved = self._indexes.get(signal_type)
            if not isinstance(saved, SnapshotIndex):  # pragma: no cover - only snapshot indexes are saved
                continue
            try:
                mapped = type(saved).load(path)
            except (SnapshotError, OSError) as exc:
                log.warning("snapshot %s just written cannot be read back (%s); keeping the index in memory",
                            path, exc)
                continue
            with self._refresh_lock:
                if self._cursors.get(signal_type, 0) == int(m.group("cursor")) and len(mapped) == len(saved):
                    self._indexes[signal_type] = mapped
                    shared.append(signal_type)
        return shared

    # --- snapshots in the background -------------------------------------------------------------
    def _snapshot_due(self, min_changes: int) -> bool:
        return any(isinstance(ix, SnapshotIndex) and self._unsaved.get(t, 0) >= min_changes
                   for t, ix in list(self._indexes.items()))

    def request_snapshots(self, *, min_changes: int) -> bool:
        """Have the snapshot thread save indexes with at least ``min_changes`` unsaved changes; returns at once.

        True if a save was asked for. A request made while a save runs is remembered and served after
        it, so saves never overlap and never pile up.
        """
        if self._snapshot_dir is None or not self._snapshot_due(min_changes):
            return False
        with self._snap_cond:
            if self._snap_closed:
                return False
            self._snap_wanted = min_changes if self._snap_wanted is None else min(self._snap_wanted, min_changes)
            if self._snap_thread is None:
                self._snap_thread = threading.Thread(target=self._snapshot_loop, name="seawall-index-snapshot",
                                                     daemon=True)
                self._snap_thread.start()
            self._snap_cond.notify_all()
        return True

    def _snapshot_loop(self) -> None:
        _lower_thread_priority()
        while True:
            with self._snap_cond:
                while self._snap_wanted is None and not self._snap_closed:
                    self._snap_cond.wait()
                if self._snap_wanted is None:
                    return
                wanted, self._snap_wanted = self._snap_wanted, None
                self._snap_running = True
            try:
                written = self.save_snapshots(min_changes=wanted)
                if written:
                    log.info("index snapshots saved: %s", ", ".join(p.name for p in written))
            except Exception:
                log.exception("saving index snapshots failed; the next request tries again")
            finally:
                with self._snap_cond:
                    self._snap_running = False
                    self._snap_saved += 1
                    self._snap_cond.notify_all()

    @property
    def snapshot_saving(self) -> bool:
        """Whether the snapshot thread is saving (or about to); for tests and health pages."""
        with self._snap_cond:
            return self._snap_running or self._snap_wanted is not None

    def wait_for_snapshots(self, timeout: float | None = None) -> bool:
        """Block until no background save is running or asked for; False on timeout."""
        with self._snap_cond:
            return self._snap_cond.wait_for(lambda: self._snap_wanted is None and not self._snap_running, timeout)

    def close_snapshots(self, timeout: float | None = None) -> None:
        """Finish what was asked for and stop the snapshot thread (before a final synchronous save)."""
        with self._snap_cond:
            self._snap_closed = True
            self._snap_cond.notify_all()
            thread = self._snap_thread
        if thread is not None:
            thread.join(timeout)


def _lower_thread_priority() -> None:
    """Let request threads win the CPU over a save: on Linux a nice value applies to one thread."""
    with contextlib.suppress(AttributeError, OSError):  # elsewhere the save still runs off the request path
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
