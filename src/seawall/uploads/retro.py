"""Retroactive matching: when a bank learns a new entry, find the past uploads it would have caught.

Hash lists arrive after the fact: a partner shares a list today that describes a video uploaded last
week, a reviewer banks an image whose earlier copies were allowed because nobody knew it yet. Those
copies are still up. Retro-matching finds them and puts them through the same decide-and-act path as
a new upload.

How it stays cheap: the entries added since the last run (an id cursor kept in the store) are taken
together, and the stored signals of past items inside a window are streamed once, page by page along
the received_at index. One pass over the items serves every entry added since the last run -- a
100,000-line import costs one scan, not 100,000 -- and the live match indexes are never touched.
256-bit hashes (PDQ: about 25 forms per image upload) are searched chunk by chunk in whichever
direction reads less: a few new entries are indexed and the stored forms asked; many new entries ask
an index built over a chunk of stored forms (see :mod:`seawall.uploads.retro_scan`). Other types go
through a small temporary index of the new entries.

What it does to a hit: the item's new matches are stored and the item is decided again by the current
rules with all its matches, in one transaction with its actions and events (``item.retro_match``
plus whatever the actions emit). The item is already published, so ``block`` is carried out as
``remove``; an action already carried out on the item is not repeated. Only enabled block banks
count: an allow entry is no reason to revisit anything. An item a person already decided about is the
exception: their decision stands and the item goes back to review instead (see :meth:`RetroMatcher._apply`).

Crash and concurrency safety: (item, entry) pairs already recorded are skipped, so a run repeated
after a crash repeats work, never actions; the cursor advances after the pass. One pass runs
at a time across processes and nodes, and one process leads the background passes and alone holds the
forms of past items (:mod:`seawall.uploads.retro_lead`); on PostgreSQL, entries whose
transaction committed after a newer id was seen are picked up through the same commit-horizon feed
the match indexes use. That feed may hand an entry over a second time (when another transaction was
open during the first pass); the second pass then finds its pairs recorded and changes nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from itertools import chain
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.orm import Session

from seawall.actions.runner import ActionRunner
from seawall.index.base import Candidate, SignalIndex
from seawall.index.snapshot import SnapshotError
from seawall.models.records import Action, ComputedSignal, Item, Match, Verdict
from seawall.plugins import Registry
from seawall.signals.pdq.index import hamming, hex_rows_to_array
from seawall.store.case_tags import tag_cases_of_item
from seawall.store.db import Database
from seawall.store.tables import BankEntryRow, BankRow, ItemRow, MatchRow, RuntimeFlagRow, utcnow
from seawall.store.write_lock import get_locked
from seawall.uploads.person_decisions import decided_by_a_person, reviewed_media
from seawall.uploads.retro_forms import ItemFormIndex, SyncResult, form_index_types
from seawall.uploads.retro_lead import RetroLead
from seawall.uploads.retro_scan import (
    CHUNK_FORMS,
    ITEM_BATCH,
    FormChunk,
    FormSearch,
    SignalPage,
    form_search,
    hex_forms,
    read_ahead,
    signal_pages,
    signals_of,
    stored_signals,
)
from seawall.verdicts.matching import Matcher
from seawall.webhooks.outbox import Outbox

log = logging.getLogger(__name__)

#: Verdicts under which the platform shows an item: a person who left an item up sees it again when a new
#: bank entry would now act on it.
VISIBLE = ("allow", "label")

#: Where the cursor lives (a row of the shared runtime-state table).
STATE_NAME = "retro_match"
#: Entries taken into one run; a larger import is worked off over several runs.
ENTRY_LIMIT = 200_000


@dataclass(slots=True)
class RetroReport:
    """What one run did."""

    entries: int = 0
    items_scanned: int = 0
    items_matched: int = 0
    matches: int = 0
    actions: int = 0
    cursor: int = 0
    seconds: float = 0.0
    skipped: str | None = None
    started_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class _State:
    entry_id: int = 0
    horizon: int | None = None
    last: dict[str, Any] = field(default_factory=dict)


Decider = Callable[[Item, list[Match], list[str]], Verdict]
#: A hit before its item's signals are read back: (signal position in the item, signal type, candidate).
_Hit = tuple[int, str, Candidate]


@dataclass(slots=True)
class _Chunk:
    """Stored 256-bit forms of one type waiting to be searched, with the (item, signal position) of each."""

    forms: FormChunk = field(default_factory=FormChunk)
    item_ids: list[str] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)

    def add(self, item_id: str, position: int, run: str) -> None:
        self.forms.add(len(self.item_ids), run)
        self.item_ids.append(item_id)
        self.positions.append(position)

    def clear(self) -> None:
        self.forms = FormChunk()
        self.item_ids, self.positions = [], []


class RetroMatcher:
    """Runs retro-matching passes; see the module docstring for the why of each step."""

    def __init__(self, db: Database, registry: Registry, matcher: Matcher, *, decide: Decider,
                 load_item: Callable[[str], Item], runner: ActionRunner, outbox: Outbox,
                 window: timedelta, on_events: Callable[[], None] | None = None,
                 chunk_forms: int = CHUNK_FORMS, item_batch: int = ITEM_BATCH, form_index: bool = True,
                 snapshot_dir: Path | None = None) -> None:
        self.db = db
        self.registry = registry
        self.matcher = matcher
        self.decide = decide
        self.load_item = load_item
        self.runner = runner
        self.outbox = outbox
        self.window = window
        self.on_events = on_events
        #: 256-bit forms held and searched at once (memory bound), and items read per query
        self.chunk_forms = chunk_forms
        self.item_batch = item_batch
        self._lock = threading.Lock()
        #: 256-bit forms of the final past items, held between passes (see :mod:`seawall.uploads.retro_forms`)
        self.form_index = form_index
        self._forms: ItemFormIndex | None = None
        #: where the held forms are saved, so a restart loads them instead of reading every item again
        self.snapshot_dir = snapshot_dir
        self._volatile: list[str] = []
        #: who runs the background passes and holds the forms; one pass at a time (see retro_lead)
        self.lead = RetroLead(db, snapshot_dir)
        #: entry id -> value of the entries looked up in the held forms during this pass
        self._verify: dict[int, str] = {}

    # --- state ----------------------------------------------------------------------------------
    def _load_state(self, s: Session) -> _State:
        row = s.get(RuntimeFlagRow, STATE_NAME)
        value = dict(row.value or {}) if row is not None else {}
        return _State(entry_id=int(value.get("entry_id", 0)), horizon=value.get("horizon"),
                      last=dict(value.get("last") or {}))

    def _save_state(self, state: _State) -> None:
        value = {"entry_id": state.entry_id, "horizon": state.horizon, "last": state.last}
        with self.db.session() as s:
            row = s.get(RuntimeFlagRow, STATE_NAME)
            if row is None:
                s.add(RuntimeFlagRow(name=STATE_NAME, value=value, updated_by="retro", updated_at=utcnow()))
            else:
                row.value, row.updated_at = value, utcnow()

    def status(self) -> dict[str, Any]:
        """The cursor, how many block-bank entries wait for a pass, the last run's report, and the forms held
        between passes (their memory is the largest thing retro-matching keeps)."""
        with self.db.session() as s:
            state = self._load_state(s)
            waiting = s.scalar(select(func.count()).select_from(BankEntryRow)
                               .join(BankRow, BankRow.id == BankEntryRow.bank_id)
                               .where(BankEntryRow.id > state.entry_id, BankRow.kind == "block", BankRow.enabled))
        forms = self._forms
        held = None if forms is None else {"types": sorted(forms.types), "items": len(forms),
                                           "forms": forms.forms(), "memory_bytes": forms.memory_bytes()}
        return {"cursor": state.entry_id, "pending_entries": int(waiting or 0),
                "window_days": self.window.total_seconds() / 86400, "last_run": state.last or None,
                "held_forms": held}

    def has_work(self) -> bool:
        """Entries past the cursor, or (PostgreSQL) entries below it whose transaction committed since."""
        with self.db.session() as s:
            state = self._load_state(s)
            newest = s.scalar(select(BankEntryRow.id).order_by(BankEntryRow.id.desc()).limit(1))
            if newest is not None and int(newest) > state.entry_id:
                return True
            if self.db.dialect != "postgresql" or state.horizon is None:
                return False
            late = s.scalar(select(BankEntryRow.id).where(
                BankEntryRow.id <= state.entry_id,
                text("bank_entries.tx_id >= (:low)::text::xid8")).limit(1), {"low": state.horizon})
        return late is not None

    # --- a run ----------------------------------------------------------------------------------
    def run(self, *, window: timedelta | None = None, since_entry_id: int | None = None,
            entry_limit: int = ENTRY_LIMIT) -> RetroReport:
        """One pass: new entries against the items received within ``window`` (default: the configured one).

        ``since_entry_id`` re-runs every block entry above that id whatever the cursor says (after
        widening the window, say); pairs already recorded are skipped, so nothing is acted on twice.
        """
        report = RetroReport(started_at=utcnow().isoformat())
        t0 = time.perf_counter()
        with self._lock, self.lead.one_pass() as mine:
            if not mine:
                report.skipped = "another process or node is running retro-matching"
                return report
            # only the leading process holds the forms of past items; another one asked for a pass scans
            use_forms = self.form_index and self.lead.leads()
            with self.db.session() as s:
                state = self._load_state(s)
            horizon = self.db.commit_horizon()
            if since_entry_id is not None:
                entries, new_cursor = self._new_entries(_State(entry_id=since_entry_id), None, entry_limit)
                new_cursor = max(state.entry_id, new_cursor) if len(entries) < entry_limit else state.entry_id
                horizon = state.horizon
                passed = len(entries)
            elif not self._items_since(utcnow() - (window or self.window)):
                # No item at all inside the window: no entry can match a past item, so the cursor moves to the
                # newest entry without reading any. After a bulk import of 10M entries every server process
                # otherwise read them all, 200,000 per pass, holding the GIL while lookups waited.
                entries, (new_cursor, passed) = [], self._pass_entries(state.entry_id)
            else:
                entries, new_cursor = self._new_entries(state, horizon, entry_limit)
                passed = len(entries)
            report.entries = passed
            if entries:
                self._scan(entries, window or self.window, report, use_forms)
            report.cursor = new_cursor
            report.seconds = round(time.perf_counter() - t0, 3)
            self._save_forms()
            changed = entries or new_cursor != state.entry_id or (horizon is not None and horizon != state.horizon)
            if changed:
                state.entry_id = new_cursor
                if horizon is not None:
                    state.horizon = horizon
                if report.entries:
                    state.last = report.to_dict()
                self._save_state(state)
        if report.items_matched:
            log.info("retro-matching: %d new entries matched %d past items (%d actions)", report.entries,
                     report.items_matched, report.actions)
        return report

    def _items_since(self, since: datetime) -> bool:
        """Whether any item (complete or not) was received at or after ``since``: one index probe."""
        with self.db.session() as s:
            return s.scalar(select(ItemRow.id).where(ItemRow.received_at >= since).limit(1)) is not None

    def _pass_entries(self, cursor: int) -> tuple[int, int]:
        """The newest entry id, and how many block-bank entries lie between ``cursor`` and it (counted, not read)."""
        with self.db.session() as s:
            newest = max(cursor, int(s.scalar(select(func.max(BankEntryRow.id))) or 0))
            passed = s.scalar(select(func.count()).select_from(BankEntryRow)
                              .join(BankRow, BankRow.id == BankEntryRow.bank_id)
                              .where(BankEntryRow.id > cursor, BankEntryRow.id <= newest, BankRow.kind == "block",
                                     BankRow.enabled))
        return newest, int(passed or 0)

    def _new_entries(self, state: _State, horizon: int | None,
                     limit: int) -> tuple[list[tuple[int, str, str]], int]:
        """Block-bank entries past the cursor, plus (PostgreSQL) ones committed late below it."""
        base = (select(BankEntryRow.id, BankEntryRow.signal_type, BankEntryRow.value)
                .join(BankRow, BankRow.id == BankEntryRow.bank_id)
                .where(BankRow.kind == "block", BankRow.enabled))
        with self.db.session() as s:
            fresh = s.execute(base.where(BankEntryRow.id > state.entry_id).order_by(BankEntryRow.id)
                              .limit(limit)).all()
            # the newest id at all (allow banks included) moves the cursor when nothing of interest is new
            newest = s.scalar(select(BankEntryRow.id).order_by(BankEntryRow.id.desc()).limit(1)) or 0
            late: list[Any] = []
            if horizon is not None and state.horizon is not None and horizon > state.horizon:
                late = list(s.execute(base.where(
                    BankEntryRow.id <= state.entry_id,
                    text("bank_entries.tx_id >= (:low)::text::xid8 AND bank_entries.tx_id < (:high)::text::xid8"),
                ), {"low": state.horizon, "high": horizon}).all())
        rows = [(int(r[0]), str(r[1]), str(r[2])) for r in [*late, *fresh]]
        cursor = int(fresh[-1][0]) if len(fresh) == limit else max(state.entry_id, int(newest))
        return rows, cursor

    def _scan(self, entries: list[tuple[int, str, str]], window: timedelta, report: RetroReport,
              use_forms: bool) -> None:
        by_type: dict[str, list[tuple[int, str]]] = {}
        for entry_id, signal_type, value in entries:
            by_type.setdefault(signal_type, []).append((entry_id, value))
        # 256-bit types are searched chunk by chunk in whichever direction reads less (retro_scan); the
        # others through a small index of the new entries, page by page
        indexes: dict[str, SignalIndex] = {}
        searches: dict[str, FormSearch] = {}
        for signal_type, pairs in by_type.items():
            kind = self.registry.signal_types.get(signal_type)
            if kind is None:
                continue
            if kind.index_kind == "hamming256":
                searches[signal_type] = form_search([p[0] for p in pairs], [p[1] for p in pairs])
            else:
                indexes[signal_type] = kind.create_index()
                indexes[signal_type].add(pairs)
        if not indexes and not searches:
            return
        types = [*indexes, *searches]
        radius = {t: self.matcher.radius(t) if self.registry.signal(t).uses_distance else 0 for t in types}
        trusted: dict[tuple[str, int | None], bool] = {}
        chunks = {t: _Chunk() for t in searches}
        pending: dict[str, list[_Hit]] = {}
        since = utcnow() - window
        pages: Iterator[SignalPage]
        if use_forms and searches:
            # 256-bit types: look the new entries up in the held forms of the final past items; only the
            # items that are not final yet are read and searched page by page, with the other types
            report.items_scanned += self._held_form_hits(by_type, list(searches), since, radius, pending)
            scanned = 0
            self._verify = {entry_id: value for t in searches for entry_id, value in by_type[t]}
            rest = list(indexes)
            volatile = signals_of(self.db, self._volatile, list(searches), self.item_batch)
            pages = chain(signal_pages(self.db, since, rest, self.item_batch) if rest else iter(()), volatile)
        else:
            scanned, self._verify = 0, {}
            pages = signal_pages(self.db, since, types, self.item_batch)
        for page in read_ahead(pages):
            scanned += page.items
            queries: dict[str, list[str]] = {t: [] for t in indexes}
            owners: dict[str, list[tuple[int, int]]] = {t: [] for t in indexes}
            for row, stype in enumerate(page.types):
                quality = page.qualities[row]
                ok = trusted.get((stype, quality))
                if ok is None:
                    ok = trusted[(stype, quality)] = self.matcher.trustworthy(stype, quality)
                if not ok:
                    continue
                chunk = chunks.get(stype)
                if chunk is not None:
                    run = hex_forms(page.values[row], page.variants[row])
                    if run is not None:
                        chunk.add(page.item_ids[row], page.positions[row], run)
                    continue
                forms = [page.values[row], *page.variants[row]]
                queries[stype].extend(forms)
                owners[stype].extend((row, k) for k in range(len(forms)))
            for signal_type, values in queries.items():
                for cand in indexes[signal_type].search(values, radius[signal_type]) if values else []:
                    row, k = owners[signal_type][cand.query_index]
                    pending.setdefault(page.item_ids[row], []).append(
                        (page.positions[row], signal_type, replace(cand, query_index=k)))
            for signal_type, chunk in chunks.items():
                if chunk.forms.size >= self.chunk_forms:
                    self._search_chunk(chunk, searches[signal_type], radius[signal_type], signal_type, pending)
            if pending and not any(c.forms.size for c in chunks.values()):
                self._apply_hits(pending, report)  # nothing held back: an item's hits are all in
                pending = {}
        for signal_type, chunk in chunks.items():
            if chunk.forms.size:
                self._search_chunk(chunk, searches[signal_type], radius[signal_type], signal_type, pending)
        if pending:
            self._apply_hits(pending, report)
        if not (use_forms and searches):
            report.items_scanned = scanned
        elif indexes:  # the other types' scan read every item of the window too
            report.items_scanned = max(report.items_scanned, scanned)

    def _held_form_hits(self, by_type: dict[str, list[tuple[int, str]]], types: list[str], since: datetime,
                        radius: dict[str, int], pending: dict[str, list[_Hit]]) -> int:
        """Bring the held forms in step with the store and look the new entries up; returns items covered."""
        forms = self._held(set(types))
        synced = forms.sync(self.db, since, self.item_batch)
        self._volatile = synced.volatile
        for signal_type in types:
            pairs = by_type[signal_type]
            hits = forms.search(signal_type, [p[0] for p in pairs], [p[1] for p in pairs],
                                      radius[signal_type])
            for item_id, position, place, entry_id, d in zip(hits.item_ids, hits.positions, hits.places,
                                                             hits.entry_ids, hits.distances, strict=True):
                pending.setdefault(item_id, []).append((position, signal_type, Candidate(place, entry_id, d)))
        return synced.items

    @property
    def held_forms(self) -> ItemFormIndex | None:
        """The forms held between passes (None before the first pass that needed them)."""
        return self._forms

    def sync_forms(self, types: list[str], *, window: timedelta | None = None) -> SyncResult | None:
        """Bring the held forms of ``types`` (256-bit types) in step with the store now -- between passes,
        after a start-up -- so that the next pass finds them ready; None when holding forms is off."""
        if not self.form_index:
            return None
        with self._lock:
            forms = self._held(form_index_types(self.registry.signal_types) & set(types))
            synced = forms.sync(self.db, utcnow() - (window or self.window), self.item_batch)
            self._save_forms()
            return synced

    def _held(self, types: set[str] | frozenset[str]) -> ItemFormIndex:
        """The held forms of at least ``types``: kept, else the last save, else new (read at the next sync)."""
        if self._forms is None and self.snapshot_dir is not None and self.snapshot_dir.exists():
            try:
                self._forms = ItemFormIndex.load(self.snapshot_dir)
            except (SnapshotError, OSError, ValueError) as e:
                log.warning("retro-matching: the saved forms of past items are not used (%s); reading them "
                            "from the store", e)
        if self._forms is None or not types <= self._forms.types:
            self._forms = ItemFormIndex(types | (self._forms.types if self._forms is not None else set()))
        return self._forms

    def _save_forms(self) -> None:
        """Save the held forms when enough changed; a failed save costs only a slower next start."""
        if self._forms is None or self.snapshot_dir is None or not self._forms.worth_saving():
            return
        try:
            self._forms.save(self.snapshot_dir)
        except OSError as e:
            log.warning("retro-matching: could not save the forms of past items: %s", e)

    def _search_chunk(self, chunk: _Chunk, search: FormSearch, radius: int, signal_type: str,
                      pending: dict[str, list[_Hit]]) -> None:
        """Search a chunk's stored forms against the new entries; its hits join ``pending``; empty it."""
        forms, owner, place = chunk.forms.arrays()
        rows, entry_ids, dists = search.search(forms, radius)
        for r, entry_id, d in zip(rows.tolist(), entry_ids.tolist(), dists.tolist(), strict=True):
            signal = int(owner[r])
            pending.setdefault(chunk.item_ids[signal], []).append(
                (chunk.positions[signal], signal_type, Candidate(int(place[r]), int(entry_id), int(d))))
        chunk.clear()

    def _apply_hits(self, pending: dict[str, list[_Hit]], report: RetroReport) -> None:
        """Turn (signal position, type, candidate) hits into the matcher's hits, with the hit items' names."""
        signals = stored_signals(self.db, list(pending))
        hits_by_item: dict[str, list[tuple[ComputedSignal, Candidate, list[str]]]] = {}
        for item_id, hits in pending.items():
            stored = signals.get(item_id, [])
            for position, signal_type, cand in hits:
                d = stored[position] if position < len(stored) else {}
                if d.get("type") != signal_type:
                    continue  # the item changed since it was read
                variants = list(d.get("variants") or [])
                if not self._still_holds(d, variants, signal_type, cand):
                    continue
                computed = ComputedSignal(signal_type, d["value"], d.get("quality"), variants,
                                          list(d.get("names") or []))
                names = list(computed.names) or self.registry.signal(signal_type).query_variant_names(len(variants))
                hits_by_item.setdefault(item_id, []).append((computed, cand, names))
        if hits_by_item:
            self._apply_batch(hits_by_item, report)

    def _still_holds(self, d: dict[str, Any], variants: list[str], signal_type: str, cand: Candidate) -> bool:
        """A held form's hit, checked against the stored signal itself: trusted, and at the same distance."""
        entry = self._verify.get(cand.entry_id)
        if entry is None:
            return True  # found in signals read during this pass
        quality = d.get("quality")
        if not self.matcher.trustworthy(signal_type, int(quality) if quality is not None else None):
            return False
        forms = [d.get("value", ""), *variants]
        if cand.query_index >= len(forms) or len(forms[cand.query_index]) != 64:
            return False
        stored = hex_rows_to_array([forms[cand.query_index], entry])
        return int(hamming(stored[:1], stored[1:])[0]) == cand.distance

    def _apply_batch(self, hits_by_item: dict[str, list[tuple[ComputedSignal, Candidate, list[str]]]],
                     report: RetroReport) -> None:
        with self.db.session() as s:
            known: dict[str, set[int]] = {}
            for item_id, entry_id in s.execute(select(MatchRow.item_id, MatchRow.entry_id)
                                               .where(MatchRow.item_id.in_(list(hits_by_item)))):
                known.setdefault(str(item_id), set()).add(int(entry_id))
        for item_id, hits in hits_by_item.items():
            fresh = [m for m in self.matcher.resolve(hits) if m.entry_id not in known.get(item_id, set())
                     and m.bank_kind == "block"]
            if fresh:
                report.actions += self._apply(item_id, fresh)
                report.items_matched += 1
                report.matches += len(fresh)

    def _apply(self, item_id: str, fresh: list[Match]) -> int:
        """Store the new matches, decide the item again and act, in one transaction; returns actions taken.

        An item a person already decided about (a reviewer, an appeal, a removal order) is not acted on:
        that decision stands and the matches are recorded with it. When the rules would now act on an item
        the person left up, it goes back to the review queue at high priority, with the new match in the
        case's reason (:meth:`_hold_for_review`).
        """
        item = self.load_item(item_id)
        done = {a.type for a in item.verdict.actions}
        notes = [f"retro-match: {m.signal_type} entry {m.entry_id} of bank {m.bank_name} was added after this "
                 "item was received" for m in fresh]
        verdict = self.decide(item, [*item.verdict.matches, *fresh], notes)
        actions: list[Action] = []
        for a in verdict.actions:
            kind = "remove" if a.type == "block" else a.type  # already published: take it down
            if kind not in done and all(kind != b.type for b in actions):
                actions.append(Action(kind, dict(a.params), a.rule))
        verdict.actions = actions
        with self.db.session() as s:
            # the check below must see a person's decision committed before this transaction acts: the item's
            # row is held (a case decision updates it in its own transaction)
            row = get_locked(s, ItemRow, item.id)
            s.execute(insert(MatchRow), [
                {"item_id": item.id, "bank_id": m.bank_id, "bank_name": m.bank_name, "bank_kind": m.bank_kind,
                 "entry_id": m.entry_id, "signal_type": m.signal_type, "distance": m.distance, "labels": m.labels,
                 "action": m.action, "variant": m.variant} for m in fresh])
            tag_cases_of_item(s, item.id, fresh)
            event: dict[str, Any] = {"item_id": item.id, "content_id": item.content_id,
                                     "account_id": item.account_id, "matches": [m.to_dict() for m in fresh]}
            if decided_by_a_person(s, item.id):
                queued = self._hold_for_review(s, row, item, fresh, notes, verdict, event)
                actions = []
            else:
                item.verdict = verdict
                s.execute(update(ItemRow).where(ItemRow.id == item.id)
                          .values(verdict=verdict.verdict, reasons=verdict.reasons))
                queued = self.runner.record(s, item)
                queued += self.outbox.emit(s, [("item.retro_match", {
                    **event, "verdict": verdict.verdict, "actions": [a.to_dict() for a in actions],
                    "reasons": verdict.reasons})])
        if queued and self.on_events is not None:
            self.on_events()
        return len(actions)

    def _hold_for_review(self, s: Session, row: ItemRow | None, item: Item, fresh: list[Match], notes: list[str],
                         verdict: Verdict, event: dict[str, Any]) -> int:
        """A person decided about ``item``: keep its verdict, note the new matches, and when the rules would
        act on them and a person let it stay up, open (or raise) its review case; returns the webhook deliveries
        queued (``row``: the item's row, held by the caller)."""
        kept = row.verdict if row is not None and row.verdict else item.verdict.verdict
        reasons = [*(row.reasons if row is not None and row.reasons else item.verdict.reasons),
                   *(f"{n}; a person decided about this item before, so nothing was acted on" for n in notes)]
        s.execute(update(ItemRow).where(ItemRow.id == item.id).values(reasons=reasons))
        case_id = None
        # only an item a person let stay up (allowed, or up with a label) is worth a second look; one they took
        # down or held is theirs to finish, and nothing is carried out over their choice of actions
        if verdict.actions and kept in VISIBLE and self.runner.cases is not None:
            item.verdict = Verdict(kept, [*item.verdict.matches, *fresh], reasons)
            found = ", ".join(f"{m.signal_type} entry {m.entry_id} of bank {m.bank_name}" for m in fresh)
            case_id = self.runner.cases(
                s, item, source="retro", reason=f"retro-match after a person's decision: {found}; the rules "
                f"would now {', '.join(a.type for a in verdict.actions)}", tier="high",
                media=reviewed_media(s, item.id))
        return self.outbox.emit(s, [("item.retro_match", {
            **event, "verdict": kept, "actions": [], "reasons": reasons, "decided_by_a_person": True,
            "review_case_id": case_id})])


class RetroLoop:
    """Runs :meth:`RetroMatcher.run` whenever new entries wait, every ``interval`` seconds, on one thread."""

    def __init__(self, retro: RetroMatcher, interval: float) -> None:
        self.retro = retro
        self.interval = interval
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="seawall-retro-match", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """New entries were added here: run soon instead of at the next tick."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                if self.retro.lead.leads() and self.retro.has_work():
                    self.retro.run()
            except Exception:
                log.exception("retro-matching failed; retrying at the next tick")

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=30)
