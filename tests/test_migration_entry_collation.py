"""Migration 0028 on a real PostgreSQL store holding entries: bank entries' key columns compare bytes
(``COLLATE "C"``) after it and the database's own collation after its downgrade, nothing stored changes
either way, and a sync into a store that went through it stores exactly what a sync into a new store
does, including the writes that find some of a group's entries held."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic import command
from sqlalchemy import select

from seawall.composition import build_engine
from seawall.config import Settings
from seawall.engine import Engine
from seawall.sharing.exchanges.base import Page
from seawall.store.db import alembic_config, upgrade
from seawall.store.tables import BankEntryRow, BankEntrySourceRow, SourceRow, value_digest
from tests.conftest import PG_ADMIN_DSN
from tests.source_pages import apply_pages, file_source, md5_entries

pytestmark = pytest.mark.postgres

#: (table, column) whose collation the migration sets.
KEY_COLUMNS = (("bank_entries", "signal_type"), ("bank_entries", "value_digest"), ("bank_entry_sources", "remote_id"))


@pytest.fixture
def new_db() -> Iterator[Any]:
    """Makes empty PostgreSQL databases (their URLs), dropped at the end."""
    made: list[str] = []

    def make() -> str:
        name = f"seawall_collate_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"

    try:
        yield make
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            for name in made:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _dsn(url: str) -> str:
    return f"host=127.0.0.1 port=5432 user=postgres dbname={url.rsplit('/', 1)[1]}"


def _collations(url: str) -> dict[tuple[str, str], str]:
    with psycopg.connect(_dsn(url)) as conn:
        rows = conn.execute(
            "SELECT c.relname, a.attname, co.collname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_collation co ON co.oid = a.attcollation WHERE c.relname IN ('bank_entries', "
            "'bank_entry_sources') AND a.attname IN ('signal_type', 'value_digest', 'remote_id')").fetchall()
    return {(t, c): coll for t, c, coll in rows}


def _stored(url: str) -> list[tuple[Any, ...]]:
    """Every entry with its provenance, as stored (ids included)."""
    with psycopg.connect(_dsn(url)) as conn:
        return conn.execute(
            "SELECT e.id, e.bank_id, e.signal_type, e.value, e.value_digest, e.labels::text, e.source, "
            "p.source_id, p.remote_id, p.labels::text, p.first_seen, p.last_seen FROM bank_entries e "
            "LEFT JOIN bank_entry_sources p ON p.entry_id = e.id ORDER BY e.id, p.source_id").fetchall()


def _lookup_plan(url: str) -> str:
    with psycopg.connect(_dsn(url)) as conn:
        conn.execute("ANALYZE bank_entries")
        conn.execute("SET enable_seqscan = off")
        rows = conn.execute("EXPLAIN SELECT id FROM bank_entries WHERE bank_id = 1 AND signal_type = 'md5' "
                            "AND value_digest = %s", (value_digest("x"),)).fetchall()
    return "\n".join(r[0] for r in rows)


def _engine(url: str, data: Path) -> Engine:
    return build_engine(Settings(data_dir=data, database_url=url, source_sync=False, retro_window_days=0))


def _synced(engine: Engine, source_id: int) -> tuple[set[tuple[Any, ...]], tuple[int, int]]:
    """What the source stored, without ids or time stamps; its (added, seen) counters."""
    with engine.db.session() as s:
        rows = s.execute(
            select(BankEntryRow.signal_type, BankEntryRow.value, BankEntryRow.value_digest, BankEntryRow.labels,
                   BankEntrySourceRow.remote_id, BankEntrySourceRow.labels)
            .join(BankEntrySourceRow, BankEntrySourceRow.entry_id == BankEntryRow.id)
            .where(BankEntrySourceRow.source_id == source_id)).all()
        row = s.get(SourceRow, source_id)
        assert row is not None
        return ({(t, v, d, tuple(lab), rid, tuple(raw)) for t, v, d, lab, rid, raw in rows},
                (row.entries_added, row.entries_seen))


VALUES = [f"{i:032x}" for i in range(1, 61)]
FIRST = [Page(md5_entries(VALUES[:20]), [], "c1", more=True), Page(md5_entries(VALUES[20:30]), [], "c2")]
# New entries before held ones (a group the sample of its first entries takes for new), then held ones
# before new ones, one with another remote id.
AGAIN = [Page(md5_entries(VALUES[30:50] + VALUES[:10]), [], "c3", more=True),
         Page(md5_entries(VALUES[10:30] + VALUES[50:], remote={VALUES[12]: "r-moved"}), [], "c4")]


def test_0028_upgrades_and_downgrades_a_store_holding_entries(new_db: Any, tmp_path: Path) -> None:
    url = new_db()
    upgrade(url)
    engine = _engine(url, tmp_path)
    try:
        apply_pages(engine, file_source(engine, tmp_path), FIRST)
    finally:
        engine.close()
    stored = _stored(url)
    assert len(stored) == 30
    assert set(_collations(url).values()) == {"C"}
    assert "uq_bank_entries_bank_signal_digest" in _lookup_plan(url)

    command.downgrade(alembic_config(url), "0027")
    assert _collations(url) == dict.fromkeys(KEY_COLUMNS, "default")
    assert _stored(url) == stored
    assert "uq_bank_entries_bank_signal_digest" in _lookup_plan(url)

    upgrade(url)
    assert _collations(url) == dict.fromkeys(KEY_COLUMNS, "C")
    assert _stored(url) == stored
    assert "uq_bank_entries_bank_signal_digest" in _lookup_plan(url)
    with psycopg.connect(_dsn(url)) as conn, pytest.raises(psycopg.errors.UniqueViolation):
        e = stored[0]
        conn.execute("INSERT INTO bank_entries (bank_id, signal_type, value, value_digest, labels, source, "
                     "added_by, note, meta, created_at) VALUES (%s, %s, %s, %s, '[]', '', '', '', '{}', now())",
                     (e[1], e[2], e[3], e[4]))


def test_a_sync_into_a_migrated_store_stores_what_a_new_store_does(new_db: Any, tmp_path: Path) -> None:
    migrated, fresh = new_db(), new_db()
    upgrade(migrated)
    engine = _engine(migrated, tmp_path / "a")
    try:
        source_a = file_source(engine, tmp_path / "a")
        apply_pages(engine, source_a, FIRST)
    finally:
        engine.close()
    command.downgrade(alembic_config(migrated), "0027")
    upgrade(migrated)

    engine_a, engine_b = _engine(migrated, tmp_path / "a"), _engine(fresh, tmp_path / "b")
    try:
        source_b = file_source(engine_b, tmp_path / "b")
        apply_pages(engine_b, source_b, FIRST)
        assert _synced(engine_a, source_a) == _synced(engine_b, source_b)
        apply_pages(engine_a, source_a, AGAIN)
        apply_pages(engine_b, source_b, AGAIN)
        got = _synced(engine_a, source_a)
        assert got == _synced(engine_b, source_b)
    finally:
        engine_a.close()
        engine_b.close()
    entries, counters = got
    assert counters == (60, 90)
    assert {e[1] for e in entries} == set(VALUES)
    assert {e[4] for e in entries if e[1] == VALUES[12]} == {"r-moved"}
    assert all(e[2] == value_digest(e[1]) for e in entries)
