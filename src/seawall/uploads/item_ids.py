"""Item ids that follow the order items arrive in: the millisecond first, then 80 random bits.

Why: an item id is the primary key of ``items`` and is indexed again in ``decisions`` (and every table
that refers to an item). A random id (``uuid4``) lands each new item on a random page of those
indexes, so a group commit of a dozen text items rewrote a dozen index pages per index into the
write-ahead log, and the checkpoint copied them again: about a quarter of the bytes a text item wrote
(25 → 18 KiB per item, SQLite). Ids that start with the time they were made go to the end of the
indexes, where one or two pages take a whole group. Drawing them is also cheaper than ``uuid4``.

The form is unchanged for every reader: 32 lowercase hex digits (what the stage-2 spool accepts as a
file name, see :mod:`seawall.uploads.spool`). 80 random bits keep ids as unguessable as before for
anyone who does not know the millisecond an item arrived, which its answer already states
(``received_at``); nothing compares or orders items by id.
"""

from __future__ import annotations

import os
import threading
import time

#: Random bytes drawn from ``os.urandom`` at a time, per thread, and handed out ten by ten.
_DRAW = 4000


class _Pool(threading.local):
    """Each thread's bytes from ``os.urandom`` not yet in an id.

    Why: a system call per id, on the event loop, let the committing thread take the interpreter lock in
    the middle of a text item (the id showed up at 3% of the samples of the server for a microsecond of
    work); one call per 400 ids does not. A forked child starts with no bytes (see below), so a parent
    and its child never hand out the same ones.
    """

    data = b""
    at = 0


_pool = _Pool()
os.register_at_fork(after_in_child=lambda: _pool.__dict__.clear())


def new_item_id() -> str:
    """A fresh item id: 12 hex digits of Unix milliseconds, then 20 of ``os.urandom``."""
    pool = _pool
    at = pool.at
    if at + 10 > len(pool.data):
        pool.data, at = os.urandom(_DRAW), 0
    pool.at = at + 10
    return f"{time.time_ns() // 1_000_000:012x}{pool.data[at:at + 10].hex()}"
