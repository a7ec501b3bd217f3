"""Upload → signals → matches → verdict → stored item, the path every platform upload takes.

Images and text are decided within the request (stage 1) from what is cheap and exact. Slow tasks that
could still change the outcome (OCR, see :mod:`seawall.uploads.stages`) run afterwards on the work queue (stage
2): the item is stored with its stage-1 verdict, ``final: false`` and its bytes, and stage 2 decides it
again through the same rules and acts once if the outcome changed. Content that a deferred signal
applies to (video) is stored as ``pending`` with its bytes spooled to disk, processed by a background
stage, and its verdict written when ready; the spool file is removed whatever the outcome.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Table, delete, func, insert, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from seawall.errors import InvalidInput, NotFound, Retryable, SeawallError
from seawall.media.content import Content
from seawall.media.language import language_from_reasons, language_reason
from seawall.media.sniff import sniff_media_type
from seawall.models.records import Action, ComputedSignal, Item, Match, Verdict
from seawall.plugins import Registry
from seawall.storable import check_stored
from seawall.store.convert import aware
from seawall.store.db import Database
from seawall.store.group_commit import GroupCommit
from seawall.store.tables import ActionRow, ItemContentRow, ItemRow, ItemUploadRow, MatchRow, utcnow
from seawall.store.write_lock import get_locked
from seawall.uploads.item_ids import new_item_id
from seawall.uploads.person_decisions import decided_by_a_person
from seawall.uploads.slow_process import OFFLOADED, SlowProcesses, adopt
from seawall.uploads.spool import UploadSpool
from seawall.uploads.stages import STAGE_TWO, STAGE_TWO_TASKS, SlowTask, by_names, image_region_signals, tasks_for
from seawall.uploads.stages import regions_apply as _regions_apply
from seawall.verdicts.decide import ItemDecider, decide
from seawall.verdicts.matching import Matcher, MatchOutcome

log = logging.getLogger(__name__)

MAX_ID_LENGTH = 300
#: Largest platform context kept with an item's content, as compact JSON (a Matrix event is at most 64 KiB).
MAX_CONTEXT_BYTES = 100_000
STAGE_SIGNALS = "signals"
ITEM_TABLE: Table = ItemRow.__table__  # type: ignore[assignment]
#: Statements every upload runs, built once (building and cache-keying them per call cost as much as running them).
_INSERT_ITEM = ITEM_TABLE.insert()
_INSERT_UPLOAD = insert(ItemUploadRow)
_INSERT_KEPT = insert(ItemContentRow)
_INSERT_MATCHES = insert(MatchRow)

#: Errors that say nothing about the item: the store went away for a moment. The job is retried, not failed.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    Retryable, sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError, sa_exc.TimeoutError,
)


def compute_signals(registry: Registry, content: Content, *, for_query: bool) -> list[ComputedSignal]:
    """Every registered signal that applies to the content type; decoding errors propagate as 4xx."""
    out: list[ComputedSignal] = []
    for sig in registry.signal_types.values():
        if sig.applies_to(content.content_type):
            out.extend(sig.compute(content, for_query=for_query))
    if for_query and not content.defer_slow and _regions_apply(content):
        # No work queue to defer to: the slow region hashes run here (otherwise the "regions" stage-2 task does)
        out.extend(image_region_signals(registry, content, out))
    return out


#: Texts up to this size (UTF-8) may be decided on the event loop; a longer one would hold it up for
#: milliseconds, so it is decided in a thread.
ON_LOOP_MAX_BYTES = 64 * 1024
#: Views/followers beyond this are not a real platform's numbers.
MAX_REACH = 10**12


def _check_id(value: str | None, field: str, *, required: bool) -> str | None:
    if value is None or value == "":
        if required:
            raise InvalidInput(f"{field}: is required", code="missing_field")
        return None
    if len(value) > MAX_ID_LENGTH:
        raise InvalidInput(f"{field}: at most {MAX_ID_LENGTH} characters", code="invalid_field")
    return str(check_stored(value, field))


def _check_context(context: dict[str, Any] | None) -> dict[str, Any] | None:
    if context is None:
        return None
    if not isinstance(context, dict):
        raise InvalidInput("context: must be a JSON object", code="invalid_field")
    if len(json.dumps(context, separators=(",", ":"))) > MAX_CONTEXT_BYTES:
        raise InvalidInput(f"context: at most {MAX_CONTEXT_BYTES:,} bytes as JSON", code="invalid_field")
    check_stored(context, "context")
    return context


def _checked(content_id: str, account_id: str | None, context: dict[str, Any] | None,
             reach: int | None) -> tuple[str, str | None, dict[str, Any] | None]:
    """The upload's ids and context as stored, or the 422 for the first that cannot be."""
    cid = _check_id(content_id, "content_id", required=True)
    if reach is not None and (isinstance(reach, bool) or not 0 <= reach <= MAX_REACH):
        raise InvalidInput(f"reach: a whole number from 0 to {MAX_REACH}", code="invalid_field")
    aid = _check_id(account_id, "account_id", required=False)
    assert cid is not None
    return cid, aid, _check_context(context)


def _new_item(content: Content, cid: str, aid: str | None, submitted_by: str | None, reach: int | None) -> Item:
    return Item(id=new_item_id(), content_id=cid, account_id=aid, content_type=content.content_type,
                received_at=utcnow(), signals=[], verdict=Verdict("allow"), size_bytes=len(content.raw_bytes),
                submitted_by=submitted_by, reach=reach)


def once_key(submitted_by: str | None, content_id: str) -> str:
    """The store-wide key of a ``once`` upload: its uniqueness is what makes a re-send return the first item.

    A digest, because a submitter and a content id together are too long for a portable unique index.
    """
    return hashlib.sha256(json.dumps([submitted_by, content_id]).encode("utf-8")).hexdigest()


def _kept_row(item: Item, data: bytes, context: dict[str, Any] | None, reason: str) -> dict[str, Any]:
    return {"item_id": item.id, "media_type": sniff_media_type(data, item.content_type), "data": data,
            "context": context or {}, "reason": reason, "created_at": utcnow()}


class _Rehearsed(Exception):
    """Raised at the end of a rehearsed write (:meth:`ItemService.rehearse`) so its transaction is rolled back."""


class ItemService:
    def __init__(self, db: Database, registry: Registry, matcher: Matcher, spool_dir: Path,
                 content_factory: Callable[[str, bytes], Content], *, spool_in_store: bool = False,
                 decider: Callable[[Item, list[Match], list[str], bool], Verdict] | None = None,
                 after_write: Callable[[Session, Item, bytes | None], int] | None = None,
                 on_events: Callable[[], None] | None = None,
                 emit: Callable[[Session, list[tuple[str, dict[str, Any]]]], int] | None = None,
                 on_final: Callable[[str], None] | None = None, writes: GroupCommit | None = None,
                 pooled: Callable[[Item, str], Sequence[tuple[Any, dict[str, Any]]] | None] | None = None) -> None:
        self.db = db
        self.registry = registry
        self.matcher = matcher
        self.spool_dir = spool_dir
        self.content_factory = content_factory
        #: Where upload writes go: concurrent uploads share a transaction (one commit), each still durable
        #: before its request returns.
        self.writes = writes if writes is not None else GroupCommit(db)
        #: Set while workers run (:meth:`seawall.engine.Engine.start_workers`); None: every stage runs inline.
        self.enqueue: Callable[[str, str], None] | None = None
        #: Keep deferred uploads in the store (scale-out: any worker may process them) instead of spool_dir.
        self.spool_in_store = spool_in_store
        #: The decide stage: (item, matches, notes, deferred) → verdict; the bank defaults when unset.
        self.decider = decider
        #: The act stage, run inside the transaction that stores the item; returns webhook deliveries queued.
        #: It is given the upload's bytes while they are at hand (a review case keeps them).
        self.after_write = after_write
        #: The act stage's rows for an item that needs nothing else of it, pooled with the group commit's other
        #: uploads (see :meth:`seawall.actions.runner.ActionRunner.pooled`); ``after_write`` is then not called.
        self.pooled = pooled
        #: Told after a commit that queued webhook deliveries, so they go out without waiting for a poll.
        self.on_events = on_events
        #: Stage-2 tasks (None: :data:`seawall.uploads.stages.STAGE_TWO_TASKS`); they run only when ``enqueue`` is set,
        #: otherwise (no queue: tests, one-off CLI use) every step runs inside the request as one stage.
        self.slow_tasks: list[SlowTask] | None = None
        #: Queues webhook events in a session (the outbox), for the ``item.redecided`` event of stage 2.
        self.emit = emit
        #: Told (with the item id) when an item's stage 2 finished, so requests waiting for it return at once.
        self.on_final = on_final
        #: Worker processes for the heavy part of the built-in stage-2 tasks (None: they run in the queue thread).
        self.slow_processes: SlowProcesses | None = None
        #: How many stage-2 jobs wait in this server's queue, and the most that may (0: no limit).
        self.stage_two_depth: Callable[[], int] | None = None
        self.stage_two_max = 0
        #: Uploads whose stage 2 was skipped because the queue was full (since start; /metrics).
        self.stage_two_skipped = 0
        #: When (time.monotonic) the last one was skipped: /healthz says degraded for a while after it.
        self.stage_two_skipped_at: float | None = None
        #: Where uploads waiting for stage 2 keep their bytes: files of this node (single-node SQLite, see
        #: :mod:`seawall.uploads.spool`), or None: ``item_uploads`` rows, which any node of the store can read.
        self.stage_two_spool: UploadSpool | None = None

    def is_deferred(self, content_type: str) -> bool:
        return any(s.deferred and s.applies_to(content_type) for s in self.registry.signal_types.values())

    def submit(self, content: Content, *, content_id: str, account_id: str | None,
               submitted_by: str | None, keep: bool = False, context: dict[str, Any] | None = None,
               once: bool = False, reach: int | None = None) -> Item:
        """Decide an upload and store it.

        ``keep`` stores the content even if it is allowed (so a later removal has its evidence);
        content that is not allowed is always kept. ``context`` is the platform's record of the upload,
        kept with the content. ``once`` returns the stored item when this submitter already sent this
        ``content_id``, so a platform that re-sends an upload (retries, federation) gets one decision;
        a unique key in the store (:func:`once_key`) keeps that true for re-sends that arrive together.
        ``reach`` (views or followers, if the platform knows them) raises a review case's priority.
        """
        with self.writes.arriving():  # concurrent uploads' writes wait a moment for this one's
            return self._submit(content, content_id=content_id, account_id=account_id, submitted_by=submitted_by,
                                keep=keep, context=context, once=once, reach=reach)

    def _submit(self, content: Content, *, content_id: str, account_id: str | None, submitted_by: str | None,
                keep: bool, context: dict[str, Any] | None, once: bool, reach: int | None) -> Item:
        cid, aid, context = _checked(content_id, account_id, context, reach)
        if once:
            earlier = self.find_submitted(cid, submitted_by)
            if earlier is not None:
                return earlier
        self.registry.check_content_type(content.content_type)
        item = _new_item(content, cid, aid, submitted_by, reach)
        key = once_key(submitted_by, cid) if once else None
        if self.is_deferred(content.content_type) and self.enqueue is not None:
            for sig in self.registry.signal_types.values():
                if sig.deferred and sig.applies_to(content.content_type):
                    sig.precheck(content)
            item.status = "pending"
            kept = _kept_row(item, content.raw_bytes, context, "asked") if keep else None
            if self.spool_in_store:
                first = self._insert(item, upload=content.raw_bytes, kept=kept, once=key)
            else:
                self._spool(item.id, content.raw_bytes)
                first = self._insert(item, kept=kept, once=key)
                if first is not None:
                    self._spool_path(item.id).unlink(missing_ok=True)
            if first is not None:
                return first
            self.enqueue(STAGE_SIGNALS, item.id)
            return item
        later = tasks_for(content, self.slow_tasks) if self.enqueue is not None else []
        if later and self._stage_two_full():
            # shed the optional work rather than let the backlog (and the bytes it keeps) grow without end
            content.defer_slow = True
            content.notes.append(f"stage 2 ({', '.join(t.name for t in later)}) skipped: {self.stage_two_max:,} "
                                 "uploads already wait for it; this verdict is final without them")
            self.stage_two_skipped += 1
            self.stage_two_skipped_at = time.monotonic()
            later = []
        if later:  # stage 1 now, the slow tasks on the queue; the bytes wait in the item's own transaction
            content.defer_slow = True
            item.pending = [t.name for t in later]
        self._decide(item, content)
        flagged = item.verdict.verdict != "allow"
        spool = self.stage_two_spool if later else None
        if spool is not None:  # on disk before the item commits: a committed pending item always has its bytes
            spool.write(item.id, content.raw_bytes)
        try:
            first = self._insert(item, upload=content.raw_bytes if later and spool is None else None,
                                 kept=_kept_row(item, content.raw_bytes, context, "flagged" if flagged else "asked")
                                 if flagged or keep else None, once=key)
        except Exception:  # not stored: its bytes go too (an interrupted commit leaves them to the start-up sweep)
            if spool is not None:
                spool.discard(item.id)
            raise
        if first is not None:
            if spool is not None:
                spool.discard(item.id)
            return first
        if later and self.enqueue is not None:
            self.enqueue(STAGE_TWO, item.id)
        return item

    def _stage_two_full(self) -> bool:
        return (self.stage_two_max > 0 and self.stage_two_depth is not None
                and self.stage_two_depth() >= self.stage_two_max)

    async def submit_on_loop(self, content: Content, *, content_id: str, account_id: str | None,
                             submitted_by: str | None, keep: bool = False, context: dict[str, Any] | None = None,
                             reach: int | None = None) -> Item | None:
        """:meth:`submit` for a text upload, decided on the caller's event loop; only the write is awaited.

        Why: a text item is decided in about a millisecond of CPU, and handing it to a worker thread and
        back cost as much again. The decision runs here only when it cannot touch the store, so the loop
        never waits on the database; the durable write goes to the group commit
        (:meth:`GroupCommit.run_async`) and this returns once it committed, as :meth:`submit` does.

        Returns None, having stored nothing, when the store could be needed to decide or the text is long
        (over ``ON_LOOP_MAX_BYTES``): content other than plain text (or with deferred or stage-2 work), a
        decider other than the rules', rules that read the account's history, or any candidate in the
        indexes (resolving it reads the bank). The caller then calls :meth:`submit` (in a thread).
        ``once`` uploads always go that way (they read the store first).
        """
        if (content.content_type != "text" or len(content.raw_bytes) > ON_LOOP_MAX_BYTES
                or self.is_deferred(content.content_type)):
            return None
        if self.enqueue is not None and tasks_for(content, self.slow_tasks):
            return None
        with self.writes.arriving():
            cid, aid, context = _checked(content_id, account_id, context, reach)
            self.registry.check_content_type(content.content_type)
            decider = self.decider
            if decider is not None and not (isinstance(decider, ItemDecider)
                                            and not (aid and decider.rules.current().needs_account)):
                return None
            item = _new_item(content, cid, aid, submitted_by, reach)
            signals = compute_signals(self.registry, content, for_query=True)
            outcome = self.matcher.match_in_memory(signals)
            if outcome is None:
                return None
            self._conclude(item, content, signals, outcome)
            flagged = item.verdict.verdict != "allow"
            kept = _kept_row(item, content.raw_bytes, context, "flagged" if flagged else "asked") \
                if flagged or keep else None
            first, write = self._writer(item, None, kept, None, None)
            queued = await self.writes.run_async(write, first=first)
        if queued and self.on_events is not None:
            self.on_events()
        return item

    def rehearse(self, content: Content, *, keep: bool = True) -> Item:
        """Decide ``content`` and run its write through the group commit, then roll it back: nothing is stored.

        Why: the first upload of a process otherwise pays for what only happens once per process —
        compiling the item, decision and kept-content INSERTs, the decider's and act stage's first run,
        the item's answer — which is tens of milliseconds against a text item's one or two. The
        warm-up (:mod:`seawall.warmup`) calls this before the server says it is ready. The write runs
        the very code an upload runs and fails at its end on purpose, so the transaction (and any
        webhook event it queued) is rolled back and no wake-up is sent.
        """
        item = _new_item(content, "seawall-warm-up", None, None, None)
        later = tasks_for(content, self.slow_tasks) if self.enqueue is not None else []
        if later:  # as :meth:`_submit`: stage 1 now, the bytes kept for stage 2 in the same write
            content.defer_slow = True
            item.pending = [t.name for t in later]
        self._decide(item, content)
        kept = _kept_row(item, content.raw_bytes, None, "asked") if keep else None
        in_store = later and self.stage_two_spool is None
        first, write = self._writer(item, content.raw_bytes if in_store else None, kept, None, None)

        def write_then_undo(s: Session) -> int:
            if write is not None:
                write(s)
            s.flush()
            raise _Rehearsed()

        with contextlib.suppress(_Rehearsed):
            self.writes.run(write_then_undo, first=first)
        item.to_dict()
        return item

    def find_submitted(self, content_id: str, submitted_by: str | None) -> Item | None:
        """The newest item this submitter sent under ``content_id``, if any (one indexed read)."""
        with self.db.session() as s:
            item_id = s.scalar(select(ItemRow.id).where(ItemRow.content_id == content_id,
                                                        ItemRow.submitted_by == submitted_by)
                               .order_by(ItemRow.received_at.desc()).limit(1))
        return self.get(item_id) if item_id is not None else None

    def find_by_content_id(self, content_id: str, limit: int = 20) -> list[Item]:
        """Items stored under a platform's content id, newest first (a platform knows only its own ids)."""
        with self.db.session() as s:
            ids = list(s.scalars(select(ItemRow.id).where(ItemRow.content_id == content_id)
                                 .order_by(ItemRow.received_at.desc()).limit(limit)))
        return [self.get(i) for i in ids]

    def kept_content(self, item_id: str) -> dict[str, Any]:
        """The kept bytes or text of an item and its context; 404 when the item or its content is not kept."""
        with self.db.session() as s:
            if s.get(ItemRow, item_id) is None:
                raise NotFound(f"no item {item_id!r}", code="item_not_found")
            row = s.get(ItemContentRow, item_id)
            if row is None:
                raise NotFound(f"the content of item {item_id!r} was not kept: it was allowed when submitted "
                               "and the submitter did not ask to keep it", code="content_not_kept")
            return {"item_id": item_id, "media_type": row.media_type, "data": row.data, "context": row.context,
                    "reason": row.reason, "created_at": aware(row.created_at)}

    def _decide(self, item: Item, content: Content) -> None:
        signals = compute_signals(self.registry, content, for_query=True)
        self._conclude(item, content, signals, self.matcher.match(signals))

    def _conclude(self, item: Item, content: Content, signals: list[ComputedSignal], outcome: MatchOutcome) -> None:
        """The verdict from the matches found (the decide stage), and the item's signals and language."""
        lang = content.language()
        item.language = lang.to_dict() if lang is not None else None
        # OCR remarks and the language ride in the reasons, which are stored: no extra column is needed.
        notes = [*outcome.notes, *content.notes, *([language_reason(lang)] if lang is not None else [])]
        if self.decider is not None:
            item.verdict = self.decider(item, outcome.matches, notes, item.status == "pending")
        else:
            item.verdict = decide(outcome.matches, notes)
        item.signals = [ComputedSignal(s.type, s.value, s.quality, list(s.variants), list(s.names)) for s in signals
                        if not s.transient]
        item.status = "complete"

    # --- background stage ----------------------------------------------------------------------
    def _spool_path(self, item_id: str) -> Path:
        return self.spool_dir / f"{item_id}.upload"

    def _spool(self, item_id: str, data: bytes) -> None:
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        final = self._spool_path(item_id)
        tmp = final.with_suffix(".part")
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)

    def pending_ids(self, older_than: timedelta | None = None, limit: int | None = None) -> list[str]:
        """Items still waiting for their background stage (received before now - ``older_than``)."""
        return self._waiting_ids(ItemRow.status == "pending", older_than, limit)

    def _waiting_ids(self, waiting: Any, older_than: timedelta | None, limit: int | None) -> list[str]:
        """Ids of items matching ``waiting``, oldest first: the sweeps that re-queue unfinished work."""
        q = select(ItemRow.id).where(waiting)
        if older_than is not None:
            q = q.where(ItemRow.received_at < utcnow() - older_than)
        q = q.order_by(ItemRow.received_at)
        if limit is not None:
            q = q.limit(limit)
        with self.db.session() as s:
            return list(s.scalars(q))

    def pending_count(self) -> int:
        """Items waiting for their background stage, in the whole store."""
        with self.db.session() as s:
            return int(s.scalar(select(func.count()).select_from(ItemRow).where(ItemRow.status == "pending")) or 0)

    def _load_upload(self, s: Session, item_id: str) -> bytes | None:
        if self.spool_in_store:
            return s.scalar(select(ItemUploadRow.data).where(ItemUploadRow.item_id == item_id))
        path = self._spool_path(item_id)
        return path.read_bytes() if path.exists() else None

    def process(self, item_id: str) -> None:
        """Compute, match and decide a pending item. Idempotent: a finished item is left as it is.

        A transient failure (the store or a remote service briefly gone, see ``TRANSIENT_ERRORS``) is
        raised so the queue delivers the job again, and the upload is kept for that attempt; any other
        failure is the item's own and marks it failed.
        """
        try:
            with self.db.session() as s:
                row = s.get(ItemRow, item_id)
                if row is None or row.status != "pending":
                    self._spool_path(item_id).unlink(missing_ok=True)
                    return
                content_type = row.content_type
                data = self._load_upload(s, item_id)
            if data is None:
                raise SeawallError("the upload was lost before it could be processed", code="upload_lost",
                                   status=500)
            item = self.get(item_id)
            self._decide(item, self.content_factory(content_type, data))
            self._finish(item, data)
        except TRANSIENT_ERRORS:
            raise
        except SeawallError as exc:
            self._fail(item_id, exc.code, exc.message)
        except Exception as exc:
            log.exception("processing item %s failed", item_id)
            self._fail(item_id, "processing_failed", f"processing failed: {type(exc).__name__}")
        self._spool_path(item_id).unlink(missing_ok=True)

    def give_up(self, item_id: str, message: str) -> None:
        """Mark a pending item failed because its job was dead-lettered (it kept failing or crashing workers)."""
        self._fail(item_id, "dead_letter", message)
        self._spool_path(item_id).unlink(missing_ok=True)

    def _finish(self, item: Item, data: bytes) -> None:
        with self.db.session() as s:
            # SQLite too: two deliveries of one job must not both read it as pending and act
            row = get_locked(s, ItemRow, item.id)
            if row is None or row.status != "pending":
                return
            if item.verdict.verdict != "allow" and s.get(ItemContentRow, item.id) is None:
                s.execute(insert(ItemContentRow), [_kept_row(item, data, None, "flagged")])
            row.status = "complete"
            row.verdict = item.verdict.verdict
            row.reasons = item.verdict.reasons
            row.signals = [sig.stored_dict() for sig in item.signals if not sig.transient]
            self._insert_matches(s, item)
            s.execute(delete(ItemUploadRow).where(ItemUploadRow.item_id == item.id))
            queued = self.after_write(s, item, data) if self.after_write is not None else 0
        if queued and self.on_events is not None:
            self.on_events()

    def _fail(self, item_id: str, code: str, message: str) -> None:
        with self.db.session() as s:
            row = get_locked(s, ItemRow, item_id)
            if row is None or row.status != "pending":
                return
            row.status = "failed"
            row.error = {"code": code, "message": message}
            s.execute(delete(ItemUploadRow).where(ItemUploadRow.item_id == item_id))

    # --- stage 2 -------------------------------------------------------------------------------
    def stage_two_ids(self, older_than: timedelta | None = None, limit: int | None = None) -> list[str]:
        """Items whose stage-2 tasks have not finished (received before now - ``older_than``), oldest first."""
        return self._waiting_ids(ItemRow.stage2_pending.is_not(None), older_than, limit)

    def stage_two_count(self) -> int:
        """Items waiting for stage 2, in the whole store (the backlog /metrics shows)."""
        with self.db.session() as s:
            return int(s.scalar(select(func.count()).select_from(ItemRow)
                                .where(ItemRow.stage2_pending.is_not(None))) or 0)

    def process_stage_two(self, item_id: str) -> None:
        """Run an item's pending stage-2 tasks, decide it again if they found something, act once.

        Idempotent: an item whose stage 2 already finished is left as it is, and the finishing
        transaction re-checks that under a row lock, so a redelivered job never acts twice. A transient
        failure is raised for the queue to retry; any other failure finishes stage 2 with a note (the
        stage-1 verdict stands and becomes final).
        """
        with self.db.session() as s:
            row = s.get(ItemRow, item_id)
            if row is None or not row.stage2_pending:
                return
            names = row.stage2_pending.split(",")
            data = self.stage_two_spool.read(item_id) if self.stage_two_spool is not None else None
            in_store = data is None
            if in_store:  # kept in the store (the spool is off, or the upload predates it)
                data = s.scalar(select(ItemUploadRow.data).where(ItemUploadRow.item_id == item_id))
            item = item_in(s, item_id)  # the row is already loaded: only its matches and actions are read
        try:
            if data is None:
                raise SeawallError("the upload was lost before stage 2", code="upload_lost", status=500)
            content = self.content_factory(item.content_type, data)
            content.defer_slow = True  # a task doing slow work switches it off for itself
            tasks = by_names(names, self.slow_tasks)
            offloaded = [t.name for t in tasks if t.name in OFFLOADED and t in STAGE_TWO_TASKS]
            if self.slow_processes is not None and offloaded:
                adopt(content, self.slow_processes.run(content, offloaded, frozenset(self.registry.signal_types)))
            found: list[ComputedSignal] = []
            for task in tasks:
                found.extend(task.run(self.registry, content, item.signals))
            outcome = self.matcher.match(found)
            lang = content.language()
        except TRANSIENT_ERRORS:
            raise
        except Exception as exc:
            if not isinstance(exc, SeawallError):
                log.exception("stage 2 of item %s failed", item_id)
            self.finish_stage_two(item_id, f"stage 2 ({', '.join(names)}) failed: {type(exc).__name__}; "
                                           "the stage-1 verdict stands")
            return
        known = {m.entry_id for m in item.verdict.matches}
        fresh = [m for m in outcome.matches if m.entry_id not in known]
        notes = [*outcome.notes, *content.notes, *([language_reason(lang)] if lang is not None else [])]
        if lang is not None:
            item.language = lang.to_dict()
        self._redecide(item, names, found, fresh, notes, data, in_store=in_store)

    def _redecide(self, item: Item, names: list[str], found: list[ComputedSignal], fresh: list[Match],
                  notes: list[str], data: bytes, *, in_store: bool = True) -> None:
        if not fresh and self._finish_unchanged(item, found, notes, in_store):
            return
        before = item.verdict
        verdict = before
        changed = False
        if fresh:
            # decided after the upload was accepted: a platform may have published it, so block becomes remove
            matches = [*before.matches, *fresh]
            verdict = (self.decider(item, matches, notes, True) if self.decider is not None
                       else decide(matches, notes))
            done = {a.type for a in before.actions}
            if "block" in done:
                done.add("remove")
            verdict.actions = [a for a in verdict.actions if a.type not in done]
            changed = verdict.verdict != before.verdict or bool(verdict.actions)
        if not changed:
            verdict = Verdict(before.verdict, [*before.matches, *fresh], [*before.reasons, *notes],
                              before.actions, before.explanation)
        signals = [*item.signals, *found]
        queued = 0
        with self.db.session() as s:
            # SQLite ignores FOR UPDATE: without its write lock the row read here could predate a reviewer's
            # decision committed before this transaction writes, and stage 2 would put its verdict back
            row = get_locked(s, ItemRow, item.id)
            if row is None or not row.stage2_pending:
                return  # another delivery finished it first
            row.stage2_pending = None
            row.signals = [sig.stored_dict() for sig in signals if not sig.transient]
            if row.verdict != before.verdict or decided_by_a_person(s, item.id):
                # decided while stage 2 ran (a reviewer, an appeal, a removal order): that decision stands,
                # even one that left the verdict as it was (a strike alone, a violating case kept up);
                # what stage 2 found is recorded with it, and nothing is acted on again
                changed = False
                verdict = Verdict(row.verdict or before.verdict, [*before.matches, *fresh],
                                  [*(row.reasons or []), *notes], [], before.explanation)
            row.reasons = verdict.reasons
            row.verdict = verdict.verdict
            if fresh:
                item.verdict = Verdict(verdict.verdict, fresh)
                self._insert_matches(s, item)
            item.verdict, item.signals, item.pending = verdict, signals, []
            if changed:
                if verdict.verdict != "allow" and s.get(ItemContentRow, item.id) is None:
                    s.execute(insert(ItemContentRow), [_kept_row(item, data, None, "flagged")])
                queued = self.after_write(s, item, data) if self.after_write is not None else 0
                if self.emit is not None:
                    queued += self.emit(s, [("item.redecided", {
                        "item_id": item.id, "content_id": item.content_id, "account_id": item.account_id,
                        "stage": STAGE_TWO, "tasks": names, "previous_verdict": before.verdict,
                        "verdict": verdict.verdict, "matches": [m.to_dict() for m in fresh],
                        "actions": [a.to_dict() for a in verdict.actions], "reasons": verdict.reasons,
                    })])
            if in_store:
                s.execute(delete(ItemUploadRow).where(ItemUploadRow.item_id == item.id))
        self.discard_stage_two_upload(item.id)
        if queued and self.on_events is not None:
            self.on_events()
        if self.on_final is not None:
            self.on_final(item.id)

    def _finish_unchanged(self, item: Item, found: list[ComputedSignal], notes: list[str], in_store: bool) -> bool:
        """Stage 2 found no new match (the usual case): its signals and notes are stored and the item becomes
        final in one UPDATE, which itself checks that stage 2 is still pending and the verdict is still
        stage 1's. False when it is not (finished by another delivery, or decided meanwhile by a reviewer):
        the caller's locked path tells those apart.

        Why: the locked path (load the row for update, let the ORM flush it) cost about twice the CPU of
        this statement, for every image upload.
        """
        before = item.verdict
        verdict = Verdict(before.verdict, list(before.matches), [*before.reasons, *notes], before.actions,
                          before.explanation)
        signals = [*item.signals, *found]
        with self.db.session() as s:
            moved = s.execute(
                ITEM_TABLE.update()
                .where(ITEM_TABLE.c.id == item.id, ITEM_TABLE.c.stage2_pending.is_not(None),
                       ITEM_TABLE.c.verdict == before.verdict)
                .values(stage2_pending=None, signals=[sig.stored_dict() for sig in signals if not sig.transient],
                        reasons=verdict.reasons))
            if getattr(moved, "rowcount", 0) != 1:
                return False
            if in_store:
                s.execute(delete(ItemUploadRow).where(ItemUploadRow.item_id == item.id))
        item.verdict, item.signals, item.pending = verdict, signals, []
        self.discard_stage_two_upload(item.id)
        if self.on_final is not None:
            self.on_final(item.id)
        return True

    def finish_stage_two(self, item_id: str, note: str) -> None:
        """End an item's stage 2 without running it (it failed, or its job was dead-lettered): the stage-1
        verdict stands, with ``note`` among its reasons."""
        with self.db.session() as s:
            # SQLite too: the reasons read are the newest, so a note never drops another's
            row = get_locked(s, ItemRow, item_id)
            if row is None or not row.stage2_pending:
                return
            row.stage2_pending = None
            row.reasons = [*row.reasons, note]
            s.execute(delete(ItemUploadRow).where(ItemUploadRow.item_id == item_id))
        self.discard_stage_two_upload(item_id)
        if self.on_final is not None:
            self.on_final(item_id)

    def discard_stage_two_upload(self, item_id: str) -> None:
        """Remove an item's spooled stage-2 bytes (after its stage 2 finished, or when the item is erased:
        whoever deletes an item calls this once the deletion committed)."""
        if self.stage_two_spool is not None:
            self.stage_two_spool.discard(item_id)

    def sweep_stage_two_spool(self) -> int:
        """Remove spool files that no stage 2 will read: their item finished stage 2 or is gone (erased, or
        its upload's transaction never committed). Run at start, before pending work is queued again."""
        if self.stage_two_spool is None:
            return 0

        def pending(ids: list[str]) -> tuple[set[str], set[str]]:
            with self.db.session() as s:
                rows = s.execute(select(ItemRow.id, ItemRow.stage2_pending).where(ItemRow.id.in_(ids))).all()
            return {r[0] for r in rows}, {r[0] for r in rows if r[1]}

        return self.stage_two_spool.sweep(pending)

    # --- storage -------------------------------------------------------------------------------
    def _insert(self, item: Item, upload: bytes | None = None, kept: dict[str, Any] | None = None,
                once: str | None = None, content: bytes | None = None) -> Item | None:
        """One Core INSERT per table (no ORM unit of work): this runs on every upload.

        With a ``once`` key the item row goes first, so a concurrent re-send of the same upload blocks
        on (PostgreSQL) or fails at (SQLite) the unique index before it has written anything; its
        whole transaction (decision, actions, strikes, events) is rolled back and the item that won
        is returned instead. Returns None when this item was stored.
        """
        try:
            self._write(item, upload, kept, once, content)
        except sa_exc.IntegrityError:
            first = self._find_once(once) if once is not None else None
            if first is None:
                raise
            return first
        return None

    def _find_once(self, key: str) -> Item | None:
        with self.db.session() as s:
            item_id = s.scalar(select(ItemRow.id).where(ItemRow.once_key == key))
        return self.get(item_id) if item_id is not None else None

    def _write(self, item: Item, upload: bytes | None, kept: dict[str, Any] | None, once: str | None,
               content: bytes | None) -> None:
        first, write = self._writer(item, upload, kept, once, content)
        queued = self.writes.run(write, first=first)
        if queued and self.on_events is not None:
            self.on_events()

    def _writer(self, item: Item, upload: bytes | None, kept: dict[str, Any] | None, once: str | None,
                content: bytes | None) -> tuple[list[tuple[Any, dict[str, Any]]], Callable[[Session], int] | None]:
        """The rows inserted first, with their group's (the item's, and the act stage's when it can be
        pooled), and the rest of its write, for the group commit: None when there is no rest (most text
        items: no upload, nothing kept, no match, the act stage pooled), so a group of such items needs
        no ORM session."""
        complete = item.status == "complete"
        pooled = self.pooled(item, self.db.dialect) if complete and self.pooled is not None else None

        # the item row goes in with the other item rows of its group commit: one multi-row Core INSERT
        # (the ORM's bulk-insert layer cost as much again as the statement itself)
        row = {
            "id": item.id, "content_id": item.content_id, "account_id": item.account_id,
            "content_type": item.content_type, "received_at": item.received_at, "size_bytes": item.size_bytes,
            "signals": [sig.stored_dict() for sig in item.signals if not sig.transient],
            "verdict": item.verdict.verdict if complete else None,
            "reasons": item.verdict.reasons if complete else [], "submitted_by": item.submitted_by,
            "status": item.status, "error": None, "reach": item.reach, "once_key": once,
            "stage2_pending": ",".join(item.pending) or None,
        }

        def write(s: Session) -> int:
            if upload is not None:
                s.execute(_INSERT_UPLOAD, [{"item_id": item.id, "data": upload}])
            if kept is not None:
                s.execute(_INSERT_KEPT, [kept])
            if complete:
                self._insert_matches(s, item)
            if pooled is not None or self.after_write is None:
                return 0
            return self.after_write(s, item, content)

        rest = (upload is not None or kept is not None or (complete and bool(item.verdict.matches))
                or (pooled is None and self.after_write is not None))
        return [(_INSERT_ITEM, row), *(pooled or ())], write if rest else None

    @staticmethod
    def _insert_matches(s: Session, item: Item) -> None:
        if not item.verdict.matches:
            return
        s.execute(_INSERT_MATCHES, [
            {"item_id": item.id, "bank_id": m.bank_id, "bank_name": m.bank_name, "bank_kind": m.bank_kind,
             "entry_id": m.entry_id, "signal_type": m.signal_type, "distance": m.distance, "labels": m.labels,
             "action": m.action, "variant": m.variant}
            for m in item.verdict.matches
        ])

    def get(self, item_id: str) -> Item:
        with self.db.session() as s:
            return item_in(s, item_id)


def item_in(s: Session, item_id: str) -> Item:
    """An item with its matches and actions, read in the caller's transaction (pages that read
    everything in one transaction use this; :meth:`ItemService.get` opens its own)."""
    row = s.get(ItemRow, item_id)
    if row is None:
        raise NotFound(f"no item {item_id!r}", code="item_not_found")
    match_rows: Sequence[MatchRow] = s.scalars(
        select(MatchRow).where(MatchRow.item_id == item_id).order_by(MatchRow.id)
    ).all()
    action_rows: Sequence[ActionRow] = s.scalars(
        select(ActionRow).where(ActionRow.item_id == item_id).order_by(ActionRow.id)
    ).all()
    actions = [Action(a.type, dict(a.params), a.rule_id) for a in action_rows]
    matches = [
        Match(bank_id=m.bank_id, bank_name=m.bank_name, bank_kind=m.bank_kind, entry_id=m.entry_id,
              signal_type=m.signal_type, distance=m.distance, labels=list(m.labels), action=m.action,
              variant=m.variant)
        for m in match_rows
    ]
    return Item(
        id=row.id,
        content_id=row.content_id,
        account_id=row.account_id,
        content_type=row.content_type,
        received_at=aware(row.received_at) or utcnow(),
        signals=[ComputedSignal(d["type"], d["value"], d.get("quality"), list(d.get("variants") or []),
                                list(d.get("names") or [])) for d in row.signals],
        verdict=Verdict(row.verdict or "allow", matches, list(row.reasons), actions),
        size_bytes=row.size_bytes,
        submitted_by=row.submitted_by,
        status=row.status,
        error=row.error,
        language=language_from_reasons(row.reasons),
        reach=row.reach,
        pending=row.stage2_pending.split(",") if row.stage2_pending else [],
    )
