"""A group commit of text items writes each item's decision and account row in one statement per table.

Every stored item still has exactly one decision and its account a row of its own (accounts stay unique
by their key, including within one group and against rows already there); a write that fails in its
group takes nothing of its pooled rows with it and costs no other write its decision; and the pooled
decision is the row the act stage would have written itself. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import event, insert, select
from sqlalchemy.orm import Session

from seawall.engine import Engine
from seawall.models.records import Action, Item
from seawall.store.group_commit import GroupCommit
from seawall.store.tables import AccountRow, DecisionRow, ItemRow, utcnow
from seawall.uploads.ingest import _new_item

DECISION_COLUMNS = ("account_id", "verdict", "automated", "rule_set_version", "fired", "actions", "facts", "reasons")


def _decided(engine: Engine, account_id: str | None, n: int) -> Item:
    """A text item decided the way an upload is (signals, matching, the rules), not yet stored."""
    content = engine.content("text", text=f"community notice number {n} for the weekend schedule")
    item = _new_item(content, f"c-{uuid.uuid4().hex}", account_id, "platform", None)
    engine.items._decide(item, content)
    return item


def _in_one_group(gc: GroupCommit, writes: list[tuple[list[tuple[Any, dict[str, Any]]], Callable[[Session], int]]]
                  ) -> list[Any]:
    """The writes awaited together, all announced first, so one transaction carries them."""
    async def main() -> list[Any]:
        with contextlib.ExitStack() as marks:
            for _ in writes:
                marks.enter_context(gc.arriving())
            return await asyncio.gather(*(gc.run_async(w, first=f) for f, w in writes), return_exceptions=True)
    return asyncio.run(main())


def _statements(engine: Engine) -> tuple[list[tuple[str, int]], Callable[..., None]]:
    """(table, rows) per executed INSERT, seen on the store's own engine."""
    seen: list[tuple[str, int]] = []

    def listen(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        words = statement.split()
        if len(words) > 2 and words[0].upper() == "INSERT" and words[1].upper() == "INTO":
            seen.append((words[2].strip('"'), len(parameters) if executemany else 1))
    event.listen(engine.db.engine, "before_cursor_execute", listen)
    return seen, listen


def _decisions(engine: Engine, ids: list[str]) -> dict[str, DecisionRow]:
    with engine.db.session() as s:
        rows = s.scalars(select(DecisionRow).where(DecisionRow.item_id.in_(ids))).all()
    assert len(rows) == len({r.item_id for r in rows}), "an item with two decisions"
    return {r.item_id: r for r in rows}


def test_a_group_of_text_items_writes_every_decision_and_account_once_in_one_statement_each(engine: Engine) -> None:
    earlier = utcnow() - timedelta(days=3)
    with engine.db.session() as s:
        s.execute(insert(AccountRow), [{"id": "known", "first_seen": earlier}])
    accounts = ["a", "b", "a", None, "known", "c", "b", None]
    items = [_decided(engine, a, n) for n, a in enumerate(accounts)]
    assert all(i.verdict.verdict == "allow" and not i.verdict.actions for i in items)
    gc = GroupCommit(engine.db, max_batch=32, max_wait_s=5.0)
    seen, listen = _statements(engine)
    try:
        out = _in_one_group(gc, [engine.items._writer(i, None, None, None, None) for i in items])
    finally:
        event.remove(engine.db.engine, "before_cursor_execute", listen)
    assert out == [None] * len(items)  # pooled rows alone: no rest of the write ran, no webhook queued
    assert gc.stats().transactions == 1
    ids = [i.id for i in items]
    decisions = _decisions(engine, ids)
    assert set(decisions) == set(ids)
    for item in items:
        row = decisions[item.id]
        assert (row.account_id, row.verdict, row.automated, row.actions, row.reasons) == \
            (item.account_id, "allow", True, [], item.verdict.reasons)
    with engine.db.session() as s:
        stored = {r.id: r.first_seen for r in s.scalars(select(AccountRow)).all()}
        assert s.scalar(select(ItemRow.id).where(ItemRow.id.in_(ids)).limit(1)) is not None
    assert set(stored) >= {"a", "b", "c", "known"}
    assert abs((stored["known"].replace(tzinfo=None) - earlier.replace(tzinfo=None)).total_seconds()) < 1
    # one statement per table for the group, holding every row
    by_table: dict[str, list[int]] = {}
    for table, rows in seen:
        by_table.setdefault(table, []).append(rows)
    assert by_table["decisions"] == [len(items)]
    assert by_table["accounts"] == [6]
    assert by_table["items"] == [len(items)]


def test_a_write_that_fails_in_its_group_keeps_no_pooled_row_and_the_others_keep_theirs(engine: Engine) -> None:
    taken = uuid.uuid4().hex[:20]
    with engine.db.session() as s:
        s.execute(insert(ItemRow), [{
            "id": uuid.uuid4().hex, "content_id": "first", "account_id": None, "content_type": "text",
            "received_at": utcnow(), "size_bytes": 1, "signals": [], "verdict": "allow", "reasons": [],
            "submitted_by": "platform", "status": "complete", "error": None, "reach": None, "once_key": taken,
            "stage2_pending": None}])
    items = [_decided(engine, f"acct-{n}", n) for n in range(6)]
    writes = [engine.items._writer(i, None, None, taken if n == 2 else None, None) for n, i in enumerate(items)]
    gc = GroupCommit(engine.db, max_batch=32, max_wait_s=5.0)
    out = _in_one_group(gc, writes)
    assert type(out[2]).__name__ == "IntegrityError"  # the once key is unique in the store
    assert [o for n, o in enumerate(out) if n != 2] == [None] * 5
    assert gc.stats().regrouped_failures == 1
    decisions = _decisions(engine, [i.id for i in items])
    assert set(decisions) == {i.id for n, i in enumerate(items) if n != 2}
    with engine.db.session() as s:
        accounts = set(s.scalars(select(AccountRow.id).where(AccountRow.id.like("acct-%"))).all())
    assert accounts == {f"acct-{n}" for n in range(6) if n != 2}


def test_the_pooled_decision_is_the_row_the_act_stage_writes(engine: Engine) -> None:
    pooled, recorded = _decided(engine, "same", 1), _decided(engine, "same", 1)  # the same text, two uploads
    engine.items._write(pooled, None, None, None, None)
    keep = engine.items.pooled
    engine.items.pooled = None  # the act stage's own path, one statement per row
    try:
        engine.items._write(recorded, None, None, None, None)
    finally:
        engine.items.pooled = keep
    rows = _decisions(engine, [pooled.id, recorded.id])
    a, b = rows[pooled.id], rows[recorded.id]
    assert [getattr(a, c) for c in DECISION_COLUMNS] == [getattr(b, c) for c in DECISION_COLUMNS]
    assert a.id < b.id


def test_an_item_whose_decision_id_is_needed_is_not_pooled(engine: Engine) -> None:
    runner = engine.actions
    item = _decided(engine, "acct", 1)
    assert runner.pooled(item, engine.db.dialect) is not None
    item.verdict.actions = [Action("label", {"label": "x"}, "r1")]
    assert runner.pooled(item, engine.db.dialect) is None  # action rows refer to the decision
    item.verdict.actions = []
    runner.outbox.subscribed = frozenset({"item.verdict"})
    try:
        assert runner.pooled(item, engine.db.dialect) is None  # the event carries the decision id
    finally:
        runner.outbox.reload()
    assert runner.pooled(item, "some-other-dialect") is None  # no one-statement "insert unless it exists"
    item.account_id = None
    assert runner.pooled(item, "some-other-dialect") is not None
    item.status = "pending"
    assert runner.pooled(item, engine.db.dialect) is None


def test_new_accounts_of_a_group_are_inserted_in_key_order(engine: Engine) -> None:
    """Two groups committing at once lock new account rows in the same order, so neither deadlocks the other
    (on PostgreSQL a deadlock re-ran both groups one write at a time)."""
    names = [f"acct-{uuid.uuid4().hex[:8]}-{k}" for k in ("z", "m", "a", "q")]
    items = [_decided(engine, a, n) for n, a in enumerate(names)]
    gc = GroupCommit(engine.db, max_batch=32, max_wait_s=5.0)
    sent: list[str] = []

    def listen(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if "INSERT INTO accounts" not in statement:
            return
        rows = parameters if executemany else [parameters]
        for row in rows:
            values = row.values() if isinstance(row, dict) else row
            sent.extend(v for v in values if isinstance(v, str) and v in names)
    event.listen(engine.db.engine, "before_cursor_execute", listen)
    try:
        out = _in_one_group(gc, [engine.items._writer(i, None, None, None, None) for i in items])
    finally:
        event.remove(engine.db.engine, "before_cursor_execute", listen)
    assert not [o for o in out if isinstance(o, BaseException)]
    assert sent == sorted(names)
    with engine.db.session() as s:
        assert sorted(s.scalars(select(AccountRow.id).where(AccountRow.id.in_(names))).all()) == sorted(names)
