"""Banked content kept as itself, and its signals computed again: ``seawall bank rehash``.

A bank filled with texts and pictures (not hashes) keeps each of them (``bank_contents``), and every
entry computed from one records it in ``meta["content"]``. When text normalisation changes, the stored
``text_sha256`` of a banked sentence no longer equals what a new upload of the same sentence computes;
when a signal type is added (``text_fingerprint``, ``pdq_crop``), older contents have no entries of it.
Rehashing computes the content's signals again: for the types it already has, new values are added and
values no longer computed are removed; with ``new_types`` it also adds types it has none of. Entries not
computed from kept content (imported hash lists) are never touched, and a second run changes nothing.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from seawall.errors import Conflict
from seawall.media.content import Content
from seawall.models.records import ComputedSignal
from seawall.store.db import Database
from seawall.store.tables import BankContentRow, BankEntryRow, BankRow
from seawall.store.upsert import insert_unless_exists

#: Content types kept for rehashing; a video is not (its vPDQ is the costly part, and files are large).
KEPT_TYPES = ("text", "image")
#: Larger pictures are banked but not kept.
MAX_KEPT_BYTES = 32 * 1024 * 1024


@dataclass(slots=True)
class RehashReport:
    banks: int = 0
    contents: int = 0
    added: Counter[str] = field(default_factory=Counter)
    removed: Counter[str] = field(default_factory=Counter)
    unchanged: int = 0
    #: Values computed again that the bank already holds as entries not computed from this content.
    present: int = 0
    #: Entries in the banks that were not computed from kept content (hash lists, older banking).
    not_from_content: int = 0
    #: Kept contents that could not be hashed again (e.g. a picture the decoder now refuses), with why.
    failed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"banks": self.banks, "contents": self.contents, "added": dict(sorted(self.added.items())),
                "removed": dict(sorted(self.removed.items())), "unchanged": self.unchanged,
                "already_present": self.present,
                "not_from_content": self.not_from_content, "failed": self.failed}


def content_digest(content: Content) -> str:
    return hashlib.sha256(content.raw_bytes).hexdigest()


def keep_content(db: Database, bank_id: int, content: Content, *, labels: list[str], source: str, note: str,
                 added_by: str) -> int | None:
    """Id of the kept copy of ``content`` in the bank (stored once per bank), or None when it is not kept."""
    if content.content_type not in KEPT_TYPES or len(content.raw_bytes) > MAX_KEPT_BYTES:
        return None
    digest = content_digest(content)
    with db.session() as s:
        row = insert_unless_exists(s, BankContentRow, {
            "bank_id": bank_id, "content_type": content.content_type, "digest": digest, "data": content.raw_bytes,
            "labels": labels, "source": source, "note": note, "added_by": added_by,
        }, conflict=("bank_id", "digest"))
        if row is not None:
            return int(row.id)
        found = s.scalar(select(BankContentRow.id).where(BankContentRow.bank_id == bank_id,
                                                         BankContentRow.digest == digest))
        return int(found) if found is not None else None


@dataclass(frozen=True, slots=True)
class KeptContent:
    id: int
    bank_id: int
    bank_name: str
    content_type: str
    data: bytes
    labels: list[str]
    source: str
    note: str
    added_by: str


def kept_contents(db: Database, bank_name: str | None, *, after_id: int = 0, limit: int = 200) -> list[KeptContent]:
    """A page of kept contents (of one bank, or all), in id order."""
    q = (select(BankContentRow, BankRow.name).join(BankRow, BankRow.id == BankContentRow.bank_id)
         .where(BankContentRow.id > after_id).order_by(BankContentRow.id).limit(limit))
    if bank_name is not None:
        q = q.where(BankRow.name == bank_name)
    with db.session() as s:
        return [KeptContent(r.id, r.bank_id, name, r.content_type, r.data, list(r.labels or []), r.source, r.note,
                            r.added_by) for r, name in s.execute(q).all()]


def content_entries(db: Database, bank_id: int) -> tuple[dict[int, dict[tuple[str, str], int]], int]:
    """Per kept content of a bank, (signal type, value) → entry id of the entries computed from it; and the
    number of the bank's entries computed from no kept content. One pass over the bank, in chunks."""
    out: dict[int, dict[tuple[str, str], int]] = {}
    loose = 0
    after = 0
    while True:
        with db.session() as s:
            rows = s.execute(select(BankEntryRow.id, BankEntryRow.signal_type, BankEntryRow.value, BankEntryRow.meta)
                             .where(BankEntryRow.bank_id == bank_id, BankEntryRow.id > after)
                             .order_by(BankEntryRow.id).limit(10_000)).all()
        if not rows:
            return out, loose
        for i, t, v, meta in rows:
            cid = meta.get("content") if isinstance(meta, dict) else None
            if isinstance(cid, int):
                out.setdefault(cid, {})[(t, v)] = int(i)
            else:
                loose += 1
        after = int(rows[-1][0])


@dataclass(frozen=True, slots=True)
class RehashPlan:
    """What one content needs: values to add (type, value) and entry ids to remove."""

    add: list[ComputedSignal]
    remove: list[tuple[int, str, str]]
    unchanged: int


def plan(have: dict[tuple[str, str], int], computed: list[ComputedSignal], *, new_types: bool,
         keep: Callable[[ComputedSignal], bool]) -> RehashPlan:
    """Compare a content's entries with its signals computed now."""
    types_had = {t for t, _ in have}
    wanted = {(c.type, c.value): c for c in computed if keep(c) and (new_types or c.type in types_had)}
    add = [c for key, c in wanted.items() if key not in have]
    remove = [(eid, t, v) for (t, v), eid in have.items() if (t, v) not in wanted and (new_types or t in types_had)
              and any(k[0] == t for k in wanted)]
    return RehashPlan(add, remove, len(have) - len(remove))


class RehashRuns:
    """Which banks this process is rehashing now. Two runs over the same bank at once would both add the
    values the first has not written yet and remove each other's work, so a second one is refused (409)
    instead of waiting behind a run that can take minutes; runs over different banks go ahead."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[str | None] = set()

    @contextmanager
    def hold(self, bank_name: str | None) -> Iterator[None]:
        """Mark ``bank_name`` (None: every bank) as being rehashed for the ``with`` block, or raise Conflict."""
        with self._lock:
            if None in self._running or (self._running and (bank_name is None or bank_name in self._running)):
                busy = "every bank" if None in self._running or bank_name is None else f"bank {bank_name!r}"
                raise Conflict(f"a rehash of {busy} is already running", code="rehash_running")
            self._running.add(bank_name)
        try:
            yield
        finally:
            with self._lock:
                self._running.discard(bank_name)
