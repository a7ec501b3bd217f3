"""Bulk writes shared by imports and feed syncs (``seawall.store.bulk``), and the overlap they use.

An import writes batch k on a worker thread while it parses batch k+1; a sync normalises page k+1 on
its read-ahead thread while page k is written. Neither may change what is stored: results come back in
order, a failed batch fails the whole one-transaction import, and a page normalised under a label map
the source no longer has is normalised again inside its transaction.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from seawall.engine import Engine
from seawall.errors import InvalidInput
from seawall.sharing import importer
from seawall.sharing.exchanges.base import Page, RemoteEntry
from seawall.store.bulk import InFlight, copy_text
from seawall.store.convert import aware
from seawall.store.tables import BankEntryRow, SourceRow, utcnow, value_digest


def _count(engine: Engine) -> int:
    with engine.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(BankEntryRow)) or 0)


def test_copy_text_escapes_only_what_copy_reads_specially() -> None:
    assert copy_text("70f5d0f3dd777cd6") == "70f5d0f3dd777cd6"
    assert copy_text("a\\b\tc\nd\re \\N ü") == "a\\\\b\\tc\\nd\\re \\\\N ü"


#: Rows as parsing hands them to a writer, with every character the text COPY format reads specially.
AWKWARD_ROWS: list[importer._Row] = [
    (1, "md5", "plain", [], None, {}),
    (2, "md5", "back\\slash\ttab\nnew\rcr", ["behaviour:recruitment", "ünï ✓"],
     datetime(2024, 2, 29, 12, 30, 5, 123456, tzinfo=UTC),
     {"note": "quote \" back \\ tab \t nl \n", "n": [1, 2.5, None, True], "é": "ünï", "deep": {"a": []}}),
    (3, "md5", "\\N", [], datetime(2001, 1, 1, tzinfo=UTC), {"x": "\\N"}),
    (4, "md5", "ünïcode ✓ 𝄞", ["a\\b"], None, {}),
    (5, "md5", "plain", [], None, {}),  # the same value again: ignored, as a re-import would be
]


def test_a_batch_is_stored_exactly_as_parsed(engine: Engine) -> None:
    """Values, digests, labels, meta and first-seen times come back exactly as the writer was given them."""
    bank = engine.banks.create("b")
    with engine.db.session() as s:
        writer = importer._writer(s, engine.db.dialect, bank, "src \\ \t", "me", utcnow())
        try:
            added = writer.insert(AWKWARD_ROWS)
        finally:
            writer.close()
    assert added == 4
    with engine.db.session() as s:
        stored = {r.value: r for r in s.scalars(select(BankEntryRow))}
    assert len(stored) == 4
    for _, sig, value, labels, first_seen, meta in AWKWARD_ROWS[:4]:
        row = stored[value]
        assert (row.signal_type, row.value_digest, row.labels, row.meta) == (sig, value_digest(value), labels, meta)
        assert aware(row.first_seen) == first_seen and row.source == "src \\ \t" and row.note == ""


def test_a_batch_is_written_in_key_order(engine: Engine) -> None:
    """Rows reach the unique key in its order (ids follow signal type, then digest), whatever the line order,
    and a value given twice in a batch is stored once. Key order is what keeps the index's writes local."""
    bank = engine.banks.create("b")
    rows: list[importer._Row] = [(i, ("md5", "sha256")[i % 2], secrets.token_hex(16 + 16 * (i % 2)), [], None, {})
                                 for i in range(1, 501)]
    rows.append((501, rows[7][1], rows[7][2], ["behaviour:recruitment"], None, {"later": True}))
    with engine.db.session() as s:
        writer = importer._writer(s, engine.db.dialect, bank, "src", "me", utcnow())
        try:
            added = writer.insert(rows)
        finally:
            writer.close()
    assert added == 500
    with engine.db.session() as s:
        stored = s.execute(select(BankEntryRow.signal_type, BankEntryRow.value_digest, BankEntryRow.value,
                                  BankEntryRow.labels).order_by(BankEntryRow.id)).all()
    keys = [(sig, digest) for sig, digest, _, _ in stored]
    assert keys == sorted(keys) and len(keys) == 500
    assert sorted(value for _, _, value, _ in stored) == sorted(r[2] for r in rows[:500])


def test_in_flight_gives_each_result_one_batch_late_in_order() -> None:
    with InFlight[int]("test") as flight:
        assert flight.submit(lambda x: x * 2, 1) is None
        assert flight.submit(lambda x: x * 2, 2) == 2
        assert flight.submit(lambda x: x * 2, 3) == 4
        assert flight.drain() == 6
        assert flight.drain() is None


def test_in_flight_raises_a_failed_batch_at_the_next_hand_over() -> None:
    def boom(_: int) -> int:
        raise ValueError("batch failed")

    with InFlight[int]("test") as flight:
        flight.submit(boom, 1)
        with pytest.raises(ValueError, match="batch failed"):
            flight.submit(lambda x: x, 2)


def test_inline_in_flight_answers_at_once() -> None:
    with InFlight[int]("test", inline=True) as flight:
        assert flight.submit(lambda x: x + 1, 1) == 2
        assert flight.drain() is None


def test_overlapped_import_counts_every_batch_and_reimports_nothing(engine: Engine,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importer, "BATCH", 100)
    values = [secrets.token_hex(16) for _ in range(350)]
    engine.banks.create("b")
    first = engine.import_entries("b", "text", (f"md5 {v}" for v in values), added_by="t", strict=True)
    assert (first.added, first.duplicates) == (350, 0)
    again = engine.import_entries("b", "text", (f"md5 {v}" for v in values), added_by="t", strict=True)
    assert (again.added, again.duplicates) == (0, 350)
    assert sorted(e.value for e in engine.banks.list_entries("b", limit=1000)) == sorted(values)


def test_an_import_overlapping_the_bank_part_way_stores_each_value_once(engine: Engine,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """On PostgreSQL the first batches of new values go in without ``ON CONFLICT``; the batch that meets a
    stored value is undone and written again skipping it, and so is every later one. The counts and what
    is stored are those of a single ``ON CONFLICT`` import: the stored values once, the new ones added."""
    monkeypatch.setattr(importer, "BATCH", 100)
    old = [secrets.token_hex(16) for _ in range(150)]
    new = [secrets.token_hex(16) for _ in range(320)]
    engine.banks.create("b")
    assert engine.import_entries("b", "text", (f"md5 {v}" for v in old), added_by="t").added == 150
    # new values first (whole batches of them), then the stored ones mixed with more new ones
    lines = [f"md5 {v}" for v in new[:250]] + [f"md5 {v}" for v in old + new[250:]]
    report = engine.import_entries("b", "text", lines, added_by="t")
    assert (report.lines_read, report.added, report.duplicates) == (470, 320, 150)
    assert sorted(e.value for e in engine.banks.list_entries("b", limit=1000)) == sorted(old + new)
    again = engine.import_entries("b", "text", reversed(lines), added_by="t")
    assert (again.added, again.duplicates) == (0, 470)
    assert _count(engine) == 470


def test_a_value_twice_in_one_batch_is_stored_once(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch holding a key twice skips the plain insert (it would refuse itself) and keeps the first in
    key order; the batches before and after it are unaffected."""
    monkeypatch.setattr(importer, "BATCH", 100)
    monkeypatch.setattr(importer._PostgresWriter, "PLAIN_BATCHES", 3)  # some batches after the last plain one
    values = [secrets.token_hex(16) for _ in range(600)]
    lines = [f"md5 {v}" for v in values[:150]] + [f"md5 {values[120]}"] + [f"md5 {v}" for v in values[150:]]
    engine.banks.create("b")
    report = engine.import_entries("b", "text", lines, added_by="t")
    assert (report.lines_read, report.added, report.duplicates) == (601, 600, 1)
    assert sorted(e.value for e in engine.banks.list_entries("b", limit=1000)) == sorted(values)


def test_a_batch_failing_on_the_writer_thread_leaves_nothing(engine: Engine,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importer, "BATCH", 100)
    writer = importer._PostgresWriter if engine.db.dialect == "postgresql" else importer._SqliteWriter
    real = writer.write
    calls: list[int] = []

    def failing(self: importer._Writer, prepared: object) -> int:
        calls.append(1)
        if len(calls) == 3:
            raise InvalidInput("the store refused a batch", code="test_failure")
        return real(self, prepared)  # type: ignore[arg-type]

    monkeypatch.setattr(writer, "write", failing)
    engine.banks.create("b")
    with pytest.raises(InvalidInput, match="refused a batch"):
        engine.import_entries("b", "text", (f"md5 {secrets.token_hex(16)}" for _ in range(450)), added_by="t",
                              strict=True)
    assert _count(engine) == 0  # one transaction: the two batches written before it are rolled back too


def test_a_page_prepared_under_an_old_label_map_is_normalised_again(engine: Engine, tmp_path: Path) -> None:
    feed = tmp_path / "feed.txt"
    feed.write_text("")
    engine.sources.create({"name": "s", "kind": "file", "path": str(feed), "bank": "from-s", "action": "review",
                           "label_map": {"behaviour:recruitment": "group:mapped-now"}}, created_by="t")
    with engine.db.session() as s:
        source_id = int(s.scalar(select(SourceRow.id).where(SourceRow.name == "s")) or 0)
    page = Page(entries=[RemoteEntry("md5", secrets.token_hex(16), labels=["behaviour:recruitment"])],
                tombstones=[], checkpoint="c1")
    stale = engine.sources.prepare(page, {"behaviour:recruitment": "group:mapped-before"})
    result = engine.sources.apply_page(source_id, None, page, stale)
    assert result.applied and result.added == 1
    assert engine.banks.list_entries("from-s")[0].labels == ["group:mapped-now"]
