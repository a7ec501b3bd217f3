"""Bulk import and export of hash lists.

Imports stream: lines are parsed, normalised and inserted in batches, so a file of millions of lines
needs constant memory, and a re-import adds nothing (the unique key on bank, signal type and value
digest absorbs duplicates). On PostgreSQL, and for strict imports everywhere, the whole import is one
transaction: a crash leaves nothing half-written. On SQLite, whose single write lock would otherwise
make every upload wait for the whole import (tens of seconds for a million lines), a non-strict
import commits every ``SQLITE_COMMIT_SECONDS`` of writing and steps aside briefly so waiting writers
get the lock; a crash then leaves the batches already committed, and running the import again
completes it.

Batches bypass the ORM: at millions of lines, per-row ORM bookkeeping costs more than the database.
SQLite gets multi-row ``INSERT … ON CONFLICT DO NOTHING RETURNING id`` with the per-import constants
bound once per statement, and each batch is inserted in key order (signal type, value digest), because
the unique key is a B-tree that splits pages far more often under random-order inserts (ids within
one batch therefore follow key order, not line order). PostgreSQL gets ``COPY`` into a temporary
table and one ``INSERT … SELECT … ON CONFLICT DO NOTHING RETURNING id`` per batch, in key order.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from seawall.bulk_gc import fewer_collections
from seawall.errors import InvalidInput, SeawallError
from seawall.models.labels import validate_labels
from seawall.models.records import Bank, BankEntry
from seawall.plugins import Registry
from seawall.sharing.base import HashListFormat, ParsedEntry, RejectedLine
from seawall.storable import NUL_MESSAGE, check_stored, has_nul
from seawall.store.bulk import COPY_NULL, PG_KEY_COLLATION, InFlight, PgStage, copy_text, sqlite_bulk_settings
from seawall.store.convert import entry_from_row
from seawall.store.db import Database
from seawall.store.tables import BankEntryRow, utcnow, value_digest

BATCH = 50_000
#: SQLite, non-strict: rows per insert, longest time the write lock is held, pause after each commit.
#: A batch of 1,000 rows is a few milliseconds of Python; between batches the import thread gives up the
#: GIL, so the event loop and /healthz wait for one small batch, not for 5,000 rows.
SQLITE_BATCH = 1_000
SQLITE_COMMIT_SECONDS = 0.2
SQLITE_YIELD_SECONDS = 0.02
MAX_REPORTED_REJECTS = 1_000
#: Rows per SQLite statement: 5 bound values a row stays well under SQLite's 32,766-variable limit.
SQLITE_ROWS_PER_STATEMENT = 2_000

#: (line number, signal type, normalised value, labels, first seen, meta)
_Row = tuple[int, str, str, list[str], datetime | None, dict[str, Any]]


@dataclass(slots=True)
class ImportReport:
    lines_read: int = 0
    added: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejected_lines: list[RejectedLine] = field(default_factory=list)

    def reject(self, line: RejectedLine) -> None:
        self.rejected += 1
        if len(self.rejected_lines) < MAX_REPORTED_REJECTS:
            self.rejected_lines.append(line)

    def to_dict(self) -> dict[str, Any]:
        return {
            "lines_read": self.lines_read,
            "added": self.added,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "rejected_lines": [r.to_dict() for r in self.rejected_lines],
            "rejected_lines_truncated": self.rejected > len(self.rejected_lines),
        }


class _Writer:
    """Inserts one batch of rows, ignoring values the bank already holds; returns how many were new.

    A batch goes through :meth:`prepare` (pure Python, on the thread that parses, while the previous
    batch is being written) and then :meth:`write` (the database's work, on the writer thread).
    """

    def __init__(self, s: Session, bank_id: int, source: str, added_by: str, now: datetime) -> None:
        self.s = s
        self.bank_id = bank_id
        self.source = source
        self.added_by = added_by
        self.now = now

    @staticmethod
    def prepare(rows: list[_Row]) -> Any:
        """``rows`` made ready for :meth:`write`, without the connection (by default, as they are)."""
        return rows

    def write(self, prepared: Any) -> int:
        raise NotImplementedError

    def insert(self, rows: list[_Row]) -> int:
        """:meth:`prepare` then :meth:`write`: the number of rows that were new."""
        return self.write(self.prepare(rows))

    def close(self) -> None:
        """Undo any per-import connection settings."""


class _SqliteWriter(_Writer):
    def __init__(self, s: Session, bank_id: int, source: str, added_by: str, now: datetime) -> None:
        super().__init__(s, bank_id, source, added_by, now)
        conn = s.connection()
        dialect = conn.dialect
        table = BankEntryRow.__table__
        # The dialect's own bind processors, so stored text is exactly what the ORM would write.
        self._dt = table.c.created_at.type.dialect_impl(dialect).bind_processor(dialect)
        self._json = table.c.meta.type.dialect_impl(dialect).bind_processor(dialect)
        dbapi: Any = conn.connection.driver_connection
        self._cur = dbapi.cursor()
        self._bulk = sqlite_bulk_settings(self._cur)
        self._bulk.__enter__()
        self._consts = [bank_id, source, added_by, self._bind_dt(now), ""]
        self._sql: dict[int, str] = {}
        self._json_cache: dict[str, Any] = {}

    def _bind_dt(self, value: datetime | None) -> Any:
        return self._dt(value) if self._dt and value is not None else value

    def _bind_json(self, value: Any) -> Any:
        if not value:  # [] and {} are the common case: serialise once
            key = "[]" if isinstance(value, list) else "{}"
            cached = self._json_cache.get(key)
            if cached is None:
                cached = self._json_cache[key] = self._json(value) if self._json else value
            return cached
        return self._json(value) if self._json else value

    def _statement(self, n: int) -> str:
        sql = self._sql.get(n)
        if sql is None:
            # ?1…?5 are the per-import constants; each row binds six values of its own.
            rows = ",".join(
                f"(?1,?{6 + 6 * i},?{7 + 6 * i},?{8 + 6 * i},?{9 + 6 * i},?2,?{10 + 6 * i},?3,?5,?{11 + 6 * i},?4)"
                for i in range(n)
            )
            sql = self._sql[n] = (
                "INSERT INTO bank_entries (bank_id, signal_type, value, value_digest, labels, source, first_seen, "
                f"added_by, note, meta, created_at) VALUES {rows} "
                "ON CONFLICT (bank_id, signal_type, value_digest) DO NOTHING RETURNING id"
            )
        return sql

    def write(self, prepared: Any) -> int:
        rows: list[_Row] = prepared
        keyed = sorted(((r[1], value_digest(r[2])), r) for r in rows)
        added = 0
        step = SQLITE_ROWS_PER_STATEMENT
        for start in range(0, len(keyed), step):
            chunk = keyed[start:start + step]
            params: list[Any] = list(self._consts)
            for (_, digest), (_, sig, value, labels, first_seen, meta) in chunk:
                params += (sig, value, digest, self._bind_json(labels), self._bind_dt(first_seen),
                           self._bind_json(meta))
            added += len(self._cur.execute(self._statement(len(chunk)), params).fetchall())
        return added

    def close(self) -> None:
        try:
            self._bulk.__exit__(None, None, None)
        finally:
            self._cur.close()


@dataclass(slots=True)
class _PgBatch:
    """A batch as one text ``COPY`` payload in key order; ``distinct``: no key occurs twice in it."""

    text: str
    distinct: bool


class _PostgresWriter(_Writer):
    """``COPY`` into a staging table, then one ``INSERT … SELECT`` per batch.

    ``ON CONFLICT DO NOTHING`` probes the unique key once before each row's insert and again while
    inserting it: nearly a fifth of the database's work on an import of new entries. So a batch with no
    key twice is first inserted plainly, under a savepoint; if any of its keys is already stored (a
    re-import, an overlapping list, a concurrent import of the same list that committed first), the
    unique key refuses the statement, the savepoint undoes it, and that batch and every later one take
    ``ON CONFLICT DO NOTHING``. What is stored is the same either way. A savepoint that wrote is a
    subtransaction until the import commits, and past 64 of them every snapshot taken meanwhile
    overflows to ``pg_subtrans`` lookups, so at most :data:`PLAIN_BATCHES` batches are tried plainly.
    """

    PLAIN_BATCHES = 48

    def __init__(self, s: Session, bank_id: int, source: str, added_by: str, now: datetime) -> None:
        super().__init__(s, bank_id, source, added_by, now)
        from psycopg.errors import UniqueViolation  # here: SQLite stores never load the PostgreSQL driver

        self._unique_violation = UniqueViolation
        dbapi: Any = s.connection().connection.driver_connection
        self._cur = dbapi.cursor()
        self._stage = PgStage(self._cur, "seawall_import_stage", (
            ("signal_type", f"text {PG_KEY_COLLATION}"), ("value_digest", f"text {PG_KEY_COLLATION}"),
            ("value", "text"), ("labels", "jsonb"), ("first_seen", "timestamptz"), ("meta", "jsonb")))
        self._plain_left = self.PLAIN_BATCHES
        insert = (
            "INSERT INTO bank_entries (bank_id, signal_type, value, value_digest, labels, source, first_seen, "
            "added_by, note, meta, created_at) "
            "SELECT %s, signal_type, value, value_digest, coalesce(labels, '[]'::jsonb), %s, first_seen, %s, '', "
            f"coalesce(meta, '{{}}'::jsonb), %s FROM {self._stage.name}"
        )
        self._plain_sql = insert
        self._skip_sql = insert + " ON CONFLICT (bank_id, signal_type, value_digest) DO NOTHING"

    @staticmethod
    def prepare(rows: list[_Row]) -> _PgBatch:
        dumps, null, digest = json.dumps, COPY_NULL, value_digest
        keys = [f"{sig}\t{digest(value)}" for _, sig, value, _, _, _ in rows]
        # Empty labels and meta (nearly every line) travel as NULL, which COPY stores without parsing JSON;
        # the INSERT writes them as [] and {}. Signal type names and digests need no escaping.
        lines = [f"{key}\t{copy_text(value)}\t{copy_text(dumps(labels)) if labels else null}\t"
                 f"{null if first_seen is None else first_seen.isoformat()}\t"
                 f"{copy_text(dumps(meta)) if meta else null}\n"
                 for key, (_, _, value, labels, first_seen, meta) in zip(keys, rows, strict=True)]
        # Staged in key order: each line starts with the signal type, a tab (below every character a name
        # holds) and the fixed-length digest, so sorting the lines sorts by (signal type, digest), the
        # index's byte order for these ASCII keys. A freshly emptied temporary table is read back in the
        # order it was written, so the INSERT needs no sort of its own. Key order decides only which index
        # pages each row touches (and its id), never what is stored.
        lines.sort()
        return _PgBatch("".join(lines), len(set(keys)) == len(keys))

    def write(self, prepared: Any) -> int:
        batch: _PgBatch = prepared
        cur = self._cur
        self._stage.load_text((batch.text,))
        params = (self.bank_id, self.source, self.added_by, self.now)
        if self._plain_left > 0 and batch.distinct:
            self._plain_left -= 1
            cur.execute("SAVEPOINT seawall_import_batch")
            try:
                cur.execute(self._plain_sql, params)
            except self._unique_violation:
                cur.execute("ROLLBACK TO SAVEPOINT seawall_import_batch")
                self._plain_left = 0
            else:
                added = int(cur.rowcount)
                cur.execute("RELEASE SAVEPOINT seawall_import_batch")
                return added
        cur.execute(self._skip_sql, params)
        return int(cur.rowcount)

    def close(self) -> None:
        self._cur.close()


def _writer_class(dialect: str) -> type[_Writer]:
    if dialect == "postgresql":
        return _PostgresWriter
    if dialect == "sqlite":
        return _SqliteWriter
    raise NotImplementedError(f"bulk import is not implemented for {dialect}")


def _writer(s: Session, dialect: str, bank: Bank, source: str, added_by: str, now: datetime) -> _Writer:
    return _writer_class(dialect)(s, bank.id, source, added_by, now)


class _Transactions:
    """One transaction for the whole import, or (``rotate``) a fresh one every ``SQLITE_COMMIT_SECONDS``."""

    def __init__(self, db: Database, bank: Bank, source: str, added_by: str, now: datetime, *, rotate: bool) -> None:
        self.db, self.bank, self.source, self.added_by, self.now = db, bank, source, added_by, now
        self.rotate = rotate
        self._stack: ExitStack | None = None
        self._writer: _Writer | None = None
        self._opened = 0.0

    def _open(self) -> _Writer:
        stack = ExitStack()
        s = stack.enter_context(self.db.session())
        writer = _writer(s, self.db.dialect, self.bank, self.source, self.added_by, self.now)
        stack.callback(writer.close)
        self._stack, self._writer, self._opened = stack, writer, time.monotonic()
        return writer

    def write(self, prepared: Any) -> int:
        """Write a batch made by the writer class's ``prepare``; how many of its rows were new."""
        writer = self._writer or self._open()
        added = writer.write(prepared)
        if self.rotate and time.monotonic() - self._opened >= SQLITE_COMMIT_SECONDS:
            self._commit()
            time.sleep(SQLITE_YIELD_SECONDS)  # let a waiting upload take the write lock
        elif self.rotate:
            time.sleep(0)  # give up the GIL: other requests run between batches
        return added

    def _commit(self) -> None:
        stack, self._stack, self._writer = self._stack, None, None
        if stack is not None:
            stack.close()

    def __enter__(self) -> _Transactions:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        stack, self._stack, self._writer = self._stack, None, None
        if stack is not None:
            stack.__exit__(type(exc) if exc else None, exc, exc.__traceback__ if exc else None)


def import_entries(
    db: Database,
    registry: Registry,
    bank: Bank,
    fmt: HashListFormat,
    lines: Iterable[str],
    *,
    added_by: str,
    source: str = "",
    labels: list[str] | None = None,
    strict: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import lines into ``bank``. With ``strict`` any rejected line aborts the whole import."""
    extra_labels = validate_labels(labels or [])
    report = ImportReport()
    now = utcnow()
    batch: list[_Row] = []
    seen_lines = 0
    sig_cache = dict(registry.signal_types)
    source = str(check_stored(source, "source"))[:200]
    check_stored(labels, "labels")

    rotate = db.dialect == "sqlite" and not strict
    batch_size = SQLITE_BATCH if rotate else BATCH
    prepare = _writer_class(db.dialect).prepare
    # One long transaction: batch k is written on a worker thread while this one parses and prepares batch
    # k+1 (the database driver releases the GIL while the database works), so the writer thread runs
    # little Python and the database waits as little as possible for its next batch. Rotating SQLite
    # imports stay inline: they pause between batches on purpose. The rows parsed make and drop millions
    # of small objects and hold no cycles: fewer collections (``bulk_gc``) halve this thread's CPU.
    with fewer_collections(), _Transactions(db, bank, source, added_by, now, rotate=rotate) as tx, \
            InFlight[tuple[int, int]]("seawall-import-write", inline=rotate) as flight:
        def account(written: tuple[int, int] | None) -> None:
            if written is None:
                return
            n, added = written
            report.added += added
            report.duplicates += n - added

        def write(n: int, prepared: Any) -> tuple[int, int]:
            return n, tx.write(prepared)

        def flush() -> None:
            if not batch:
                return
            rows = batch.copy()
            batch.clear()
            account(flight.submit(write, len(rows), prepare(rows)))

        for parsed in fmt.parse(lines):
            report.lines_read += 1  # each line once, whether parsed, refused by its format or by _row
            if isinstance(parsed, RejectedLine):
                report.reject(parsed)
                if strict:
                    break
                continue
            row = _row(parsed, sig_cache, extra_labels, report)
            if row is None:
                if strict:
                    break
                continue
            batch.append(row)
            if len(batch) >= batch_size:
                flush()
                if progress:
                    progress(parsed.line_no - seen_lines)
                    seen_lines = parsed.line_no
        if strict and report.rejected:
            raise InvalidInput(
                f"{report.rejected} line(s) rejected; nothing was imported (strict mode)",
                code="import_rejected",
                detail=[r.to_dict() for r in report.rejected_lines],
            )
        flush()
        account(flight.drain())
    return report


def _row(parsed: ParsedEntry, sigs: dict[str, Any], extra_labels: list[str], report: ImportReport) -> _Row | None:
    sig = sigs.get(parsed.signal_type)
    if sig is None:
        report.reject(RejectedLine(parsed.line_no, f"unknown signal type {parsed.signal_type!r}"))
        return None
    try:
        value = sig.normalize(parsed.value)
        entry_labels = validate_labels([*parsed.labels, *extra_labels]) if parsed.labels else extra_labels
    except SeawallError as exc:
        report.reject(RejectedLine(parsed.line_no, exc.message))
        return None
    # PostgreSQL can store no NUL: refuse the line, not the import (labels and meta are mostly empty)
    if has_nul(value) or (entry_labels and has_nul(entry_labels)) or (parsed.meta and has_nul(parsed.meta)):
        report.reject(RejectedLine(parsed.line_no, f"a field {NUL_MESSAGE}"))
        return None
    return (parsed.line_no, sig.name, value, entry_labels, parsed.first_seen, parsed.meta)


def iter_entries(db: Database, bank: Bank, *, chunk: int = 10_000) -> Iterator[BankEntry]:
    """Every entry of a bank in id order, read in chunks so exports of millions need little memory."""
    after = 0
    while True:
        with db.session() as s:
            rows = list(
                s.scalars(
                    select(BankEntryRow)
                    .where(BankEntryRow.bank_id == bank.id, BankEntryRow.id > after)
                    .order_by(BankEntryRow.id)
                    .limit(chunk)
                )
            )
        if not rows:
            return
        for r in rows:
            yield entry_from_row(r)
        after = rows[-1].id


def export_lines(db: Database, bank: Bank, fmt: HashListFormat, registry: Registry | None = None) -> Iterator[str]:
    """The bank in ``fmt``; a format read by other tools (pytx) gets no entries of Seawall-only types."""
    entries: Iterable[BankEntry] = iter_entries(db, bank)
    if fmt.leaves_out_seawall_only and registry is not None:
        own = {name for name, sig in registry.signal_types.items() if sig.seawall_only}
        entries = (e for e in entries if e.signal_type not in own)
    return fmt.write(entries)


_worker_databases: dict[str, Database] = {}


def import_file(database_url: str, bank_name: str, fmt_name: str, path: str, *, added_by: str, source: str = "",
                labels: list[str] | None = None, strict: bool = False) -> ImportReport:
    """Import a hash-list file in a worker process (:mod:`seawall.api.offload`), away from the server's GIL.

    Parsing and inserting a million lines is minutes of interpreter time; in a server thread it would
    make every other request (``/healthz`` too) wait its turn for the GIL. The worker keeps one
    :class:`Database` per URL and uses the process-wide plugin registry, which the server checked is
    the one it uses itself. The caller refreshes its indexes afterwards.
    """
    from seawall.banks.service import BankService
    from seawall.plugins import registry

    db = _worker_databases.get(database_url)
    if db is None:
        db = _worker_databases[database_url] = Database(database_url)
    reg = registry()
    bank = BankService(db, reg).get(bank_name)
    with open(path, "rb") as raw:
        return import_entries(db, reg, bank, reg.hashlist_format(fmt_name), lines_of(raw), added_by=added_by,
                              source=source, labels=labels, strict=strict)


def lines_of(raw: IO[bytes]) -> Iterator[str]:
    """The lines of an uploaded hash list as text (bad UTF-8 replaced, not fatal; a leading BOM dropped)."""
    reader = io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")
    for line in reader:
        yield line.rstrip("\r\n").lstrip("\ufeff")
