"""What reading a source's entries again writes to their provenance (``bank_entry_sources``).

A change feed (a Seawall feed, an exchange's updates) read again from the start lists entries the
store already holds: their provenance rows must stay exactly as they are unless the source now reports
another remote id or other labels, while the source records the successful read. A full listing (a
file feed) is different: its end withdraws what was not seen since it began, so each entry it lists
must be marked seen again. Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from seawall.engine import Engine
from seawall.sharing.exchanges.base import Page, RemoteEntry
from seawall.store.convert import aware
from seawall.store.tables import BankEntryRow, BankEntrySourceRow, SourceRow, value_digest
from tests.source_pages import apply_pages, file_source, md5_entries


def _provenance(engine: Engine, source_id: int) -> dict[str, tuple[Any, ...]]:
    """Value → (remote id, labels, first seen, last seen, the row's physical version on PostgreSQL)."""
    version = text("bank_entry_sources.xmin::text") if engine.db.dialect == "postgresql" else text("0")
    with engine.db.session() as s:
        rows = s.execute(
            select(BankEntryRow.value, BankEntrySourceRow.remote_id, BankEntrySourceRow.labels,
                   BankEntrySourceRow.first_seen, BankEntrySourceRow.last_seen, version)
            .select_from(BankEntrySourceRow)
            .join(BankEntryRow, BankEntryRow.id == BankEntrySourceRow.entry_id)
            .where(BankEntrySourceRow.source_id == source_id)).all()
    return {v: (rid, list(lab), aware(first), aware(last), ver) for v, rid, lab, first, last, ver in rows}


def _last_success(engine: Engine, source_id: int) -> datetime | None:
    with engine.db.session() as s:
        return aware(s.scalar(select(SourceRow.last_success_at).where(SourceRow.id == source_id)))


def test_an_unchanged_feed_read_again_leaves_provenance_untouched(engine: Engine, tmp_path: Path) -> None:
    source_id = file_source(engine, tmp_path)
    values = [secrets.token_hex(16) for _ in range(30)]
    apply_pages(engine, source_id, [Page(md5_entries(values[:15]), [], "c1", more=True),
                                    Page(md5_entries(values[15:]), [], "c2")])
    before, success = _provenance(engine, source_id), _last_success(engine, source_id)
    assert len(before) == 30
    time.sleep(0.01)

    # the same feed from the start, grouped as a sync groups waiting pages
    apply_pages(engine, source_id, [Page(md5_entries(values[:20]), [], "c3", more=True),
                                    Page(md5_entries(values[20:]), [], "c4")])

    assert _provenance(engine, source_id) == before  # same values, same last_seen, same row versions
    after = _last_success(engine, source_id)
    assert success is not None and after is not None and after > success
    with engine.db.session() as s:
        row = s.get(SourceRow, source_id)
        assert row is not None and (row.entries_added, row.entries_seen) == (30, 60)


def test_a_changed_entry_read_again_has_its_provenance_updated(engine: Engine, tmp_path: Path) -> None:
    source_id = file_source(engine, tmp_path)
    values = [secrets.token_hex(16) for _ in range(12)]
    apply_pages(engine, source_id, [Page(md5_entries(values), [], "c1")])
    before = _provenance(engine, source_id)
    time.sleep(0.01)

    relabelled, moved = values[3], values[7]
    apply_pages(engine, source_id, [Page(md5_entries(values, labels={relabelled: ["tag:b"]}, remote={moved: "r-new"}),
                                    [], "c2")])

    after = _provenance(engine, source_id)
    assert {v for v in values if after[v] != before[v]} == {relabelled, moved}
    assert after[relabelled][:2] == (before[relabelled][0], ["tag:b"])
    assert after[moved][:2] == ("r-new", ["tag:a"])
    for v in (relabelled, moved):
        assert after[v][2] == before[v][2] and after[v][3] > before[v][3]  # first seen kept, last seen moved


def test_a_full_listing_marks_every_entry_seen_and_withdraws_the_rest(engine: Engine, tmp_path: Path) -> None:
    source_id = file_source(engine, tmp_path)
    values = [secrets.token_hex(16) for _ in range(20)]
    apply_pages(engine, source_id, [Page(md5_entries(values[:10]), [], "c1", more=True, listing=True),
                               Page(md5_entries(values[10:]), [], "c2", listing=True)])
    before = _provenance(engine, source_id)
    time.sleep(0.01)
    started = datetime.now(before[values[0]][3].tzinfo)
    time.sleep(0.01)

    # the list again, unchanged but for five hashes it no longer lists
    kept = values[:15]
    apply_pages(engine, source_id, [Page(md5_entries(kept[:8]), [], "c3", more=True, listing=True),
                               Page(md5_entries(kept[8:]), [], "c4", listing=True, listed_since=started)])

    after = _provenance(engine, source_id)
    assert sorted(after) == sorted(kept)
    for v in kept:
        assert after[v][:3] == before[v][:3] and after[v][3] > started  # seen again, nothing else changed
    with engine.db.session() as s:
        assert s.scalar(select(SourceRow.tombstones_applied).where(SourceRow.id == source_id)) == 5


def test_a_page_that_ends_a_listing_must_be_a_listing_page() -> None:
    """Withdrawal at a listing's end trusts last_seen, which only listing pages move: an exchange that
    ended a listing without declaring its pages would withdraw entries it still lists, so such a page is
    refused where the exchange makes it."""
    with pytest.raises(ValueError, match="listing"):
        Page([], [], "cp", listed_since=datetime.now(UTC))
    assert Page([], [], "cp", listed_since=datetime.now(UTC), listing=True).listing


def test_a_page_of_two_signal_types_stores_each_entry_with_its_own_provenance(engine: Engine, tmp_path: Path) -> None:
    """A group holding entries of several types is inserted in digest order across the types (one sort the
    database settles cheaply); each entry must still be stored once with the provenance it was listed
    with, exactly as a page of one type is, and a second read of the same page changes nothing."""
    source_id = file_source(engine, tmp_path)
    md5s = [secrets.token_hex(16) for _ in range(40)]
    pdqs = [secrets.token_hex(32) for _ in range(40)]
    entries = md5_entries(md5s, remote={v: f"m-{i}" for i, v in enumerate(md5s)}) + [
        RemoteEntry("pdq", v, [] if i % 2 else ["tag:a"], None, f"p-{i}", 40 + i) for i, v in enumerate(pdqs)]
    apply_pages(engine, source_id, [Page(entries, [], "c1")])

    with engine.db.session() as s:
        stored = s.execute(
            select(BankEntryRow.id, BankEntryRow.signal_type, BankEntryRow.value, BankEntryRow.value_digest,
                   BankEntryRow.labels, BankEntrySourceRow.remote_id, BankEntrySourceRow.labels)
            .join(BankEntrySourceRow, BankEntrySourceRow.entry_id == BankEntryRow.id)
            .where(BankEntrySourceRow.source_id == source_id)).all()
    assert len({r[0] for r in stored}) == len(stored) == 80
    # "tag:a" is no label of the taxonomy: kept as the source's raw label, not as the entry's
    expected = {("md5", v, value_digest(v), (), f"m-{i}", ("tag:a",)) for i, v in enumerate(md5s)} | {
        ("pdq", v, value_digest(v), (), f"p-{i}", () if i % 2 else ("tag:a",)) for i, v in enumerate(pdqs)}
    assert {(t, v, d, tuple(lab), rid, tuple(raw)) for _, t, v, d, lab, rid, raw in stored} == expected
    before = _provenance(engine, source_id)

    apply_pages(engine, source_id, [Page(entries, [], "c2")])
    assert _provenance(engine, source_id) == before
    with engine.db.session() as s:
        assert s.scalar(select(func.count()).select_from(BankEntryRow)) == 80
