"""Bulk writes of bank entries, shared by hash-list imports and feed syncs.

Both write tens of thousands of rows per statement batch into ``bank_entries``, whose unique key is a
digest and therefore random: each batch lands all across that index. Two things make that cheaper:

* On SQLite, a connection doing bulk work gets a large page cache and a memory map for that work only
  (``sqlite_bulk_settings``): with SQLite's default 2 MB cache every batch re-reads, and spills mid
  transaction, index pages it touched moments before. The settings are restored afterwards, so a
  pooled connection does not keep hundreds of megabytes once the bulk work is done.
* On PostgreSQL, rows are ``COPY``-ed into a temporary staging table (``PgStage``) and moved with one
  ``INSERT … SELECT`` in key order; per-row statements would cost a round trip each.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from typing import Any, Generic, TypeVar

T = TypeVar("T")

#: Page cache of a connection during bulk work (KiB, negative per SQLite's convention).
SQLITE_BULK_CACHE_KIB = 262_144
#: Bytes of the database file SQLite may read through a memory map during bulk work (no copy per read).
SQLITE_BULK_MMAP_BYTES = 1 << 30
#: A NULL field in PostgreSQL's text ``COPY`` format.
COPY_NULL = "\\N"
#: What the text columns of bank entries' keys compare by on PostgreSQL (migration 0028); a staging
#: table's key columns declare it too, so its sort and its joins with the bank compare the same way.
PG_KEY_COLLATION = 'COLLATE "C"'
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text(value: str) -> str:
    """``value`` as one field of a text ``COPY`` line: backslash, tab, newline and carriage return escaped.

    Hashes never hold any of them, so the common case is four substring tests and no copy.
    """
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_COPY_ESCAPES)
    return value


@contextmanager
def sqlite_bulk_settings(cur: Any) -> Iterator[None]:
    """A large cache and memory map on the DB-API cursor's connection while the block runs."""
    saved_cache = int(cur.execute("PRAGMA cache_size").fetchone()[0])
    saved_mmap = int(cur.execute("PRAGMA mmap_size").fetchone()[0])
    cur.execute(f"PRAGMA cache_size=-{SQLITE_BULK_CACHE_KIB}")
    cur.execute(f"PRAGMA mmap_size={SQLITE_BULK_MMAP_BYTES}")
    try:
        yield
    finally:
        cur.execute(f"PRAGMA mmap_size={saved_mmap}")
        cur.execute(f"PRAGMA cache_size={saved_cache}")


class PgStage:
    """A temporary table of this transaction that batches are ``COPY``-ed into before one INSERT … SELECT.

    ``ON COMMIT DROP``: nothing is left behind whatever happens to the transaction, and a connection
    returned to the pool carries no staging table into its next use.
    """

    def __init__(self, cur: Any, name: str, columns: Sequence[tuple[str, str]]) -> None:
        self.cur, self.name = cur, name
        self.columns = ", ".join(c for c, _ in columns)
        ddl = ", ".join(f"{c} {t}" for c, t in columns)
        cur.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {name} ({ddl}) ON COMMIT DROP")

    def load(self, rows: Iterable[Sequence[Any]]) -> None:
        """Replace the stage's rows with ``rows`` (one ``COPY``)."""
        self.clear()
        self.append(rows)

    def append(self, rows: Iterable[Sequence[Any]]) -> None:
        """Add ``rows`` to the stage (one ``COPY``): several pages can be staged for one INSERT … SELECT."""
        with self.cur.copy(f"COPY {self.name} ({self.columns}) FROM STDIN") as cp:
            write = cp.write_row
            for row in rows:
                write(row)

    def append_text(self, lines: Iterable[str]) -> None:
        """Add ``lines`` (as :meth:`load_text` takes them) to the stage with one write, keeping its rows."""
        with self.cur.copy(f"COPY {self.name} ({self.columns}) FROM STDIN") as cp:
            cp.write("".join(lines))

    def load_text(self, lines: Iterable[str]) -> None:
        """Replace the stage's rows with ``lines``, each a text ``COPY`` line ending in a newline.

        One write per batch, formatted by the caller in one pass: ``write_row`` costs a call per row and
        a send per 32 KiB, and a send can give up the GIL, which the thread parsing the next batch then
        holds for up to a switch interval (5 ms) before the writer goes on.
        """
        cur = self.cur
        self.clear()
        with cur.copy(f"COPY {self.name} ({self.columns}) FROM STDIN") as cp:
            cp.write("".join(lines))

    def clear(self) -> None:
        self.cur.execute(f"TRUNCATE {self.name}")


class InFlight(Generic[T]):
    """At most one batch being written on a worker thread while the caller prepares the next.

    Parsing and normalising are Python; writing is the database's work, during which the driver
    releases the GIL. Side by side they use both cores of a small machine instead of one at a time.
    Results (and errors) come back in submission order, one batch late; ``drain`` collects the last.
    ``inline`` runs each batch at once on the caller's thread (same interface, no overlap).
    """

    def __init__(self, name: str, *, inline: bool = False) -> None:
        self._pool = None if inline else ThreadPoolExecutor(1, thread_name_prefix=name)
        self._pending: Future[T] | None = None

    def submit(self, fn: Callable[..., T], *args: Any) -> T | None:
        """Start ``fn(*args)``; the result of the batch submitted before it (None for the first)."""
        if self._pool is None:
            return fn(*args)
        previous = self.drain()
        self._pending = self._pool.submit(fn, *args)
        return previous

    def drain(self) -> T | None:
        """Wait for the batch in flight; its result, or its error raised here."""
        pending, self._pending = self._pending, None
        return pending.result() if pending is not None else None

    def __enter__(self) -> InFlight[T]:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        """Never leave a write running: the transaction it belongs to ends right after this."""
        try:
            if self._pending is not None:
                with suppress(BaseException):
                    self._pending.result()
                self._pending = None
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
