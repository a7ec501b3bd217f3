"""Reading past items' signals for retro-matching, and finding which new entries hit them.

Why a module of its own: a retro pass over 1,000,000 past image uploads reads about 25 PDQ forms per item
(8 rotations/flips, ~17 region guesses), 25,000,000 hashes. Decoding each item's whole ``signals`` JSON
in Python and handing every form to the index one by one cost more than the search itself. Here:

* items are paged along the received_at index and each item's ``signals`` is decoded once, without
  the ORM; a 64-hex-digit type's forms become one byte array per chunk with one ``bytes.fromhex``,
  and names are read back only for the few items that were hit;
* 256-bit hashes are searched one of two ways, whichever reads less memory: with few new entries, the
  entries are indexed and every stored form is a query (:class:`EntryIndexSearch`); with many (a synced
  list of 100,000), the stored forms of a chunk of items are indexed and the new entries are the
  queries (:class:`StoredIndexSearch`) -- 100,000 queries into a 4,000,000-row index read far less
  than 25,000,000 queries into a 100,000-row one. Both report the same (form, entry, distance)
  triples: exactness is the index's, not the direction's.

Memory stays bounded by ``chunk_forms`` hashes (and their index) whatever the window holds.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from sqlalchemy import DateTime, bindparam, select, text

from seawall.signals.pdq.index import PdqIndex, hex_rows_to_array
from seawall.store.db import Database
from seawall.store.tables import ItemRow

#: Items read per query while scanning.
ITEM_BATCH = 5_000
#: 256-bit forms held (and indexed) at once: bounds memory to ~32 bytes plus ~80 bytes of index per form.
CHUNK_FORMS = 4_000_000
#: From this many new entries of a 256-bit type, the stored forms are indexed instead of the entries.
STORED_INDEX_MIN_ENTRIES = 2_000

#: Stored forms asked of the entry index per call (each gets a result list).
_QUERY_BATCH = 200_000

# The JSON is decoded here, not by the ORM's result processing: one ``json.loads`` per item is all it costs
# (the store's own JSON functions, asked for the wanted signals only, were ten times slower on SQLite).
# Pages follow the received_at index alone, so neither store sorts anything: ordering by (received_at,
# id) made SQLite take the status index and sort the whole window for every page, and PostgreSQL sort
# the rest of the window, which made a pass over 1,000,000 items quadratic. The items of a page's last
# instant are all read with it (one more indexed query), so the next page can start after that instant.
_PAGE = """
SELECT received_at, id, {signals} FROM items {hint}
WHERE status = 'complete' AND received_at >= :since {after}
ORDER BY received_at LIMIT :limit
"""
_AFTER = "AND received_at > :after_at"
_INSTANT = """
SELECT received_at, id, {signals} FROM items {hint}
WHERE status = 'complete' AND received_at = :at
"""


@dataclass(slots=True)
class SignalPage:
    """Signals of the wanted types of one page of items: one row per signal, forms kept as text."""

    items: int = 0
    #: every item of the page, those without a signal of the wanted types too
    all_ids: list[str] = field(default_factory=list)
    item_ids: list[str] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    qualities: list[int | None] = field(default_factory=list)
    values: list[str] = field(default_factory=list)
    variants: list[list[str]] = field(default_factory=list)


def signal_pages(db: Database, since: datetime, types: Sequence[str],
                 batch: int = ITEM_BATCH) -> Iterator[SignalPage]:
    """Complete items received since ``since``, oldest first; the items of one instant share a page."""
    wanted = set(types)
    postgres = db.dialect == "postgresql"
    signals, hint = ("signals::text", "") if postgres else ("signals", "INDEXED BY ix_items_received_at")
    after: Any = None
    loads = json.loads
    while True:
        # ``since`` is rendered as the ORM stores dates; the page boundary goes back exactly as it was read
        stmt = text(_PAGE.format(signals=signals, hint=hint, after=_AFTER if after is not None else "")).bindparams(
            bindparam("since", type_=DateTime(timezone=True)))
        params: dict[str, Any] = {"since": since, "limit": batch}
        if after is not None:
            params["after_at"] = after
        with db.session() as s:
            rows: list[Any] = list(s.execute(stmt, params).all())
            full = len(rows) == batch
            if full:
                after = rows[-1][0]
                rows = [r for r in rows if r[0] != after]
                rows.extend(s.execute(text(_INSTANT.format(signals=signals, hint=hint)), {"at": after}).all())
        if not rows:
            return
        yield _decode([(r[1], r[2]) for r in rows], wanted, loads)
        if not full:
            return


def _decode(rows: Sequence[tuple[str, Any]], wanted: set[str], loads: Any) -> SignalPage:
    """A page of (item id, ``signals`` JSON text) rows, the wanted types' signals kept."""
    page = SignalPage(items=len(rows))
    for item_id, raw in rows:
        page.all_ids.append(item_id)
        for position, d in enumerate(loads(raw) if raw else ()):
            stype = d.get("type")
            if stype not in wanted:
                continue
            quality = d.get("quality")
            page.item_ids.append(item_id)
            page.positions.append(position)
            page.types.append(stype)
            page.qualities.append(int(quality) if quality is not None else None)
            page.values.append(str(d.get("value", "")))
            page.variants.append(list(d.get("variants") or ()))
    return page


def signals_of(db: Database, item_ids: Sequence[str], types: Sequence[str],
               batch: int = 500) -> Iterator[SignalPage]:
    """The given items' signals of the wanted types, ``batch`` items per query (items gone are left out)."""
    wanted = set(types)
    signals = "signals::text" if db.dialect == "postgresql" else "signals"
    stmt = text(f"SELECT id, {signals} FROM items WHERE id IN :ids").bindparams(bindparam("ids", expanding=True))
    for start in range(0, len(item_ids), batch):
        with db.session() as s:
            rows = [(str(r[0]), r[1]) for r in s.execute(stmt, {"ids": list(item_ids[start:start + batch])})]
        if rows:
            yield _decode(rows, wanted, json.loads)


def read_ahead(pages: Iterator[SignalPage], depth: int = 2) -> Iterator[SignalPage]:
    """``pages`` read on a thread of their own, up to ``depth`` ahead of the consumer.

    Reading and decoding a page holds the GIL; the index build and search that follow release it, so the
    next pages are read while a chunk is searched. An error while reading is raised to the consumer.
    """
    q: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(kind: str, value: Any) -> bool:
        while not stop.is_set():
            try:
                q.put((kind, value), timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for page in pages:
                if not put("page", page):
                    return
            put("end", None)
        except BaseException as e:  # handed to the consumer, which raises it
            put("error", e)

    thread = threading.Thread(target=produce, name="seawall-retro-read", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = q.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        thread.join()


def hex_forms(value: str, variants: list[str]) -> str | None:
    """Value and variants as one run of 64-hex-digit forms, or None when one is not such a form."""
    run = value + "".join(variants)
    if len(run) != 64 * (1 + len(variants)) or any(len(v) != 64 for v in variants):
        return None
    return run


@dataclass(slots=True)
class FormChunk:
    """256-bit forms of many stored signals: ``owner[r]`` is the signal row of form ``r``, ``form[r]`` its
    place among that signal's forms (0 = the value, k = variant k)."""

    hashes: list[str] = field(default_factory=list)
    owner: list[int] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    size: int = 0

    def add(self, signal_row: int, run: str) -> None:
        self.hashes.append(run)
        self.owner.append(signal_row)
        k = len(run) // 64
        self.counts.append(k)
        self.size += k

    def arrays(self) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(forms × 32 bytes, signal row per form, place per form)."""
        counts = np.asarray(self.counts, dtype=np.int64)
        owner = np.repeat(np.asarray(self.owner, dtype=np.int64), counts)
        starts = np.repeat(np.cumsum(counts) - counts, counts)
        place = np.arange(self.size, dtype=np.int64) - starts
        return hex_rows_to_array(["".join(self.hashes)]) if self.size else np.empty((0, 32), np.uint8), owner, place


class FormSearch(Protocol):
    """(form row, entry id, distance) of every new entry within ``radius`` of a chunk of stored forms."""

    def search(self, forms: npt.NDArray[np.uint8], radius: int
               ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]: ...


class EntryIndexSearch:
    """Few new entries: index them once, ask with every stored form."""

    def __init__(self, ids: Sequence[int], values: Sequence[str]) -> None:
        self.index = PdqIndex(background_merge=False)
        self.index.add(np.asarray(ids, dtype=np.int64), hex_rows_to_array(list(values)))

    def search(self, forms: npt.NDArray[np.uint8], radius: int
               ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        rows: list[int] = []
        entries: list[int] = []
        dists: list[int] = []
        if not len(self.index):
            return _triples(rows, entries, dists)
        for start in range(0, forms.shape[0], _QUERY_BATCH):  # one result list per form: keep them few
            for r, hits in enumerate(self.index.search_batch(forms[start:start + _QUERY_BATCH], radius), start):
                for entry_id, d in hits:
                    rows.append(r)
                    entries.append(entry_id)
                    dists.append(d)
        return _triples(rows, entries, dists)


class StoredIndexSearch:
    """Many new entries: index the chunk's stored forms, ask with every new entry."""

    def __init__(self, ids: Sequence[int], values: Sequence[str]) -> None:
        self.ids = np.asarray(ids, dtype=np.int64)
        self.queries = hex_rows_to_array(list(values))

    def search(self, forms: npt.NDArray[np.uint8], radius: int
               ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        rows: list[int] = []
        entries: list[int] = []
        dists: list[int] = []
        if forms.shape[0] and self.ids.shape[0]:
            index = PdqIndex(background_merge=False)
            index.add(np.arange(forms.shape[0], dtype=np.int64), forms)
            ids = self.ids.tolist()
            for q, hits in enumerate(index.search_batch(self.queries, radius)):
                for r, d in hits:
                    rows.append(r)
                    entries.append(ids[q])
                    dists.append(d)
            del index
        return _triples(rows, entries, dists)


def form_search(ids: Sequence[int], values: Sequence[str]) -> FormSearch:
    """The direction that reads less for this many new entries (see the module docstring)."""
    if len(ids) >= STORED_INDEX_MIN_ENTRIES:
        return StoredIndexSearch(ids, values)
    return EntryIndexSearch(ids, values)


def _triples(rows: list[int], entries: list[int], dists: list[int]
             ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    return (np.asarray(rows, dtype=np.int64), np.asarray(entries, dtype=np.int64),
            np.asarray(dists, dtype=np.int64))


def stored_signals(db: Database, item_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Whole ``signals`` of a few items (those hit): names and variants for the match records."""
    out: dict[str, list[dict[str, Any]]] = {}
    ids = sorted(set(item_ids))
    with db.session() as s:
        for start in range(0, len(ids), 500):
            for item_id, signals in s.execute(select(ItemRow.id, ItemRow.signals)
                                              .where(ItemRow.id.in_(ids[start:start + 500]))):
                out[str(item_id)] = list(signals or [])
    return out
