"""A text item's rows are the same whether its group commit ran on a Core connection or in an ORM session.

Most text items write only rows the group commit pools (the item, its account, its decision); a group of
such writes runs on a Core connection, without an ORM session. Each kind of text item here is stored
once that way and once with every group in a session (``GroupCommit(core_groups=False)``, how every
group ran before): the answer, every row in every table that refers to the item, and its account's row
must be the same apart from ids and times. The ``plain`` kind also shows that no session was opened.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from seawall.engine import Engine
from seawall.models.records import Item
from seawall.store.group_commit import _PREPARED, GroupCommit, _insert_first, _Write
from seawall.store.tables import AccountRow, Base
from seawall.uploads.ingest import _new_item

#: Columns that differ between any two stored uploads, whichever way they were stored.
PER_ITEM = {"id", "item_id", "decision_id", "received_at", "created_at", "updated_at", "first_seen"}
BANKED = "join the harbour night patrol and bring the copper lanterns to the orchard gate at midnight"
ALLOWED = "the weekly river market opens at the granite bridge with violet stalls and sparrow kites"
KINDS: dict[str, dict[str, Any]] = {
    "plain": {"text": "community garden notice number seven for the weekend schedule"},
    "account": {"text": "morning ferry times change for the winter season at the harbour", "account": True,
                "reach": 1200},
    "urls": {"text": "tickets at https://example.org/fair?day=2 and www.example.net/map for the fair",
             "account": True},
    "kept": {"text": "the library reading circle meets in the meadow room on thursday", "keep": True,
             "context": {"room": "r1"}},
    "banked": {"text": BANKED, "account": True},
    "allowed": {"text": ALLOWED, "account": True},
}


def _submit(engine: Engine, kind: str, arm: str) -> Item:
    """As ``POST /v1/items`` does: decided on an event loop when it can be, else in a thread."""
    spec = KINDS[kind]
    content = engine.content("text", text=spec["text"])
    fields: dict[str, Any] = {"content_id": f"c-{kind}", "account_id": f"acct-{kind}-{arm}" if spec.get("account")
                              else None, "submitted_by": "test", "keep": spec.get("keep", False),
                              "context": spec.get("context"), "reach": spec.get("reach")}
    item = asyncio.run(engine.submit_on_loop(content, **fields))
    return item if item is not None else engine.submit(content, **fields)


def _normal(value: Any, account: str | None) -> Any:
    if isinstance(value, dict):
        return {k: "…" if k in PER_ITEM else _normal(v, account) for k, v in value.items()}
    if isinstance(value, list):
        return [_normal(v, account) for v in value]
    if account is not None and value == account:
        return "<account>"
    return value


def _stored(engine: Engine, item: Item) -> dict[str, Any]:
    """Every row that refers to the item (and its account's row), ids and times left out."""
    out: dict[str, Any] = {}
    with engine.db.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            column = table.c.id if table.name == "items" else table.c.get("item_id")
            if column is None:
                continue
            rows = [_normal(dict(r), item.account_id) for r in conn.execute(select(table).where(column == item.id))
                    .mappings()]
            out[table.name] = sorted(rows, key=repr)
        if item.account_id:
            accounts = AccountRow.__table__
            out["accounts"] = [_normal(dict(r), item.account_id) for r in conn.execute(
                select(accounts).where(accounts.c.id == item.account_id)).mappings()]
    return out


@pytest.mark.parametrize("kind", list(KINDS))
def test_rows_and_answer_are_the_same_with_or_without_a_session(engine: Engine, kind: str) -> None:
    engine.banks.create("slogans", labels=["behaviour:recruitment"])
    engine.banks.create("news", kind="allow")
    for bank, text in (("slogans", BANKED), ("news", ALLOWED)):
        engine.add_entries_from_content(bank, engine.content("text", text=text), labels=[], note="",
                                        source="test", added_by="test")
    sessions: list[Session] = []
    event.listen(engine.db.sessions, "after_begin", lambda s, *_: sessions.append(s))

    core = _submit(engine, kind, "core")
    opened = len(sessions)
    engine.items.writes = GroupCommit(engine.db, core_groups=False)
    twin = _submit(engine, kind, "session")

    answers = [_normal(i.to_dict(), i.account_id) for i in (core, twin)]
    assert answers[0] == answers[1]
    rows = [_stored(engine, i) for i in (core, twin)]
    assert rows[0] == rows[1]
    assert rows[0]["items"] and rows[0]["decisions"]
    if KINDS[kind].get("account"):
        assert rows[0]["accounts"]
    if kind == "banked":
        assert core.verdict.verdict == "block" and rows[0]["matches"] and rows[0]["item_content"]
    if kind == "allowed":
        assert core.verdict.matches and rows[0]["matches"]
    if kind == "kept":
        assert rows[0]["item_content"]
    if kind == "plain":
        assert opened == 0  # stored on a Core connection: no session was begun for it
        assert len(sessions) > opened  # and the twin's group ran in one


class _Undo(Exception):
    pass


def _raw_rows(conn: Connection, item_ids: list[str], accounts: list[str]) -> dict[str, list[tuple[Any, ...]]]:
    """The rows as the database driver returns them (JSON as its text, times as stored), nothing left out."""
    marks = ", ".join(f"'{i}'" for i in item_ids)
    names = ", ".join(f"'{a}'" for a in accounts)
    return {
        "items": list(conn.exec_driver_sql(f"SELECT * FROM items WHERE id IN ({marks}) ORDER BY id")),
        "decisions": [r[1:] for r in conn.exec_driver_sql(
            f"SELECT * FROM decisions WHERE item_id IN ({marks}) ORDER BY item_id")],
        "accounts": list(conn.exec_driver_sql(f"SELECT * FROM accounts WHERE id IN ({names}) ORDER BY id")),
    }


def _stored_then_undone(engine: Engine, insert: Callable[[Connection], None], item_ids: list[str],
                        accounts: list[str]) -> dict[str, list[tuple[Any, ...]]]:
    out: dict[str, list[tuple[Any, ...]]] = {}
    with contextlib.suppress(_Undo), engine.db.engine.begin() as conn:
        insert(conn)
        out = _raw_rows(conn, item_ids, accounts)
        raise _Undo()
    return out


def test_pooled_rows_are_stored_as_sqlalchemy_stores_them(engine: Engine) -> None:
    """A group's pooled rows go to the driver through a statement prepared once (``_prepared``), bound as
    SQLAlchemy binds them: the same rows, inserted by SQLAlchemy's own execution and that way, are stored
    alike to the byte (ids, times, JSON text, flags), for a group of every kind of pooled row."""
    svc = engine.items
    group: list[_Write[Any]] = []
    for n, kind in enumerate(["plain", "account", "urls", "account", "allowed"]):
        spec = KINDS[kind]
        content = engine.content("text", text=spec["text"])
        item = _new_item(content, f"c-{n}", f"acct-{n % 2}" if spec.get("account") else None, "test",
                         spec.get("reach"))
        svc._decide(item, content)
        first, write = svc._writer(item, None, None, None, None)
        assert write is None  # nothing but pooled rows
        group.append(_Write(None, first))
    item_ids = [w.first[0][1]["id"] for w in group]
    accounts = ["acct-0", "acct-1"]

    def by_sqlalchemy(conn: Connection) -> None:
        for w in group:
            for stmt, row in w.first:
                conn.execute(stmt, [row])

    expected = _stored_then_undone(engine, by_sqlalchemy, item_ids, accounts)
    stored = _stored_then_undone(engine, lambda conn: _insert_first(conn, group), item_ids, accounts)
    assert stored == expected
    assert len(expected["items"]) == 5 and len(expected["decisions"]) == 5 and len(expected["accounts"]) == 2
    prepared = [p for (_, dialect, _), (_, p) in _PREPARED.items() if dialect == engine.db.dialect]
    # SQLite takes positional placeholders: every pooled statement went the prepared way; psycopg's are named
    assert prepared and all((p is not None) == (engine.db.dialect == "sqlite") for p in prepared)
