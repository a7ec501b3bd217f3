"""The 256-bit forms of past items, indexed once and kept between retro passes.

Why: a retro pass over 1,000,000 past image uploads used to read every item's ``signals`` JSON from the
store and index its ~25 PDQ forms again, for every pass: about 50 CPU-seconds of reading and decoding and,
because the forms were indexed in memory-bounded chunks, seven index builds and seven searches of the new
entries. Here the forms of past items stay in one exact Hamming index (:class:`PdqIndex`) between passes,
and a pass is 100,000 look-ups of the new entries in it.

Why it stays exact without trusting a cache:

* Only *final* items are kept: ``status = 'complete'`` and no stage-2 task pending. Seawall never rewrites
  the signals of a final item (the last write of ``signals`` is the one that clears ``stage2_pending`` or
  completes a deferred upload), so a form indexed once stays the item's form.
* Every pass first reads the keys of the items it must cover (id and finality, no JSON) and makes the
  index hold exactly those: items not seen before are read and added, items no longer there (deleted,
  expired by retention, outside this pass's window) are dropped. An item that is not final yet is
  handed back to the caller to be searched the old way, from its stored signals, every pass.
* Hits are checked against the store by the caller, which reads the hit items' signals back anyway (form
  names, quality, the distance from the stored form itself).

Start-up: building the forms of 1,000,000 items costs about 100 CPU-seconds (reading and decoding their
signals, then the index), so the held forms are saved (:meth:`ItemFormIndex.save`: checksummed arrays in
a fresh directory, then a pointer renamed into place, so a crash leaves the previous save whole) and loaded
after a restart. A loaded index is brought in step like any other by the next key read, so it is exact
however old it is; a save that fails its checks is ignored and the forms are read from the store again.

Memory: the index costs ~105 bytes per form at 25,000,000 forms (the hash, its id, the MIH postings and
tables), ~2.6 GB for 1,000,000 image uploads, plus ~100 bytes per item for its id. Dropped items are
tombstones until they are a quarter of the index, then the index is rebuilt from its own arrays.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import DateTime, bindparam, text

from seawall.index.snapshot import SnapshotError, read_snapshot, write_snapshot
from seawall.signals.pdq.index import PdqIndex, hex_rows_to_array
from seawall.store.db import Database
from seawall.uploads.retro_scan import SignalPage, hex_forms, signal_pages, signals_of

#: A form's id is (item ordinal, signal position, place among the signal's forms) packed in 64 bits.
_POSITION_BITS = 8
_PLACE_BITS = 8
_ITEM_SHIFT = _POSITION_BITS + _PLACE_BITS
_MAX_POSITION = 1 << _POSITION_BITS
_MAX_FORMS = 1 << _PLACE_BITS
#: Forms gathered before they are added to the index in one call.
_ADD_BATCH = 2_000_000
#: Item ids read back per query when only a few are new.
_ID_BATCH = 500

SNAPSHOT_KIND = "seawall.retro-forms"
#: The file naming the directory of the newest complete save.
_CURRENT = "CURRENT"
#: A save is worth writing again once this share of the held items changed (or this many, whichever is more).
_RESAVE_SHARE = 0.05
_RESAVE_MIN = 10_000

_KEYS = """
SELECT id, stage2_pending IS NULL FROM items {hint}
WHERE status = 'complete' AND received_at >= :since
"""


@dataclass(slots=True)
class FormHits:
    """Index hits of one signal type: parallel arrays, one row per (stored form, entry) pair."""

    item_ids: list[str] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    places: list[int] = field(default_factory=list)
    entry_ids: list[int] = field(default_factory=list)
    distances: list[int] = field(default_factory=list)


@dataclass(slots=True)
class SyncResult:
    """What a pass must still do itself: items that are not final (searched from their stored signals)."""

    items: int = 0
    added: int = 0
    dropped: int = 0
    volatile: list[str] = field(default_factory=list)


def item_keys(db: Database, since: datetime) -> tuple[list[str], list[str]]:
    """(final item ids, not-yet-final item ids) of the complete items received since ``since``.

    Reads two narrow columns along the received_at index: no ``signals`` leaves the store.
    """
    hint = "INDEXED BY ix_items_received_at" if db.dialect != "postgresql" else ""
    stmt = text(_KEYS.format(hint=hint)).bindparams(bindparam("since", type_=DateTime(timezone=True)))
    final: list[str] = []
    volatile: list[str] = []
    with db.session() as s:
        for item_id, done in s.execute(stmt, {"since": since}):
            (final if done else volatile).append(str(item_id))
    return final, volatile


class ItemFormIndex:
    """The 256-bit forms of the final past items of some signal types (see the module docstring)."""

    def __init__(self, types: Iterable[str]) -> None:
        self.types = frozenset(types)
        self._indexes = {t: PdqIndex(background_merge=False) for t in self.types}
        self._ordinal: dict[str, int] = {}
        self._ids: list[str | None] = []
        self._dead_items = 0
        #: items added or dropped since the last save (or since built)
        self.unsaved = 0

    def __len__(self) -> int:
        """Items held."""
        return len(self._ordinal)

    def forms(self) -> int:
        return sum(len(ix) for ix in self._indexes.values())

    def memory_bytes(self) -> int:
        return sum(ix.memory_bytes() for ix in self._indexes.values()) + 100 * len(self._ordinal)

    # --- keeping it in step with the store -------------------------------------------------------
    def sync(self, db: Database, since: datetime, batch: int) -> SyncResult:
        """Make the index hold exactly the final complete items received since ``since``."""
        final, volatile = item_keys(db, since)
        result = SyncResult(items=len(final) + len(volatile), volatile=volatile)
        wanted = set(final)
        gone = [i for i in self._ordinal if i not in wanted]
        for item_id in gone:
            self._ids[self._ordinal.pop(item_id)] = None
        result.dropped = len(gone)
        self._dead_items += len(gone)
        new = [i for i in final if i not in self._ordinal]
        if new:
            if len(new) > len(final) // 2:
                # most of the window is new (the first pass): one sequential read beats id look-ups
                pages: Iterator[SignalPage] = signal_pages(db, since, sorted(self.types), batch)
            else:
                pages = signals_of(db, new, sorted(self.types), _ID_BATCH)
            result.volatile.extend(self._add_pages(pages, set(new)))
            seen = set(result.volatile)
            missing = [i for i in new if i not in self._ordinal and i not in seen]
            if missing:  # completed between the key read and the page read
                result.volatile.extend(self._add_pages(signals_of(db, missing, sorted(self.types), _ID_BATCH),
                                                       set(missing)))
        result.added = len(new)
        self.unsaved += result.added + result.dropped
        if self._dead_items * 4 > max(1, len(self._ordinal)):
            self._compact()
        return result

    def _add_pages(self, pages: Iterable[SignalPage], wanted: set[str]) -> list[str]:
        """Index the forms of the ``wanted`` items of ``pages``; returns the ones whose forms cannot be held."""
        runs: dict[str, list[str]] = {t: [] for t in self.types}
        ids: dict[str, list[npt.NDArray[np.int64]]] = {t: [] for t in self.types}
        # forms are decoded to bytes every _ADD_BATCH and added to the index once at the end: each add of
        # a large batch rebuilds the index, so adding 25,000,000 forms 2,000,000 at a time built it 12 times
        done: dict[str, list[tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]]] = {t: [] for t in self.types}
        held = 0
        refused: list[str] = []
        for page in pages:
            # an item with a form that is not 64 hex digits, or too many forms to number, is not held: it is
            # searched from its stored signals every pass, like an item that is not final
            bad = {item_id for row, item_id in enumerate(page.item_ids)
                   if item_id in wanted and not self._indexable(page, row)}
            fresh: dict[str, int] = {}
            for item_id in page.all_ids:  # items without a form of these types are held too: known, not read again
                if item_id in wanted and item_id not in self._ordinal:
                    if item_id in bad:
                        refused.append(item_id)
                        continue
                    fresh[item_id] = self._ordinal[item_id] = len(self._ids)
                    self._ids.append(item_id)
            for row, item_id in enumerate(page.item_ids):
                ordinal = fresh.get(item_id)
                if ordinal is None:
                    continue
                stype, position = page.types[row], page.positions[row]
                run = hex_forms(page.values[row], page.variants[row])
                assert run is not None  # checked by _indexable
                count = len(run) // 64
                runs[stype].append(run)
                ids[stype].append(((ordinal << _ITEM_SHIFT) | (position << _PLACE_BITS))
                                  + np.arange(count, dtype=np.int64))
                held += count
                if held >= _ADD_BATCH:
                    self._decode(runs, ids, done)
                    held = 0
        self._decode(runs, ids, done)
        for stype, parts in done.items():
            if parts:
                self._indexes[stype].add(np.concatenate([p[0] for p in parts]),
                                         np.concatenate([p[1] for p in parts]))
        return refused

    @staticmethod
    def _indexable(page: SignalPage, row: int) -> bool:
        return (page.positions[row] < _MAX_POSITION and 1 + len(page.variants[row]) <= _MAX_FORMS
                and hex_forms(page.values[row], page.variants[row]) is not None)

    def _decode(self, runs: dict[str, list[str]], ids: dict[str, list[npt.NDArray[np.int64]]],
                done: dict[str, list[tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]]]) -> None:
        for stype in self.types:
            if runs[stype]:
                done[stype].append((np.concatenate(ids[stype]), hex_rows_to_array(["".join(runs[stype])])))
                runs[stype].clear()
                ids[stype].clear()

    def _compact(self) -> None:
        """Drop the forms of dropped items (tombstones, then one rebuild of each index)."""
        held = np.fromiter((i is not None for i in self._ids), dtype=bool, count=len(self._ids))
        for ix in self._indexes.values():
            all_ids = ix.held_ids()
            alive = held[all_ids >> _ITEM_SHIFT]
            if not alive.all():
                ix.remove(all_ids[~alive].tolist())
                ix.compact()
        self._dead_items = 0

    # --- saving and loading -------------------------------------------------------------------------
    def worth_saving(self) -> bool:
        return self.unsaved >= max(_RESAVE_MIN, int(_RESAVE_SHARE * len(self._ordinal))) or (
            self.unsaved > 0 and self.unsaved >= len(self._ordinal))

    def save(self, directory: Path) -> None:
        """Write the held forms under ``directory`` (see the module docstring); older saves are removed."""
        directory.mkdir(parents=True, exist_ok=True)
        name = f"forms-{uuid.uuid4().hex}"
        target = directory / name
        target.mkdir()
        for stype, ix in self._indexes.items():
            ix.save(target / f"{stype}.snap")
        encoded = [(i or "").encode() for i in self._ids]
        write_snapshot(target / "items.snap", SNAPSHOT_KIND, {"types": sorted(self.types)}, {
            "names": np.frombuffer(b"".join(encoded), dtype=np.uint8),
            "lengths": np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))})
        pointer = directory / f"{_CURRENT}.{name}"
        with open(pointer, "w") as f:
            f.write(name)
            f.flush()
            os.fsync(f.fileno())
        os.replace(pointer, directory / _CURRENT)
        for old in directory.glob("forms-*"):
            if old.name != name:
                shutil.rmtree(old, ignore_errors=True)
        self.unsaved = 0

    @classmethod
    def load(cls, directory: Path) -> ItemFormIndex:
        """The newest complete save under ``directory``; :class:`SnapshotError` when there is none to trust."""
        try:
            target = directory / (directory / _CURRENT).read_text().strip()
        except OSError as e:
            raise SnapshotError(f"{directory}: no saved retro forms: {e}") from e
        meta, arrays = read_snapshot(target / "items.snap", SNAPSHOT_KIND)
        types = meta.get("types")
        if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
            raise SnapshotError(f"{target}: no signal types recorded")
        held = cls(types)
        lengths = np.asarray(arrays["lengths"], dtype=np.int64)
        blob = np.asarray(arrays["names"], dtype=np.uint8).tobytes()
        if lengths.ndim != 1 or bool(np.any(lengths < 0)) or int(lengths.sum()) != len(blob):
            raise SnapshotError(f"{target}: item names do not add up")
        ends = np.cumsum(lengths).tolist()
        starts = [0, *ends[:-1]]
        try:
            names = [blob[a:b].decode() or None for a, b in zip(starts, ends, strict=True)]
        except UnicodeDecodeError as e:
            raise SnapshotError(f"{target}: item names are not text") from e
        for stype in types:
            ix = PdqIndex.load(target / f"{stype}.snap", background_merge=False)
            ids = ix.held_ids()
            if ids.shape[0] and (int(ids.min()) < 0 or int(ids.max()) >> _ITEM_SHIFT >= len(names)):
                raise SnapshotError(f"{target}: {stype} forms of items the save does not name")
            held._indexes[stype] = ix
        held._ids = names
        held._ordinal = {n: k for k, n in enumerate(names) if n is not None}
        if len(held._ordinal) != sum(n is not None for n in names):
            raise SnapshotError(f"{target}: an item is named twice")
        held._dead_items = len(names) - len(held._ordinal)
        return held

    # --- searching -------------------------------------------------------------------------------
    def search(self, signal_type: str, entry_ids: Sequence[int], values: Sequence[str], radius: int) -> FormHits:
        """Every held form of ``signal_type`` within ``radius`` of an entry value."""
        hits = FormHits()
        ix = self._indexes.get(signal_type)
        if ix is None or not len(ix) or not values:
            return hits
        names = self._ids
        for q, found in enumerate(ix.search_batch(hex_rows_to_array(list(values)), radius)):
            for form_id, d in found:
                item_id = names[form_id >> _ITEM_SHIFT]
                if item_id is None:
                    continue  # dropped, tombstone not yet folded
                hits.item_ids.append(item_id)
                hits.positions.append((form_id >> _PLACE_BITS) & (_MAX_POSITION - 1))
                hits.places.append(form_id & (_MAX_FORMS - 1))
                hits.entry_ids.append(int(entry_ids[q]))
                hits.distances.append(int(d))
        return hits


def form_index_types(kinds: dict[str, Any]) -> frozenset[str]:
    """The signal types an :class:`ItemFormIndex` can hold: those searched by 256-bit Hamming distance."""
    return frozenset(t for t, kind in kinds.items() if getattr(kind, "index_kind", None) == "hamming256")
