"""Group commit on SQLite and PostgreSQL: concurrent writes share a commit, each keeps its own outcome.

A platform's uploads arrive together; their writes go into one transaction, but each request must
still learn only its own result, only after its row is committed, and a write that fails must not take
the others of its group down with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import event, func, insert, select
from sqlalchemy.orm import Session

from seawall.engine import Engine
from seawall.store.group_commit import GroupCommit
from seawall.store.tables import DecisionRow, ItemRow, utcnow

THREADS = 8


def _item_row(item_id: str, once: str | None = None) -> dict[str, Any]:
    return {"id": item_id, "content_id": f"c-{item_id}", "account_id": None, "content_type": "text",
            "received_at": utcnow(), "size_bytes": 1, "signals": [], "verdict": "allow", "reasons": [],
            "submitted_by": "test", "status": "complete", "error": None, "reach": None, "once_key": once,
            "stage2_pending": None}


def _all_at_once(gc: GroupCommit, writes: list[Callable[[Session], Any]]) -> list[tuple[Any, BaseException | None]]:
    """Every write from its own thread, all announced before any is run (so one leader gathers them)."""
    out: list[tuple[Any, BaseException | None]] = [(None, None)] * len(writes)
    start = threading.Barrier(len(writes))
    announced = threading.Barrier(len(writes))

    def one(i: int) -> None:
        start.wait()
        with gc.arriving():
            announced.wait()
            try:
                out[i] = (gc.run(writes[i]), None)
            except Exception as exc:  # recorded for the assertion
                out[i] = (None, exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(writes))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def _count_items(engine: Engine, ids: list[str]) -> int:
    with engine.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(ItemRow).where(ItemRow.id.in_(ids))) or 0)


def test_concurrent_writes_share_one_commit_and_get_their_own_results(engine: Engine) -> None:
    gc = GroupCommit(engine.db, max_batch=32, max_wait_s=5.0)
    ids = [uuid.uuid4().hex for _ in range(THREADS)]

    def writer(item_id: str) -> Callable[[Session], str]:
        def write(s: Session) -> str:
            s.execute(insert(ItemRow), [_item_row(item_id)])
            return item_id
        return write

    out = _all_at_once(gc, [writer(i) for i in ids])
    assert [r for r, _ in out] == ids
    assert all(e is None for _, e in out)
    assert _count_items(engine, ids) == THREADS  # committed before run() returned
    stats = gc.stats()
    assert (stats.transactions, stats.writes, stats.regrouped_failures) == (1, THREADS, 0)


def test_a_failing_write_fails_alone_and_the_rest_of_its_group_commits(engine: Engine) -> None:
    gc = GroupCommit(engine.db, max_batch=32, max_wait_s=5.0)
    ids = [uuid.uuid4().hex for _ in range(THREADS)]
    taken = uuid.uuid4().hex[:20]
    with engine.db.session() as s:  # a once key already in the store: the third write collides with it
        s.execute(insert(ItemRow), [_item_row(uuid.uuid4().hex, once=taken)])

    def writer(n: int, item_id: str) -> Callable[[Session], str]:
        def write(s: Session) -> str:
            s.execute(insert(ItemRow), [_item_row(item_id, once=taken if n == 2 else None)])
            return item_id
        return write

    out = _all_at_once(gc, [writer(n, i) for n, i in enumerate(ids)])
    errors = [type(e).__name__ for _, e in out]
    assert errors[2] == "IntegrityError"
    assert [e for n, e in enumerate(errors) if n != 2] == ["NoneType"] * (THREADS - 1)
    assert [r for n, (r, _) in enumerate(out) if n != 2] == [i for n, i in enumerate(ids) if n != 2]
    assert _count_items(engine, ids) == THREADS - 1
    assert gc.stats().regrouped_failures == 1


def test_a_lone_write_does_not_wait(engine: Engine) -> None:
    gc = GroupCommit(engine.db, max_batch=32, max_wait_s=5.0)
    item_id = uuid.uuid4().hex
    waits: list[float | None] = []
    real_wait = gc._cond.wait

    def counted_wait(timeout: float | None = None) -> bool:
        waits.append(timeout)
        return real_wait(timeout)

    gc._cond.wait = counted_wait  # type: ignore[method-assign]
    with gc.arriving():
        gc.run(lambda s: s.execute(insert(ItemRow), [_item_row(item_id)]))
    assert waits == []  # the leader did not wait (up to 5 s) for writes on their way: none were announced
    assert _count_items(engine, [item_id]) == 1


def test_concurrent_submits_each_stored_with_their_decision_and_once_resends_collapse(engine: Engine) -> None:
    n = 16
    results: list[Any] = [None] * n
    start = threading.Barrier(n)

    def one(i: int) -> None:
        start.wait()
        once = i % 2 == 0  # half are re-sends of one upload, half are distinct uploads
        text = "the same re-sent notice" if once else f"community notice number {i} for the weekend"
        results[i] = engine.submit(engine.content("text", text=text), content_id="resent" if once else f"c{i}",
                                   submitted_by="platform", once=once)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    resent = {results[i].id for i in range(0, n, 2)}
    distinct = [results[i].id for i in range(1, n, 2)]
    assert len(resent) == 1
    assert len(set(distinct)) == n // 2
    ids = [*resent, *distinct]
    assert _count_items(engine, ids) == len(ids)
    with engine.db.session() as s:
        decided = s.scalar(select(func.count()).select_from(DecisionRow).where(DecisionRow.item_id.in_(ids)))
    assert decided == len(ids)  # one decision per stored item, none for the collapsed re-sends
    assert engine.items.writes.stats().writes >= len(ids)


ITEM_INSERT = insert(ItemRow)


def _first_writer(item_id: str, once: str | None = None) -> tuple[Callable[[Session], int], Any]:
    """A write whose item row is handed over as ``first``; the write counts the group's rows it can see."""
    def write(s: Session) -> int:
        return int(s.scalar(select(func.count()).select_from(ItemRow).where(ItemRow.id == item_id)) or 0)
    return write, [(ITEM_INSERT, _item_row(item_id, once=once))]


def _item_inserts(engine: Engine) -> tuple[list[int], Callable[..., None]]:
    """Rows per executed INSERT INTO items, seen by a listener on the store's own engine."""
    seen: list[int] = []

    def listen(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO ITEMS"):
            seen.append(len(parameters) if executemany else 1)
    event.listen(engine.db.engine, "before_cursor_execute", listen)
    return seen, listen


def test_first_rows_of_a_group_go_in_as_one_insert_before_its_writes(engine: Engine) -> None:
    gc = GroupCommit(engine.db, max_batch=32, max_wait_s=5.0)
    ids = [uuid.uuid4().hex for _ in range(THREADS)]
    writers = [_first_writer(i) for i in ids]
    seen, listen = _item_inserts(engine)
    try:
        out = _all_at_once_first(gc, writers)
    finally:
        event.remove(engine.db.engine, "before_cursor_execute", listen)
    assert out == [(1, None)] * THREADS  # each write saw its own row, inserted before it ran
    assert _count_items(engine, ids) == THREADS
    assert sum(seen) == THREADS and len(seen) < THREADS  # pooled: fewer statements than rows
    assert gc.stats().transactions == 1


def test_a_colliding_first_row_fails_alone(engine: Engine) -> None:
    gc = GroupCommit(engine.db, max_batch=32, max_wait_s=5.0)
    ids = [uuid.uuid4().hex for _ in range(THREADS)]
    taken = uuid.uuid4().hex[:20]
    with engine.db.session() as s:
        s.execute(insert(ItemRow), [_item_row(uuid.uuid4().hex, once=taken)])
    out = _all_at_once_first(gc, [_first_writer(i, once=taken if n == 3 else None) for n, i in enumerate(ids)])
    assert type(out[3][1]).__name__ == "IntegrityError"
    assert [o for n, o in enumerate(out) if n != 3] == [(1, None)] * (THREADS - 1)
    assert _count_items(engine, ids) == THREADS - 1


def _all_at_once_first(gc: GroupCommit, writers: list[tuple[Callable[[Session], int], Any]]
                       ) -> list[tuple[Any, BaseException | None]]:
    out: list[tuple[Any, BaseException | None]] = [(None, None)] * len(writers)
    start = threading.Barrier(len(writers))
    announced = threading.Barrier(len(writers))

    def one(i: int) -> None:
        start.wait()
        with gc.arriving():
            announced.wait()
            try:
                out[i] = (gc.run(writers[i][0], first=writers[i][1]), None)
            except Exception as exc:  # recorded for the assertion
                out[i] = (None, exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(writers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


@pytest.mark.parametrize("bad", [0, -1])
def test_max_batch_must_be_positive(engine: Engine, bad: int) -> None:
    with pytest.raises(ValueError):
        GroupCommit(engine.db, max_batch=bad)


def test_async_writes_group_with_threads_and_fail_alone(engine: Engine) -> None:
    """Writes awaited on an event loop share groups with threads' writes; a colliding one fails alone."""
    gc = GroupCommit(engine.db, max_batch=32, max_wait_s=0.05)
    taken = uuid.uuid4().hex[:20]
    with engine.db.session() as s:
        s.execute(insert(ItemRow), [_item_row(uuid.uuid4().hex, once=taken)])
    loop_ids = [uuid.uuid4().hex for _ in range(THREADS)]
    thread_ids = [uuid.uuid4().hex for _ in range(4)]
    threaded: list[Any] = []

    def in_thread(item_id: str) -> None:
        write, first = _first_writer(item_id)
        threaded.append(gc.run(write, first=first))

    async def main() -> list[Any]:
        threads = [threading.Thread(target=in_thread, args=(i,)) for i in thread_ids]
        for t in threads:
            t.start()
        writers = [_first_writer(i, once=taken if n == 5 else None) for n, i in enumerate(loop_ids)]
        out = await asyncio.gather(*(gc.run_async(w, first=f) for w, f in writers), return_exceptions=True)
        for t in threads:
            t.join(60)
        return out

    out = asyncio.run(main())
    assert type(out[5]).__name__ == "IntegrityError"
    assert [o for n, o in enumerate(out) if n != 5] == [1] * (THREADS - 1)
    assert threaded == [1] * len(thread_ids)
    assert _count_items(engine, loop_ids + thread_ids) == THREADS - 1 + len(thread_ids)
    assert gc.stats().writes == THREADS + len(thread_ids) - 1


def test_async_writes_announced_together_share_one_commit(engine: Engine) -> None:
    gc = GroupCommit(engine.db, max_batch=32, max_wait_s=5.0)
    ids = [uuid.uuid4().hex for _ in range(THREADS)]

    async def main() -> list[Any]:
        with contextlib.ExitStack() as marks:
            for _ in ids:
                marks.enter_context(gc.arriving())
            return await asyncio.gather(*(gc.run_async(w, first=f) for w, f in map(_first_writer, ids)))

    assert asyncio.run(main()) == [1] * THREADS
    assert _count_items(engine, ids) == THREADS
    assert (gc.stats().transactions, gc.stats().writes) == (1, THREADS)
