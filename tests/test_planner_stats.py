"""PostgreSQL planner statistics refreshed after a bulk write of entries (``seawall.store.planner_stats``).

Without statistics PostgreSQL plans a feed page over a freshly loaded bank as a scan and sort of the
whole bank; with them, as a read of the page's rows in id order. Hashes are random.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from seawall.composition import build_engine
from seawall.config import Settings
from seawall.store.db import Database
from seawall.store.planner_stats import MIN_ROWS, refresh_after_bulk_write
from tests.conftest import fresh_sqlite_store


def _analysed(db: Database) -> tuple[datetime | None, float]:
    with db.session() as s:
        at = s.scalar(text("SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'bank_entries'"))
        counted = s.scalar(text("SELECT reltuples FROM pg_class WHERE oid = to_regclass('bank_entries')"))
    return at, float(counted)


@pytest.mark.postgres
def test_a_bulk_import_leaves_the_planner_counting_the_new_rows(pg_url: str, tmp_path: Path) -> None:
    eng = build_engine(Settings(data_dir=tmp_path, database_url=pg_url, source_sync=False, retro_window_days=0))
    try:
        with eng.db.session() as s:
            present = int(s.scalar(text("SELECT count(*) FROM bank_entries")) or 0)
            s.execute(text("ANALYZE bank_entries"))  # statistics counting the table as it is now
        before, counted = _analysed(eng.db)
        assert before is not None and counted == pytest.approx(present, abs=100)
        bank = f"bulk-{secrets.token_hex(4)}"  # the run's database is shared: other tests have their own banks
        eng.banks.create(bank)
        lines = [f"md5 {secrets.token_hex(16)}" for _ in range(max(MIN_ROWS, present) + 500)]
        assert eng.import_entries(bank, "text", lines, added_by="test").added == len(lines)
        after, counted = _analysed(eng.db)
        assert after is not None and after > before
        assert counted == pytest.approx(present + len(lines), rel=0.05)
        # a small write leaves the statistics as they are
        assert refresh_after_bulk_write(eng.db, MIN_ROWS - 1) == []
        assert _analysed(eng.db)[0] == after
    finally:
        eng.close()


def test_sqlite_has_no_statistics_to_refresh(tmp_path: Path) -> None:
    eng = build_engine(Settings(data_dir=fresh_sqlite_store(tmp_path), source_sync=False))
    try:
        assert refresh_after_bulk_write(eng.db, 10 * MIN_ROWS) == []
    finally:
        eng.close()


def test_only_entry_tables_are_ever_analysed(tmp_path: Path) -> None:
    eng = build_engine(Settings(data_dir=fresh_sqlite_store(tmp_path), source_sync=False))
    try:
        with pytest.raises(ValueError):
            refresh_after_bulk_write(eng.db, 10 * MIN_ROWS, ("users; DROP TABLE x",))
    finally:
        eng.close()
