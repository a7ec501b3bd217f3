"""A source's entries staged page by page and written to its banks several pages at a time.

A bank's unique key is a digest, so new entries land all across that B-tree. What an initial sync of
millions pays for is how often each of its leaves is visited and written: on SQLite every commit
writes each leaf it changed to the WAL and, at the checkpoint, to the database file again, and on
PostgreSQL each INSERT descends to, locks and dirties the leaves of its own rows. A page of 20,000
entries touches nearly every leaf of a bank of two million, so writing page by page rewrote the whole
index a hundred times.

So the entries of consecutive pages are first copied into a temporary staging table (cheap: no
index, nothing shared) and written together, in key order, once per group of pages
(:meth:`StagedEntries.write`): one pass over the leaves serves the whole group. Provenance goes in the
same step. On PostgreSQL the new entries' provenance comes from the INSERT's own returned rows (no
second probe of the unique key for each entry); only entries the bank already held are looked up.

An entry the bank already held keeps its provenance row as it is unless the source now reports it with
another remote id or labels: a re-read of an unchanged feed of millions then writes nothing but its
checkpoint (rewriting each row only to move its ``last_seen`` cost PostgreSQL as much as the first
sync). Pages of a full listing are the exception (``listing``): there ``last_seen`` is what the listing's
end withdraws by, so every entry seen moves it.

Nothing here decides when a group ends or commits: :class:`~seawall.sharing.sources.SourceService`
does, so that each commit still carries the checkpoint of its last page.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.orm import Session

from seawall.store.bulk import COPY_NULL, PG_KEY_COLLATION, PgStage, copy_text, sqlite_bulk_settings
from seawall.store.tables import BankEntryRow

#: A page's entry ready to store: (signal type, value, digest, labels, remote labels, first seen, remote id).
Good = tuple[str, str, str, list[str], list[str], datetime | None, str | None]
#: (entry id, signal type, value) of entries the indexes must learn.
Rows = list[tuple[int, str, str]]

_TYPE_OF = itemgetter(0)
_DIGEST_OF = itemgetter(2)

_STAGE = "seawall_source_stage"
#: Staged entries looked up before a group is written: if the bank holds none of them, the group is
#: taken to be new and inserted plainly (:meth:`_PostgresStaged._insert_plainly`).
_SAMPLE = 16
#: Memory a group's sort and hash join may use on PostgreSQL (see :class:`_PostgresStaged`).
_WORK_MEM = "64MB"
#: The order a group is inserted in, for locality in the bank's unique key. Digest first: a group is nearly
#: always of one signal type, and sorting by a key whose first column is the same in every row compared
#: each pair in full (the type, then the digest fished out of each tuple past the value), about a fifth of
#: the database's work on a group; on the digest the sort's abbreviated keys settle nearly every comparison.
#: A group of several types still inserts each type's entries in key order, interleaved.
_KEY_ORDER = "value_digest, signal_type"
#: Key columns in the collation of the bank's own (migration 0028): the group's sort and its joins compare
#: bytes, as the unique key does, not by the locale.
_PG_STAGE_COLUMNS = (("signal_type", f"text {PG_KEY_COLLATION}"), ("value", "text"),
                     ("value_digest", f"text {PG_KEY_COLLATION}"), ("labels", "jsonb"), ("raw_labels", "jsonb"),
                     ("first_seen", "timestamptz"), ("remote_id", f"text {PG_KEY_COLLATION}"))


class StagedEntries:
    """Entries of one or more pages of a source, waiting in a staging table of this transaction.

    ``holds`` says whether a key is already staged: the caller writes the staged entries before it
    stages a page that lists one of them again, so that within one write every key appears once and the
    result is exactly that of writing the pages one after the other.
    """

    def __init__(self, s: Session, bank_ids: list[int], source_id: int, source_name: str) -> None:
        self.s = s
        self.bank_ids = bank_ids
        self.source_id = source_id
        self.source = source_name[:200]
        self.added_by = f"source:{source_name}"[:200]
        #: Digests staged, per signal type: a page is thousands of values of one type, so whether it lists a
        #: staged key again is one set operation in C, with no (type, digest) tuple made per entry.
        self.keys: dict[str, set[str]] = {}
        self._count = 0
        #: Whether a staged page belongs to a full listing: then every entry's ``last_seen`` moves.
        self.listing = False

    @property
    def count(self) -> int:
        return self._count

    def holds_any(self, entries: list[Good]) -> bool:
        keys = self.keys
        if not keys or not entries:
            return False
        types = set(map(_TYPE_OF, entries))
        if len(types) == 1:
            held = keys.get(types.pop())
            return held is not None and not held.isdisjoint(map(_DIGEST_OF, entries))
        return any(e[2] in keys.get(e[0], ()) for e in entries)

    def stage(self, entries: list[Good], *, listing: bool = False) -> None:
        """Copy a page's entries into the staging table (no key of theirs may be staged already);
        ``listing``: the page belongs to a full listing (see the module docstring)."""
        if entries:
            self._load(entries)
            keys = self.keys
            types = set(map(_TYPE_OF, entries))
            if len(types) == 1:
                held = keys.setdefault(types.pop(), set())
                before = len(held)
                held.update(map(_DIGEST_OF, entries))
                self._count += len(held) - before
            else:
                for e in entries:
                    held = keys.setdefault(e[0], set())
                    if e[2] not in held:
                        held.add(e[2])
                        self._count += 1
            self.listing = self.listing or listing

    def write(self, now: datetime) -> Rows:
        """Add the staged entries each bank lacks, record provenance for all of them, empty the stage;
        the new entries (for the indexes)."""
        if not self.keys:
            return []
        # the ORM's pending work first (a withdrawal deletes through it): these statements bypass it
        self.s.flush()
        new: Rows = []
        for bank_id in self.bank_ids:  # every target bank holds the source's entries
            new.extend(self._write_bank(bank_id, now))
        self._clear()
        self.keys.clear()
        self._count = 0
        self.listing = False
        return new

    def close(self) -> None:
        """Undo per-transaction connection settings."""

    def _load(self, entries: list[Good]) -> None:
        raise NotImplementedError

    def _write_bank(self, bank_id: int, now: datetime) -> Rows:
        raise NotImplementedError

    def _clear(self) -> None:
        raise NotImplementedError


def staged_entries(s: Session, dialect: str, bank_ids: list[int], source_id: int, source_name: str) -> StagedEntries:
    """The staging of this store's kind, ready for pages."""
    cls = _PostgresStaged if dialect == "postgresql" else _SqliteStaged
    return cls(s, bank_ids, source_id, source_name)


def copy_lines(entries: list[Good]) -> list[str]:
    """Text ``COPY`` lines of the stage's columns for ``entries``, any entry (labels as JSON text)."""
    dumps, text, null = json.dumps, copy_text, COPY_NULL
    prev: Any = copy_lines
    first_text = null
    lines = []
    for t, v, d, lab, raw, first, rid in entries:
        if first is not prev:  # one import's entries share their time stamp: formatted once a run
            prev, first_text = first, null if first is None else first.isoformat()
        lines.append(f"{text(t)}\t{text(v)}\t{d}\t{text(dumps(lab)) if lab else '[]'}\t"
                     f"{text(dumps(raw)) if raw else '[]'}\t{first_text}\t"
                     f"{null if rid is None else text(rid)}\n")
    return lines


class _SqliteStaged(StagedEntries):
    """SQLite: pages are held as bound rows (the columns' own bind processors applied by hand, time
    stamps converted once per run of equal values) and go into a temporary table with one
    ``executemany`` when written. Any write, even to a temporary table, takes the store's single write
    lock, so staging waits until :meth:`write`: uploads wait for the group's write, not for its pages."""

    def __init__(self, s: Session, bank_ids: list[int], source_id: int, source_name: str) -> None:
        super().__init__(s, bank_ids, source_id, source_name)
        conn = s.connection()
        dialect = conn.dialect
        table = cast(Table, BankEntryRow.__table__)
        self._to_dt = table.c.created_at.type.dialect_impl(dialect).bind_processor(dialect)
        self._to_json = table.c.meta.type.dialect_impl(dialect).bind_processor(dialect)
        self._empty = self._to_json([]) if self._to_json else "[]"
        dbapi: Any = conn.connection.driver_connection
        self._cur: Any = dbapi.cursor()
        self._bulk = sqlite_bulk_settings(self._cur)
        self._bulk.__enter__()
        self._rows: list[tuple[Any, ...]] = []

    def _dt(self, v: datetime | None) -> Any:
        return self._to_dt(v) if v is not None and self._to_dt is not None else v

    def _js(self, v: list[str]) -> Any:
        if not v:
            return self._empty
        return self._to_json(v) if self._to_json is not None else json.dumps(v)

    def _dts(self, values: Iterable[datetime | None]) -> list[Any]:
        """Stored form of each time stamp, converted once per run of the same value (one import's entries
        share theirs; hashing an aware datetime to cache it costs more than converting it)."""
        out: list[Any] = []
        prev: Any = self
        conv: Any = None
        for v in values:
            if v is not prev:
                prev, conv = v, self._dt(v)
            out.append(conv)
        return out

    def _load(self, entries: list[Good]) -> None:
        js, empty = self._js, self._empty
        firsts = self._dts(e[5] for e in entries)
        self._rows.extend((t, v, d, js(lab) if lab else empty, js(raw) if raw else empty, first, rid)
                          for (t, v, d, lab, raw, _, rid), first in zip(entries, firsts, strict=True))

    def write(self, now: datetime) -> Rows:
        if self._rows:
            cur = self._cur
            cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (signal_type TEXT, value TEXT, "
                        "value_digest TEXT, labels TEXT, raw_labels TEXT, first_seen TEXT, remote_id TEXT)")
            cur.execute(f"DELETE FROM {_STAGE}")
            cur.executemany(f"INSERT INTO {_STAGE} VALUES (?, ?, ?, ?, ?, ?, ?)", self._rows)
            self._rows = []
        return super().write(now)

    def _write_bank(self, bank_id: int, now: datetime) -> Rows:
        stamp = self._dt(now)
        meta = self._to_json({}) if self._to_json else "{}"
        # in key order: the unique key's B-tree is walked once, leaf after leaf
        inserted = self._cur.execute(
            "INSERT INTO bank_entries (bank_id, signal_type, value, value_digest, labels, source, "
            "first_seen, added_by, note, meta, created_at) SELECT ?, signal_type, value, value_digest, "
            f"labels, ?, first_seen, ?, '', ?, ? FROM {_STAGE} WHERE true ORDER BY signal_type, value_digest "
            "ON CONFLICT (bank_id, signal_type, value_digest) DO NOTHING RETURNING id, signal_type, value",
            (bank_id, self.source, self.added_by, meta, stamp)).fetchall()
        # CROSS JOIN keeps the stage as the outer loop: one probe of the bank's unique key per entry.
        # An unchanged row is left alone unless a listing must see it again (module docstring).
        changed = "" if self.listing else (
            " WHERE bank_entry_sources.remote_id IS NOT excluded.remote_id "
            "OR bank_entry_sources.labels IS NOT excluded.labels")
        self._cur.execute(
            "INSERT INTO bank_entry_sources (entry_id, source_id, remote_id, labels, first_seen, last_seen) "
            f"SELECT e.id, ?, st.remote_id, st.raw_labels, ?, ? FROM {_STAGE} st "
            "CROSS JOIN bank_entries e WHERE e.bank_id = ? AND e.signal_type = st.signal_type "
            "AND e.value_digest = st.value_digest ORDER BY e.id "
            "ON CONFLICT (entry_id, source_id) DO UPDATE SET last_seen = excluded.last_seen, "
            "remote_id = excluded.remote_id, labels = excluded.labels" + changed,
            (self.source_id, stamp, stamp, bank_id))
        return [(int(i), str(t), str(v)) for i, t, v in inserted]

    def _clear(self) -> None:
        self._cur.execute(f"DELETE FROM {_STAGE}")

    def close(self) -> None:
        try:
            self._bulk.__exit__(None, None, None)
        finally:
            self._cur.close()


class _PostgresStaged(StagedEntries):
    """PostgreSQL: each page ``COPY``-ed into a temporary table (labels sent as JSON text, the common
    empty list written once); the group goes in with one statement that inserts the new entries and,
    from the rows it returns, their provenance."""

    def __init__(self, s: Session, bank_ids: list[int], source_id: int, source_name: str) -> None:
        super().__init__(s, bank_ids, source_id, source_name)
        dbapi: Any = s.connection().connection.driver_connection
        self._cur: Any = dbapi.cursor()
        # A group's look-up of entries the bank already held is costed (100,000 index probes) far above
        # the JIT thresholds: each such statement was compiled with inlining and optimisation, ~0.4 s of
        # backend CPU a group measured on a bank of 2,000,000, for a plan of index probes JIT cannot speed
        # up. For this transaction only.
        self._cur.execute("SET LOCAL jit = off")
        # A group's sort by key and its join of returned rows to the stage hold ~100,000 rows (~30 MB):
        # within the default work_mem (4 MB) both spilled to temporary files, an external merge sort and
        # a batched hash join each group. Enough memory for one group, for this transaction only.
        self._cur.execute(f"SET LOCAL work_mem = '{_WORK_MEM}'")
        # A group's new entries are joined to their staged provenance by key: planned as a merge join,
        # that sorted both sides again (two more sorts of the group); a hash join of the group costs less.
        self._cur.execute("SET LOCAL enable_mergejoin = off")
        from psycopg.errors import UniqueViolation  # here: SQLite stores never load the PostgreSQL driver

        self._unique_violation = UniqueViolation
        self._stage = PgStage(self._cur, _STAGE, _PG_STAGE_COLUMNS)
        self._stage.clear()

    def _load(self, entries: list[Good]) -> None:
        # Text COPY lines formatted here in one pass and sent with one write: a ``write_row`` per entry
        # was the subscriber's largest own cost (a call, an adaptation per field, a send per 32 KiB).
        self._stage.append_text(copy_lines(entries))

    def _write_bank(self, bank_id: int, now: datetime) -> Rows:
        if not self.listing and not self._holds_sample(bank_id):
            inserted = self._insert_plainly(bank_id, now)
            if inserted is not None:
                return inserted
        if self.listing:
            return self._write_listing(bank_id, now)
        return self._write_probed(bank_id, now)

    def _holds_sample(self, bank_id: int) -> bool:
        """Whether the bank holds any of the first staged entries (in the order pages listed them: digests
        are random, so a fair sample): a re-read of entries already held, which a plain INSERT would only
        start and undo."""
        self._cur.execute(
            f"SELECT EXISTS (SELECT 1 FROM (SELECT signal_type, value_digest FROM {_STAGE} LIMIT {_SAMPLE}) st "
            "JOIN bank_entries e ON e.bank_id = %s AND e.signal_type = st.signal_type "
            "AND e.value_digest = st.value_digest)", (bank_id,))
        return bool(self._cur.fetchone()[0])

    def _insert_plainly(self, bank_id: int, now: datetime) -> Rows | None:
        """All staged entries inserted with a plain INSERT under a savepoint, their provenance from its
        returned rows; None (and nothing written) if the bank held any of them.

        ``ON CONFLICT DO NOTHING`` probes the unique key before each row's insert and again while
        inserting it; a plain INSERT descends once. An initial sync's entries are all new, so the
        savepoint almost never undoes anything; when it does (an entry the sample missed, or one a
        concurrent writer committed first) the group takes :meth:`_write_probed` instead, with the same
        outcome. One savepoint per write, so a transaction holds a handful of subtransactions at most.
        """
        cur = self._cur
        cur.execute("SAVEPOINT seawall_source_group")
        try:
            cur.execute(self._insert_sql(""), self._insert_params(bank_id, now))
        except self._unique_violation:
            cur.execute("ROLLBACK TO SAVEPOINT seawall_source_group")
            cur.execute("RELEASE SAVEPOINT seawall_source_group")
            return None
        # psycopg's rows are already (int, str, str) tuples: handed on as they came, not copied per entry
        inserted: Rows = cur.fetchall()
        cur.execute("RELEASE SAVEPOINT seawall_source_group")
        return inserted

    def _insert_sql(self, on_conflict: str) -> str:
        # The CTE's INSERT hands its new rows to the provenance INSERT directly; a new entry has no
        # provenance yet, so those rows need no conflict handling and no look-up by key.
        return (
            "WITH ins AS (INSERT INTO bank_entries (bank_id, signal_type, value, value_digest, labels, source, "
            "first_seen, added_by, note, meta, created_at) SELECT %s, signal_type, value, value_digest, labels, %s, "
            f"first_seen, %s, '', '{{}}'::jsonb, %s FROM {_STAGE} ORDER BY {_KEY_ORDER} "
            f"{on_conflict}RETURNING id, signal_type, value, value_digest), "
            "prov AS (INSERT INTO bank_entry_sources (entry_id, source_id, remote_id, labels, first_seen, last_seen) "
            f"SELECT ins.id, %s, st.remote_id, st.raw_labels, %s, %s FROM ins JOIN {_STAGE} st "
            "ON st.signal_type = ins.signal_type AND st.value_digest = ins.value_digest) "
            "SELECT id, signal_type, value FROM ins")

    def _insert_params(self, bank_id: int, now: datetime) -> tuple[Any, ...]:
        return (bank_id, self.source, self.added_by, now, self.source_id, now, now)

    def _write_probed(self, bank_id: int, now: datetime) -> Rows:
        """Entries the bank may already hold: each staged entry looked up once by its key (a LATERAL
        probe, whatever the temporary table's missing statistics suggest); the missing ones inserted
        with their provenance, a held one's provenance read, not locked, and written only if missing or
        changed. The key is not probed again by ``ON CONFLICT`` for entries found held."""
        cur = self._cur
        cur.execute(
            # probed in key order: consecutive probes read neighbouring leaves of the unique key
            "WITH probe AS MATERIALIZED (SELECT st.*, x.id FROM "
            f"(SELECT * FROM {_STAGE} ORDER BY {_KEY_ORDER}) st "
            "LEFT JOIN LATERAL (SELECT e.id FROM bank_entries e WHERE e.bank_id = %s "
            "AND e.signal_type = st.signal_type AND e.value_digest = st.value_digest LIMIT 1) x ON true), "
            "ins AS (INSERT INTO bank_entries (bank_id, signal_type, value, value_digest, labels, source, "
            "first_seen, added_by, note, meta, created_at) SELECT %s, signal_type, value, value_digest, labels, %s, "
            f"first_seen, %s, '', '{{}}'::jsonb, %s FROM probe WHERE id IS NULL ORDER BY {_KEY_ORDER} "
            "ON CONFLICT (bank_id, signal_type, value_digest) DO NOTHING RETURNING id, signal_type, value, "
            "value_digest), "
            "prov AS (INSERT INTO bank_entry_sources (entry_id, source_id, remote_id, labels, first_seen, last_seen) "
            "SELECT ins.id, %s, pr.remote_id, pr.raw_labels, %s, %s FROM ins JOIN probe pr "
            "ON pr.signal_type = ins.signal_type AND pr.value_digest = ins.value_digest), "
            "held AS (INSERT INTO bank_entry_sources (entry_id, source_id, remote_id, labels, first_seen, last_seen) "
            "SELECT pr.id, %s, pr.remote_id, pr.raw_labels, %s, %s FROM probe pr "
            "LEFT JOIN LATERAL (SELECT p.entry_id, p.remote_id, p.labels FROM bank_entry_sources p "
            # LIMIT 1 (the key is unique anyway) keeps this a probe per entry: without it the planner made it
            # a hash join that read every provenance row of the source, each group of a re-sync
            "WHERE p.entry_id = pr.id AND p.source_id = %s LIMIT 1) p ON true WHERE pr.id IS NOT NULL "
            "AND (p.entry_id IS NULL OR (p.remote_id, p.labels) IS DISTINCT FROM (pr.remote_id, pr.raw_labels)) "
            "ON CONFLICT (entry_id, source_id) DO UPDATE SET last_seen = EXCLUDED.last_seen, "
            "remote_id = EXCLUDED.remote_id, labels = EXCLUDED.labels) "
            # the new entries, and one row without an id: how many the probe found held
            "SELECT id, signal_type, value, NULL::bigint FROM ins "
            "UNION ALL SELECT NULL, NULL, NULL, count(*) FROM probe WHERE id IS NOT NULL",
            (bank_id, bank_id, self.source, self.added_by, now, self.source_id, now, now,
             self.source_id, now, now, self.source_id))
        rows = cur.fetchall()
        held = sum(int(n) for i, _, _, n in rows if i is None)
        inserted = [(int(i), str(t), str(v)) for i, t, v, _ in rows if i is not None]
        if len(inserted) + held < self._count:
            # A concurrent writer committed some of these keys between the probe and the insert: the
            # statement neither inserted them nor saw them held. Their provenance now, looked up again
            # (a new statement sees what that writer committed).
            cur.execute(
                "INSERT INTO bank_entry_sources (entry_id, source_id, remote_id, labels, first_seen, last_seen) "
                f"SELECT x.id, %s, st.remote_id, st.raw_labels, %s, %s FROM {_STAGE} st "
                "CROSS JOIN LATERAL (SELECT e.id FROM bank_entries e WHERE e.bank_id = %s "
                "AND e.signal_type = st.signal_type AND e.value_digest = st.value_digest LIMIT 1) x "
                "LEFT JOIN bank_entry_sources p ON p.entry_id = x.id AND p.source_id = %s "
                "WHERE p.entry_id IS NULL OR (p.remote_id, p.labels) IS DISTINCT FROM (st.remote_id, st.raw_labels) "
                "ON CONFLICT (entry_id, source_id) DO UPDATE SET last_seen = EXCLUDED.last_seen, "
                "remote_id = EXCLUDED.remote_id, labels = EXCLUDED.labels",
                (self.source_id, now, now, bank_id, self.source_id))
        return inserted

    def _write_listing(self, bank_id: int, now: datetime) -> Rows:
        """A listing: every entry the bank already held is seen again. The rows just inserted are seen
        too; their provenance is already exactly this, so it is left as is."""
        cur = self._cur
        cur.execute(self._insert_sql("ON CONFLICT (bank_id, signal_type, value_digest) DO NOTHING "),
                    self._insert_params(bank_id, now))
        inserted = cur.fetchall()
        if len(inserted) < self._count:
            cur.execute(
                "INSERT INTO bank_entry_sources (entry_id, source_id, remote_id, labels, first_seen, last_seen) "
                f"SELECT x.id, %s, st.remote_id, st.raw_labels, %s, %s FROM {_STAGE} st "
                "CROSS JOIN LATERAL (SELECT e.id FROM bank_entries e WHERE e.bank_id = %s "
                "AND e.signal_type = st.signal_type AND e.value_digest = st.value_digest LIMIT 1) x "
                "ON CONFLICT (entry_id, source_id) DO UPDATE SET last_seen = EXCLUDED.last_seen, "
                "remote_id = EXCLUDED.remote_id, labels = EXCLUDED.labels "
                "WHERE (bank_entry_sources.last_seen, bank_entry_sources.remote_id, bank_entry_sources.labels) "
                "IS DISTINCT FROM (EXCLUDED.last_seen, EXCLUDED.remote_id, EXCLUDED.labels)",
                (self.source_id, now, now, bank_id))
        return [(int(i), str(t), str(v)) for i, t, v in inserted]

    def _clear(self) -> None:
        self._stage.clear()

    def close(self) -> None:
        self._cur.close()
