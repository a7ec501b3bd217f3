"""Migration 0031 on SQLite and PostgreSQL: the database refuses a second standing strike of an account for one
item; a store that already holds repeats keeps every row, the first strike standing and the later ones
withdrawn with a note; strikes withdrawn before are marked; a downgrade takes the rule away with every row
kept."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command

from seawall.store.db import alembic_config, upgrade
from tests.test_migration_one_decision import url as url  # the fixture (an empty store of each kind), shared

NOW = "'2026-12-01 10:00:00'"
LATER = "'2099-01-01 00:00:00'"


def _strike(conn: sa.Connection, account: str, item: str | None, reason: str, expires: str = LATER) -> None:
    conn.execute(sa.text("INSERT INTO strikes (account_id, item_id, rule_id, reason, created_at, expires_at) "
                         f"VALUES (:a, :i, NULL, :r, {NOW}, {expires})"), {"a": account, "i": item, "r": reason})


def _strikes(engine: sa.Engine, *columns: str) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            f"SELECT id, account_id, item_id, reason{''.join(', ' + c for c in columns)} FROM strikes ORDER BY id"))]


def _version(engine: sa.Engine) -> str:
    with engine.connect() as conn:
        return str(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar())


def _aware(value: object) -> datetime:
    stamp = datetime.fromisoformat(value) if isinstance(value, str) else value
    assert isinstance(stamp, datetime)
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)


def test_0031_keeps_one_standing_strike_per_item_and_downgrades(url: str) -> None:
    upgrade(url, "0030")
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for account in ("@a:hs", "@b:hs"):
                conn.execute(sa.text(f"INSERT INTO accounts (id, first_seen) VALUES (:a, {NOW})"), {"a": account})
            _strike(conn, "@a:hs", "item-1", "rule threat")            # 1: stands
            _strike(conn, "@a:hs", "item-1", "reviewer strike")        # 2: a repeat, withdrawn by the upgrade
            _strike(conn, "@a:hs", "item-1", "rule threat", NOW)       # 3: a repeat that had expired already
            _strike(conn, "@a:hs", "item-2", "rule threat [withdrawn: appeal 4 upheld]", NOW)  # 4: withdrawn before
            _strike(conn, "@a:hs", "item-2", "reviewer strike")        # 5: stands (4 was withdrawn)
            _strike(conn, "@a:hs", None, "manual")                     # 6, 7: no item, never limited
            _strike(conn, "@a:hs", None, "manual")
            _strike(conn, "@b:hs", "item-1", "rule threat")            # 8: another account's strike
        before = _strikes(engine)

        upgrade(url)
        assert _version(engine) == "0031"
        after = _strikes(engine, "withdrawn_at", "expires_at")
        assert [r[:3] for r in after] == [r[:3] for r in before], "every row kept"
        withdrawn = {int(str(r[0])): r for r in after if r[4] is not None}
        assert sorted(withdrawn) == [2, 3, 4]
        assert withdrawn[2][3] == "reviewer strike [withdrawn: repeats strike 1 for the same item (migration 0031)]"
        assert _aware(withdrawn[2][5]) <= datetime.now(UTC)  # it no longer counts
        assert _aware(withdrawn[3][5]) == datetime(2026, 12, 1, 10, tzinfo=UTC)  # it had ended: its end is kept
        assert withdrawn[4][3] == before[3][3] and _aware(withdrawn[4][4]) == datetime(2026, 12, 1, 10, tzinfo=UTC)
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            _strike(conn, "@a:hs", "item-2", "again")
        with engine.begin() as conn:
            _strike(conn, "@a:hs", None, "manual")  # strikes without an item are not limited
            conn.execute(sa.text("DELETE FROM strikes WHERE id > 8"))

        engine.dispose()
        command.downgrade(alembic_config(url), "0030")
        assert _version(engine) == "0030"
        assert [r[:3] for r in _strikes(engine)] == [r[:3] for r in before]
        with engine.begin() as conn:
            _strike(conn, "@a:hs", "item-2", "again")  # the old schema allowed it
            conn.execute(sa.text("DELETE FROM strikes WHERE id > 8"))
        engine.dispose()
        upgrade(url)
        assert _version(engine) == "0031" and [r[:3] for r in _strikes(engine)] == [r[:3] for r in before]
    finally:
        engine.dispose()
