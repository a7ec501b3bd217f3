"""Item ids start with the millisecond the item was made, so stored items follow arrival order in every
index on their id; the form (32 lowercase hex digits) is the one every reader of an id accepts."""

from __future__ import annotations

import asyncio
import os
import threading
import time

from sqlalchemy import select

from seawall.engine import Engine
from seawall.store.tables import DecisionRow, ItemRow
from seawall.uploads.item_ids import new_item_id
from seawall.uploads.spool import valid_id


def test_an_id_is_32_hex_digits_led_by_its_millisecond() -> None:
    before = time.time_ns() // 1_000_000
    ids = [new_item_id() for _ in range(2000)]
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == len(ids)
    for item_id in ids:
        assert valid_id(item_id), item_id
        assert before <= int(item_id[:12], 16) <= after
    # the 80 bits after the time are random: across 2000 ids every hex digit turns up in every place
    for place in range(12, 32):
        assert len({i[place] for i in ids}) == 16


def test_threads_and_forked_children_never_hand_out_the_same_id() -> None:
    """Ids are drawn from random bytes kept per thread: other threads, and a child forked after this process
    drew some, get bytes of their own (the child's first id is not the parent's next)."""
    new_item_id()  # this thread now holds random bytes not yet handed out
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first id to the parent, then gone
        os.write(write, new_item_id().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    others: list[str] = []
    threads = [threading.Thread(target=lambda: others.extend(new_item_id() for _ in range(50))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    mine = [new_item_id() for _ in range(50)]
    tails = [i[12:] for i in [child, *others, *mine]]
    assert len(set(tails)) == len(tails) == 251


def test_stored_items_sort_by_id_in_the_order_they_arrived(engine: Engine) -> None:
    """Text items sent one after another (on the event loop and in a thread, as the API sends them): their
    ids, as stored in ``items`` and ``decisions``, sort in the order they were sent."""
    sent: list[str] = []
    for n in range(6):
        content = engine.content("text", text=f"village bakery opening hours notice number {n} for spring")
        fields = {"content_id": f"c-{n}", "account_id": f"acct-{n % 2}", "submitted_by": "test"}
        item = asyncio.run(engine.submit_on_loop(content, **fields)) if n % 2 else engine.submit(content, **fields)
        assert item is not None
        sent.append(item.id)
        time.sleep(0.002)  # a new millisecond
    assert sorted(sent) == sent
    with engine.db.session() as s:
        stored = list(s.scalars(select(ItemRow.id).order_by(ItemRow.received_at)))
        decided = list(s.scalars(select(DecisionRow.item_id).order_by(DecisionRow.id)))
    assert stored == sent
    assert decided == sent
