"""Migration 0029 on a real PostgreSQL store: a bank entry's bank and a provenance row's source, checked per
statement by triggers instead of per row by foreign keys, keep every guarantee the foreign keys gave: no
entry of a missing bank, no provenance of a missing source, deleting a bank or a source leaves nothing of
it behind (also when the delete waits for a transaction still adding to it), and the foreign keys come
back on a downgrade with the rows unchanged."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from alembic import command

from seawall.store.db import alembic_config, upgrade
from tests.conftest import PG_ADMIN_DSN

pytestmark = pytest.mark.postgres

#: The foreign keys the migration replaces: (constraint, child table).
REPLACED = {
    ("bank_entries_bank_id_fkey", "bank_entries"),
    ("bank_entry_sources_source_id_fkey", "bank_entry_sources"),
    ("bank_entry_sources_entry_id_fkey", "bank_entry_sources"),
}


@pytest.fixture
def db() -> Iterator[str]:
    """A PostgreSQL database at the newest migration (its libpq DSN), dropped at the end."""
    name = f"seawall_keys_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        upgrade(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")
        yield f"host=127.0.0.1 port=5432 user=postgres dbname={name}"
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _bank(conn: Any, name: str) -> int:
    return int(
        conn.execute(
            "INSERT INTO banks (name, description, kind, default_action, labels, thresholds, enabled, created_at, "
            "updated_at) VALUES (%s, '', 'hash', 'review', '[]', '{}', true, now(), now()) RETURNING id",
            (name,),
        ).fetchone()[0]
    )


def _source(conn: Any, name: str) -> int:
    return int(
        conn.execute(
            "INSERT INTO sources (name, kind, config, banks, label_map, action, trusted_action, trusted, enabled, "
            "interval_seconds, entries_added, entries_seen, tombstones_applied, rejected, pages_refused, last_rejects, "
            "failures, created_by, created_at, updated_at) VALUES (%s, 'file', '{}', '[]', '{}', 'review', 'review', "
            "false, true, 60, 0, 0, 0, 0, 0, '[]', 0, '', now(), now()) RETURNING id",
            (name,),
        ).fetchone()[0]
    )


def _entries(conn: Any, bank_id: int, n: int, tag: str) -> list[int]:
    rows = conn.execute(
        "INSERT INTO bank_entries (bank_id, signal_type, value, value_digest, labels, source, added_by, note, meta, "
        "created_at) SELECT %s, 'md5', md5(%s || g), md5(%s || g), '[]', '', '', '', '{}', now() "
        "FROM generate_series(1, %s) g RETURNING id",
        (bank_id, tag, tag, n),
    ).fetchall()
    return [int(r[0]) for r in rows]


def _provenance(conn: Any, entry_ids: list[int], source_id: int) -> None:
    conn.execute(
        "INSERT INTO bank_entry_sources (entry_id, source_id, remote_id, labels, first_seen, last_seen) "
        "SELECT e, %s, 'r' || e, '[]', now(), now() FROM unnest(%s::bigint[]) e",
        (source_id, entry_ids),
    )


def _count(conn: Any, sql: str, *args: Any) -> int:
    return int(conn.execute(sql, args).fetchone()[0])


def _dangling(conn: Any) -> tuple[int, int, int]:
    """Entries of no bank, provenance of no source, provenance of no entry."""
    return (
        _count(
            conn, "SELECT count(*) FROM bank_entries e WHERE NOT EXISTS (SELECT 1 FROM banks b WHERE b.id = e.bank_id)"
        ),
        _count(
            conn,
            "SELECT count(*) FROM bank_entry_sources p WHERE NOT EXISTS "
            "(SELECT 1 FROM sources s WHERE s.id = p.source_id)",
        ),
        _count(
            conn,
            "SELECT count(*) FROM bank_entry_sources p WHERE NOT EXISTS "
            "(SELECT 1 FROM bank_entries e WHERE e.id = p.entry_id)",
        ),
    )


def _foreign_keys(dsn: str) -> set[tuple[str, str]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT conname, conrelid::regclass::text FROM pg_constraint WHERE contype = 'f' "
            "AND conrelid::regclass::text IN ('bank_entries', 'bank_entry_sources')"
        ).fetchall()
    return {(str(n), str(t)) for n, t in rows}


def test_missing_parents_are_refused(db: str) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        bank, source = _bank(conn, "b"), _source(conn, "s")
        ids = _entries(conn, bank, 3, "a")
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            _entries(conn, bank + 1000, 1, "x")
        with pytest.raises(psycopg.errors.ForeignKeyViolation):  # one missing bank among present ones
            conn.execute(
                "INSERT INTO bank_entries (bank_id, signal_type, value, value_digest, labels, source, "
                "added_by, note, meta, created_at) VALUES (%s, 'md5', 'v1', 'd1', '[]', '', '', '', '{}', "
                "now()), (%s, 'md5', 'v2', 'd2', '[]', '', '', '', '{}', now())",
                (bank, bank + 1000),
            )
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            _provenance(conn, ids, source + 1000)
        with pytest.raises(psycopg.errors.ForeignKeyViolation):  # one missing entry among present ones
            _provenance(conn, [*ids, ids[-1] + 1000], source)
        with pytest.raises(psycopg.errors.ForeignKeyViolation), conn.transaction():  # entry deleted meanwhile
            conn.execute("DELETE FROM bank_entries WHERE id = %s", (ids[0],))
            _provenance(conn, ids, source)
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute("UPDATE bank_entries SET bank_id = %s WHERE id = %s", (bank + 1000, ids[0]))
        _provenance(conn, ids, source)
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute("UPDATE bank_entry_sources SET source_id = %s WHERE entry_id = %s", (source + 1000, ids[0]))
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute("UPDATE banks SET id = %s WHERE id = %s", (bank + 1000, bank))
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute("UPDATE sources SET id = %s WHERE id = %s", (source + 1000, source))
        with pytest.raises(psycopg.errors.FeatureNotSupported):
            conn.execute("TRUNCATE sources")
        conn.execute("UPDATE bank_entries SET labels = '[\"x\"]'")  # not a key: no check
        assert _count(conn, "SELECT count(*) FROM bank_entry_sources") == 3
        assert _dangling(conn) == (0, 0, 0)


def test_deleting_a_bank_a_source_or_an_entry_leaves_nothing_of_it(db: str) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        keep, gone = _bank(conn, "keep"), _bank(conn, "gone")
        s_keep, s_gone = _source(conn, "keep"), _source(conn, "gone")
        kept, lost = _entries(conn, keep, 5, "k"), _entries(conn, gone, 7, "g")
        _provenance(conn, kept + lost, s_keep)
        _provenance(conn, kept, s_gone)
        conn.execute("DELETE FROM banks WHERE id = %s", (gone,))
        assert _count(conn, "SELECT count(*) FROM bank_entries") == 5
        assert _count(conn, "SELECT count(*) FROM bank_entry_sources WHERE source_id = %s", s_keep) == 5
        conn.execute("DELETE FROM sources WHERE id = %s", (s_gone,))
        conn.execute("DELETE FROM bank_entries WHERE id = ANY(%s)", (kept[:2],))
        assert _count(conn, "SELECT count(*) FROM bank_entry_sources") == 3
        assert _dangling(conn) == (0, 0, 0)
        with conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            with pytest.raises(psycopg.errors.SerializationFailure):
                conn.execute("DELETE FROM banks WHERE id = %s", (keep,))
            raise psycopg.Rollback
        assert _count(conn, "SELECT count(*) FROM bank_entries") == 3


def _blocked_then_committed(db: str, waiting: Any, work: Callable[[], object], committing: Any) -> list[BaseException]:
    """Run ``work`` (on connection ``waiting``) in a thread until it waits for a lock ``committing`` holds (it
    must: the test fails if it never does), commit ``committing``, and return what ``work`` raised."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as e:
            errors.append(e)

    worker = threading.Thread(target=run)
    worker.start()
    query = "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s"
    with psycopg.connect(db, autocommit=True) as watch:
        for _ in range(400):
            if watch.execute(query, (waiting.info.backend_pid,)).fetchone()[0] == "Lock":
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the second transaction never waited for the first")
    committing.commit()
    worker.join(30)
    assert not worker.is_alive()
    return errors


def _delete(conn: Any, parent: str, bank: int, source: int, entry_ids: list[int]) -> None:
    """Delete the parent the test is about: the bank, the source, or the entries ``entry_ids``."""
    table, keys = {"bank": ("banks", [bank]), "source": ("sources", [source]), "entry": ("bank_entries", entry_ids)}[
        parent
    ]
    conn.execute(f"DELETE FROM {table} WHERE id = ANY(%s)", (keys,))


@pytest.mark.parametrize("parent", ["bank", "source", "entry"])
def test_a_delete_waits_for_a_transaction_adding_children_and_takes_them_too(db: str, parent: str) -> None:
    with psycopg.connect(db, autocommit=True) as setup:
        bank, source = _bank(setup, "b"), _source(setup, "s")
        earlier = _entries(setup, bank, 2, "e")
    adder, deleter = psycopg.connect(db), psycopg.connect(db, autocommit=True)
    try:
        ids = _entries(adder, bank, 50, "n")
        _provenance(adder, ids + earlier, source)
        errors = _blocked_then_committed(db, deleter, lambda: _delete(deleter, parent, bank, source, earlier), adder)
        assert not errors
        with psycopg.connect(db, autocommit=True) as conn:
            assert _dangling(conn) == (0, 0, 0)
            if parent == "bank":
                assert _count(conn, "SELECT count(*) FROM bank_entries") == 0
            assert _count(conn, "SELECT count(*) FROM bank_entry_sources") == (50 if parent == "entry" else 0)
    finally:
        adder.close()
        deleter.close()


@pytest.mark.parametrize("parent", ["bank", "source", "entry"])
def test_children_of_a_parent_deleted_meanwhile_are_refused(db: str, parent: str) -> None:
    with psycopg.connect(db, autocommit=True) as setup:
        bank, source = _bank(setup, "b"), _source(setup, "s")
        ids = _entries(setup, bank, 2, "e")
    deleter, adder = psycopg.connect(db), psycopg.connect(db, autocommit=True)
    try:
        _delete(deleter, parent, bank, source, ids)

        def add() -> None:
            if parent == "bank":
                _entries(adder, bank, 5, "late")
            else:
                _provenance(adder, ids, source)

        errors = _blocked_then_committed(db, adder, add, deleter)
        assert len(errors) == 1 and isinstance(errors[0], psycopg.errors.ForeignKeyViolation)
        with psycopg.connect(db, autocommit=True) as conn:
            assert _dangling(conn) == (0, 0, 0)
    finally:
        deleter.close()
        adder.close()


def test_0029_downgrades_to_foreign_keys_and_upgrades_again(db: str) -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/" + db.rsplit("=", 1)[1]
    with psycopg.connect(db, autocommit=True) as conn:
        bank, source = _bank(conn, "b"), _source(conn, "s")
        _provenance(conn, _entries(conn, bank, 10, "a"), source)
        before = conn.execute("SELECT * FROM bank_entry_sources ORDER BY entry_id").fetchall()
    assert not _foreign_keys(db) & REPLACED
    command.downgrade(alembic_config(url), "0028")
    assert _foreign_keys(db) >= REPLACED
    with psycopg.connect(db, autocommit=True) as conn:
        assert conn.execute("SELECT * FROM bank_entry_sources ORDER BY entry_id").fetchall() == before
        assert _count(conn, "SELECT count(*) FROM pg_trigger WHERE tgname LIKE '%%_fkey_%%'") == 0
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            _entries(conn, bank + 1000, 1, "x")
    upgrade(url)
    assert not _foreign_keys(db) & REPLACED
    with psycopg.connect(db, autocommit=True) as conn:
        assert conn.execute("SELECT * FROM bank_entry_sources ORDER BY entry_id").fetchall() == before
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            _entries(conn, bank + 1000, 1, "x")
        conn.execute("DELETE FROM banks WHERE id = %s", (bank,))
        assert _dangling(conn) == (0, 0, 0) and _count(conn, "SELECT count(*) FROM bank_entry_sources") == 0
