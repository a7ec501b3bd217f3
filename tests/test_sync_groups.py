"""Feed pages written several to a transaction (``SourceService._apply_group``, ``staged_entries``).

While the next page is already waiting, a sync applies it in the same transaction and writes the
group's entries together. That must store exactly what applying the pages one by one stores: the same
entries with the same labels, the same provenance (remote id and labels of the latest listing), the
same tombstones and counters, and the checkpoint of the group's last page. Each test compares a
grouped sync with the page-by-page reference on the same store.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from seawall.composition import build_engine
from seawall.config import Settings
from seawall.engine import Engine
from seawall.errors import SeawallError
from seawall.sharing.exchanges.base import Page, RemoteEntry, Tombstone
from seawall.sharing.sources import PreparedPage, SyncReport
from seawall.store.tables import BankEntryRow, BankEntrySourceRow, BankRow, SourceRow


class _Waiting(Iterator[PreparedPage]):
    """Pages as the read-ahead hands them over when each is already waiting; optionally failing after."""

    def __init__(self, pages: list[PreparedPage], fail_after: int | None = None, waiting: bool = True) -> None:
        self.pages = list(pages)
        self.fail_after = fail_after
        self.given = 0
        self.waiting = waiting

    def ready(self) -> bool:
        return self.waiting

    def __next__(self) -> PreparedPage:
        if self.fail_after is not None and self.given == self.fail_after:
            raise SeawallError("the exchange went away", code="exchange_refused")
        if not self.pages:
            raise StopIteration
        self.given += 1
        return self.pages.pop(0)


def _source(engine: Engine, name: str, tmp_path: Path) -> int:
    feed = tmp_path / f"{name}.txt"
    feed.write_text("")
    engine.sources.create({"name": name, "kind": "file", "path": str(feed), "bank": f"bank-{name}",
                           "action": "review", "label_map": {"x:raw": "group:mapped"}}, created_by="t")
    with engine.db.session() as s:
        return int(s.scalar(select(SourceRow.id).where(SourceRow.name == name)) or 0)


def _pages() -> list[Page]:
    """Six pages: plain entries, an entry listed again later (new remote id and labels), a withdrawal of
    an earlier page's entry, and that entry listed once more after it was withdrawn."""
    values = [secrets.token_hex(16) for _ in range(40)]

    def entries(vals: list[str], tag: str, labels: list[str] | None = None) -> list[RemoteEntry]:
        return [RemoteEntry("md5", v, list(labels or []), None, f"{tag}-{v[:6]}", i) for i, v in enumerate(vals)]

    return [
        Page(entries(values[0:10], "p1"), [], "c1", more=True),
        Page(entries(values[10:20], "p2", ["x:raw"]), [], "c2", more=True),
        Page(entries(values[20:25] + values[3:5], "p3", ["x:other"]), [], "c3", more=True),  # 3, 4 again
        Page(entries(values[25:30], "p4"), [Tombstone("md5", values[12], None, 0)], "c4", more=True),
        Page(entries([*values[30:35], values[12].upper()], "p5"), [], "c5", more=True),  # 12 is back
        Page(entries(values[35:40], "p6"), [], "c6"),
    ]


def _state(engine: Engine, source_id: int) -> dict[str, Any]:
    with engine.db.session() as s:
        row = s.get(SourceRow, source_id)
        assert row is not None
        bank = (row.banks or [""])[0]
        entries = s.execute(
            select(BankEntryRow.value, BankEntryRow.labels, BankEntrySourceRow.remote_id, BankEntrySourceRow.labels)
            .join(BankRow, BankRow.id == BankEntryRow.bank_id)
            .join(BankEntrySourceRow, BankEntrySourceRow.entry_id == BankEntryRow.id)
            .where(BankRow.name == bank, BankEntrySourceRow.source_id == source_id)).all()
        return {"entries": sorted((v, list(lab), rid.split("-", 1)[1], list(raw)) for v, lab, rid, raw in entries),
                "remote_pages": sorted(rid.split("-", 1)[0] for _, _, rid, _ in entries),
                "counts": (row.entries_added, row.entries_seen, row.tombstones_applied, row.rejected),
                "checkpoint": row.checkpoint}


def _group_sizes(monkeypatch: pytest.MonkeyPatch, engine: Engine) -> list[int]:
    """Pages per transaction, as applied (the method is wrapped, not replaced)."""
    sizes: list[int] = []
    real = engine.sources._apply_group

    def counted(*args: Any, **kwargs: Any) -> Any:
        done = real(*args, **kwargs)
        sizes.append(len(done or []))
        return done

    monkeypatch.setattr(engine.sources, "_apply_group", counted)
    return sizes


def test_a_group_of_waiting_pages_stores_what_page_by_page_stores(engine: Engine, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    grouped, single = _source(engine, "grouped", tmp_path), _source(engine, "single", tmp_path)
    label_map = {"x:raw": "group:mapped"}
    listed = _pages()
    checkpoint = None
    for page in listed:  # the reference: one transaction per page
        assert engine.sources.apply_page(single, checkpoint, page).applied
        checkpoint = page.checkpoint

    sizes = _group_sizes(monkeypatch, engine)
    learned: list[int] = []
    monkeypatch.setattr(engine.sources, "on_change", lambda added, removed: learned.extend(i for i, _, _ in added))
    report = SyncReport(source="grouped")
    pages = _Waiting([engine.sources.prepare(p, label_map) for p in listed])
    engine.sources._apply_pages(grouped, None, pages, report, None, None)

    assert sizes == [6]  # every page was waiting: one transaction
    assert (report.pages, report.error, report.checkpoint) == (6, None, "c6")
    got, want = _state(engine, grouped), _state(engine, single)
    assert report.added == 41 and report.tombstones == 1  # 40 values; one withdrawn, then listed again
    assert got == want
    assert got["counts"][:3] == (report.added, report.seen, report.tombstones)
    labels = {v: (lab, raw) for v, lab, _, raw in got["entries"]}
    assert len(labels) == 40
    assert [p for p in got["remote_pages"] if p == "p3"][:2] == ["p3"] * 2  # re-listed: latest remote id wins
    assert sorted(learned) == sorted(set(learned)) and len(learned) == report.added


def test_a_group_ends_at_the_entry_limit_and_each_commit_carries_its_last_checkpoint(
        engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source_id = _source(engine, "limited", tmp_path)
    monkeypatch.setattr(engine.sources, "group_entries", 15)  # SEAWALL_SOURCE_SYNC_GROUP_ENTRIES
    sizes = _group_sizes(monkeypatch, engine)
    report = SyncReport(source="limited")
    pages = _Waiting([engine.sources.prepare(p, {}) for p in _pages()])
    engine.sources._apply_pages(source_id, None, pages, report, None, None)
    assert sizes == [2, 3, 1]  # 10 + 10 entries; 7 + 5 + 6; 5: each group stops once it holds 15
    assert report.checkpoint == _state(engine, source_id)["checkpoint"] == "c6"


def test_a_group_ends_after_a_page_that_ended_what_the_exchange_had(engine: Engine, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages still on their way (``more``) join the group; after a page that said the exchange has no
    more for now (a live long poll's answer) the group commits instead of waiting for news."""
    source_id = _source(engine, "live", tmp_path)
    sizes = _group_sizes(monkeypatch, engine)
    listed = _pages()
    listed[1].more = False
    report = SyncReport(source="live")
    pages = _Waiting([engine.sources.prepare(p, {}) for p in listed], waiting=False)
    engine.sources._apply_pages(source_id, None, pages, report, None, None)
    assert sizes == [2, 4] and report.checkpoint == "c6"


def test_an_exchange_failing_inside_a_group_keeps_the_pages_before_it(engine: Engine, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    source_id = _source(engine, "failing", tmp_path)
    sizes = _group_sizes(monkeypatch, engine)
    report = SyncReport(source="failing")
    pages = _Waiting([engine.sources.prepare(p, {}) for p in _pages()], fail_after=3)
    with pytest.raises(SeawallError, match="went away"):
        engine.sources._apply_pages(source_id, None, pages, report, None, None)
    assert sizes == [3]
    state = _state(engine, source_id)
    assert state["checkpoint"] == report.checkpoint == "c3"
    assert len(state["entries"]) == report.added == 25  # pages 1-3: 25 distinct entries, all committed


def test_max_pages_bounds_a_group(engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source_id = _source(engine, "bounded", tmp_path)
    sizes = _group_sizes(monkeypatch, engine)
    report = SyncReport(source="bounded")
    pages = _Waiting([engine.sources.prepare(p, {}) for p in _pages()])
    engine.sources._apply_pages(source_id, None, pages, report, 4, None)
    assert sizes == [4] and report.pages == 4
    assert _state(engine, source_id)["checkpoint"] == "c4"


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    eng = build_engine(Settings(data_dir=tmp_path / "store", source_sync=False))  # no runner syncing too
    try:
        yield eng
    finally:
        eng.close()


def test_a_checkpoint_moved_while_a_group_is_staged_writes_nothing(tmp_path: Path, sqlite_engine: Engine) -> None:
    """SQLite holds no lock while pages are only staged, so the group checks the checkpoint again before
    it commits. (PostgreSQL locks the source row for the whole group: no other writer can move it.)"""
    engine = sqlite_engine
    source_id = _source(engine, "moved", tmp_path)
    pages = [engine.sources.prepare(p, {}) for p in _pages()]

    def more() -> PreparedPage | None:
        if not pages:
            return None
        if len(pages) == 5:
            with engine.db.session() as s:  # another sync of the source commits first
                s.execute(update(SourceRow).where(SourceRow.id == source_id).values(checkpoint="elsewhere"))
        return pages.pop(0)

    # a first page creates the target bank (a write), as the group's own first page would otherwise
    assert engine.sources.apply_page(source_id, None, Page([], [], "c0")).applied
    first = pages.pop(0)
    assert engine.sources._apply_group(source_id, "c0", first, more) is None
    state = _state(engine, source_id)
    assert state["entries"] == [] and state["checkpoint"] == "elsewhere" and state["counts"][0] == 0
