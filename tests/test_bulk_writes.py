"""Bulk writes shared by imports and feed syncs (``seawall.store.bulk``), and the overlap they use.

An import writes batch k on a worker thread while it parses batch k+1; a sync normalises page k+1 on
its read-ahead thread while page k is written. Neither may change what is stored: results come back in
order, a failed batch fails the whole one-transaction import, and a page normalised under a label map
the source no longer has is normalised again inside its transaction.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from sqlalchemy import func, select

from seawall.engine import Engine
from seawall.errors import InvalidInput
from seawall.sharing import importer
from seawall.sharing.exchanges.base import Page, RemoteEntry
from seawall.store.bulk import InFlight
from seawall.store.tables import BankEntryRow, SourceRow


def _count(engine: Engine) -> int:
    with engine.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(BankEntryRow)) or 0)


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
    assert (first.added, first.duplicates, len(set(first.new_ids))) == (350, 0, 350)
    again = engine.import_entries("b", "text", (f"md5 {v}" for v in values), added_by="t", strict=True)
    assert (again.added, again.duplicates, again.new_ids) == (0, 350, [])
    assert sorted(e.value for e in engine.banks.list_entries("b", limit=1000)) == sorted(values)


def test_a_batch_failing_on_the_writer_thread_leaves_nothing(engine: Engine,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importer, "BATCH", 100)
    writer = importer._PostgresWriter if engine.db.dialect == "postgresql" else importer._SqliteWriter
    real = writer.insert
    calls: list[int] = []

    def failing(self: importer._Writer, rows: list[importer._Row]) -> list[int]:
        calls.append(len(rows))
        if len(calls) == 3:
            raise InvalidInput("the store refused a batch", code="test_failure")
        return real(self, rows)  # type: ignore[arg-type]

    monkeypatch.setattr(writer, "insert", failing)
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
