"""WAL checkpoints of a SQLite store in a background thread of the serving process, not inside commits.

Real SQLite files: the write-ahead log is read back with ``PRAGMA wal_checkpoint``, which says how many
frames the log holds.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from seawall.composition import build_engine
from seawall.config import Settings
from seawall.store.db import Database

from .conftest import copy_sqlite_template

BLOB = os.urandom(180 * 1024)  # an upload spooled for stage 2: ~45 pages of log per commit


def _write(db: Database, n: int) -> None:
    with db.session() as s:
        s.execute(text("CREATE TABLE IF NOT EXISTS spool (id INTEGER PRIMARY KEY, data BLOB)"))
    for _ in range(n):
        with db.session() as s:
            s.execute(text("INSERT INTO spool (data) VALUES (:d)"), {"d": BLOB})


def _frames(path: Path) -> int:
    """Frames in the write-ahead log (what a passive checkpoint reports; it copies them too)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        return int(conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])
    finally:
        conn.close()


def test_commits_checkpoint_by_themselves_without_the_thread(tmp_path: Path) -> None:
    """SQLite's default, kept for every process that does not run the thread: the log stays near 1000 pages."""
    db = Database(f"sqlite:///{tmp_path / 'a.db'}")
    try:
        _write(db, 40)  # ~1800 pages written
        with db.engine.connect() as conn:
            assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 1000
        assert db.checkpointer is None
        assert _frames(tmp_path / "a.db") < 1100  # a commit restarted the log once it passed 1000 pages
    finally:
        db.dispose()


def test_the_thread_takes_checkpoints_out_of_the_commits(tmp_path: Path) -> None:
    path = tmp_path / "b.db"
    db = Database(f"sqlite:///{path}")
    try:
        _write(db, 1)  # a pooled connection opened before the switch is replaced
        cp = db.checkpoint_in_background(3600)  # the thread does not come round during the test
        assert cp is not None and db.checkpoint_in_background(3600) is cp
        with db.engine.connect() as conn:
            assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 0
        _write(db, 40)
        # no commit checkpointed: every page written since the start is still in the log
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            busy, frames, copied = cp.run_once(conn)
        finally:
            conn.close()
        assert busy == 0 and frames > 1500 and copied == frames
        assert cp.runs == 1 and cp.pages == copied
    finally:
        db.dispose()
    assert db.checkpointer is None


def test_the_thread_checkpoints_every_interval(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    db = Database(f"sqlite:///{path}")
    try:
        cp = db.checkpoint_in_background(0.02)
        assert cp is not None
        _write(db, 30)
        deadline = time.monotonic() + 10
        while cp.pages == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert cp.runs > 0 and cp.pages > 0
        _write(db, 1)
    finally:
        db.dispose()
    # the last checkpoint at close left the data in the database file, readable by any connection
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT count(*) FROM spool").fetchone()[0] == 31
    finally:
        conn.close()


def test_a_serving_engine_runs_the_thread(tmp_path: Path, sqlite_template: Path) -> None:
    copy_sqlite_template(sqlite_template, tmp_path)
    engine = build_engine(Settings(data_dir=tmp_path, warm_up=False))
    try:
        assert engine.db.checkpointer is None  # a CLI command's engine keeps SQLite's default
        engine.start_workers()
        assert engine.db.checkpointer is not None
    finally:
        engine.close()
    assert engine.db.checkpointer is None


def test_zero_keeps_sqlite_checkpoints(tmp_path: Path, sqlite_template: Path) -> None:
    copy_sqlite_template(sqlite_template, tmp_path)
    engine = build_engine(Settings(data_dir=tmp_path, warm_up=False, sqlite_checkpoint_ms=0))
    try:
        engine.start_workers()
        assert engine.db.checkpointer is None
    finally:
        engine.close()


@pytest.mark.postgres
def test_postgresql_has_no_thread(pg_url: str) -> None:
    db = Database(pg_url)
    try:
        assert db.checkpoint_in_background(0.2) is None
    finally:
        db.dispose()
