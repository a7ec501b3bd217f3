"""Migration 0030 on SQLite and PostgreSQL: the database refuses a second decision for a case, an upgrade of a
store that already holds one stops and names the case without deleting anything, and a downgrade takes the
rule away again with every row unchanged."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command

from seawall.store.db import alembic_config, upgrade
from tests.conftest import PG_ADMIN_DSN

NOW = "'2026-12-01 10:00:00'"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty store of each kind (its URL); a PostgreSQL one is dropped at the end."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'seawall.db'}"
        return
    name = f"seawall_decisions_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _decide(conn: sa.Connection, case_id: int, username: str) -> None:
    conn.execute(sa.text(
        "INSERT INTO case_decisions (case_id, username, outcome, labels, entries_added, note, created_at) "
        f"VALUES (:c, :u, 'violating', '[]', 0, '', {NOW})"), {"c": case_id, "u": username})


def _decisions(engine: sa.Engine) -> list[tuple[int, str]]:
    with engine.connect() as conn:
        return [(int(c), str(u)) for c, u in conn.execute(sa.text(
            "SELECT case_id, username FROM case_decisions ORDER BY id")).all()]


def _version(engine: sa.Engine) -> str:
    with engine.connect() as conn:
        return str(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar())


def test_0030_keeps_one_decision_per_case_and_downgrades(url: str) -> None:
    upgrade(url, "0029")
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO items (id, content_id, content_type, received_at, signals, reasons) "
                                 f"VALUES ('item-1', 'post-1', 'text', {NOW}, '[]', '[]')"))
            for case_id in (1, 2):
                conn.execute(sa.text("INSERT INTO cases (id, item_id, reason, source, priority, status, created_at, "
                                     f"sla_due_at) VALUES (:i, 'item-1', 'r', 'queue', 10, 'decided', {NOW}, {NOW})"),
                             {"i": case_id})
            _decide(conn, 2, "first")
            _decide(conn, 2, "second")
            _decide(conn, 1, "only")
        stored = _decisions(engine)

        with pytest.raises(RuntimeError, match=r"\(cases 2\)"):
            upgrade(url, "0030")
        assert _decisions(engine) == stored and _version(engine) == "0029", "nothing deleted, nothing changed"

        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM case_decisions WHERE username = 'second'"))
        upgrade(url, "0030")
        assert _version(engine) == "0030"
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            _decide(conn, 1, "again")
        assert _decisions(engine) == [(2, "first"), (1, "only")]

        engine.dispose()
        command.downgrade(alembic_config(url), "0029")
        assert _decisions(engine) == [(2, "first"), (1, "only")] and _version(engine) == "0029"
        with engine.begin() as conn:
            _decide(conn, 1, "again")  # the old schema allowed it
            conn.execute(sa.text("DELETE FROM case_decisions WHERE username = 'again'"))
        engine.dispose()
        upgrade(url, "0030")
        assert _version(engine) == "0030" and _decisions(engine) == [(2, "first"), (1, "only")]
    finally:
        engine.dispose()
