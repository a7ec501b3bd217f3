"""Upload → signals → matches → verdict → stored item, the path every platform upload takes.

Images and text are decided within the request. Content that a deferred signal applies to (video) is
stored as ``pending`` with its bytes spooled to disk, processed by a background stage, and its verdict
written when ready; the spool file is removed whatever the outcome.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path

from sqlalchemy import delete, insert, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from seawall.domain.models import CONTENT_TYPES, Action, ComputedSignal, Item, Match, Verdict
from seawall.errors import InvalidInput, NotFound, Retryable, SeawallError
from seawall.matching import Matcher
from seawall.media.content import Content
from seawall.media.language import language_from_reasons, language_reason
from seawall.plugins import Registry
from seawall.store.convert import aware
from seawall.store.db import Database
from seawall.store.tables import ActionRow, ItemRow, ItemUploadRow, MatchRow, utcnow
from seawall.verdicts import decide

log = logging.getLogger(__name__)

MAX_ID_LENGTH = 300
STAGE_SIGNALS = "signals"

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
    return out


#: Views/followers beyond this are not a real platform's numbers.
MAX_REACH = 10**12


def _check_id(value: str | None, field: str, *, required: bool) -> str | None:
    if value is None or value == "":
        if required:
            raise InvalidInput(f"{field}: is required", code="missing_field")
        return None
    if len(value) > MAX_ID_LENGTH:
        raise InvalidInput(f"{field}: at most {MAX_ID_LENGTH} characters", code="invalid_field")
    return value


class ItemService:
    def __init__(self, db: Database, registry: Registry, matcher: Matcher, spool_dir: Path,
                 content_factory: Callable[[str, bytes], Content]) -> None:
        self.db = db
        self.registry = registry
        self.matcher = matcher
        self.spool_dir = spool_dir
        self.content_factory = content_factory
        self.enqueue: Callable[[str, str], None] | None = None
        #: Keep deferred uploads in the store (scale-out: any worker may process them) instead of spool_dir.
        self.spool_in_store = False
        #: The decide stage: (item, matches, notes, deferred) → verdict; the bank defaults when unset.
        self.decider: Callable[[Item, list[Match], list[str], bool], Verdict] | None = None
        #: The act stage, run inside the transaction that stores the item; returns webhook deliveries queued.
        self.after_write: Callable[[Session, Item], int] | None = None
        #: Told after a commit that queued webhook deliveries, so they go out without waiting for a poll.
        self.on_events: Callable[[], None] | None = None

    def is_deferred(self, content_type: str) -> bool:
        return any(s.deferred and s.applies_to(content_type) for s in self.registry.signal_types.values())

    def submit(self, content: Content, *, content_id: str, account_id: str | None,
               submitted_by: str | None, reach: int | None = None) -> Item:
        cid = _check_id(content_id, "content_id", required=True)
        if reach is not None and (isinstance(reach, bool) or not 0 <= reach <= MAX_REACH):
            raise InvalidInput(f"reach: a whole number from 0 to {MAX_REACH}", code="invalid_field")
        aid = _check_id(account_id, "account_id", required=False)
        assert cid is not None
        if content.content_type not in CONTENT_TYPES:
            raise InvalidInput(
                f"content_type: must be one of {', '.join(CONTENT_TYPES)}", code="invalid_content_type"
            )
        item = Item(
            id=uuid.uuid4().hex,
            content_id=cid,
            account_id=aid,
            content_type=content.content_type,
            received_at=utcnow(),
            signals=[],
            verdict=Verdict("allow"),
            size_bytes=len(content.raw_bytes),
            submitted_by=submitted_by,
            reach=reach,
        )
        if self.is_deferred(content.content_type) and self.enqueue is not None:
            for sig in self.registry.signal_types.values():
                if sig.deferred and sig.applies_to(content.content_type):
                    sig.precheck(content)
            item.status = "pending"
            if self.spool_in_store:
                self._insert(item, upload=content.raw_bytes)
            else:
                self._spool(item.id, content.raw_bytes)
                self._insert(item)
            self.enqueue(STAGE_SIGNALS, item.id)
            return item
        self._decide(item, content)
        self._insert(item)
        return item

    def _decide(self, item: Item, content: Content) -> None:
        signals = compute_signals(self.registry, content, for_query=True)
        outcome = self.matcher.match(signals)
        lang = content.language()
        item.language = lang.to_dict() if lang is not None else None
        # OCR remarks and the language ride in the reasons, which are stored: no extra column is needed.
        notes = [*outcome.notes, *content.notes, *([language_reason(lang)] if lang is not None else [])]
        if self.decider is not None:
            item.verdict = self.decider(item, outcome.matches, notes, item.status == "pending")
        else:
            item.verdict = decide(outcome.matches, notes)
        item.signals = [ComputedSignal(s.type, s.value, s.quality) for s in signals]
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
        q = select(ItemRow.id).where(ItemRow.status == "pending")
        if older_than is not None:
            q = q.where(ItemRow.received_at < utcnow() - older_than)
        q = q.order_by(ItemRow.received_at)
        if limit is not None:
            q = q.limit(limit)
        with self.db.session() as s:
            return list(s.scalars(q))

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
            self._finish(item)
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

    def _finish(self, item: Item) -> None:
        with self.db.session() as s:
            row = s.get(ItemRow, item.id, with_for_update=True)
            if row is None or row.status != "pending":
                return
            row.status = "complete"
            row.verdict = item.verdict.verdict
            row.reasons = item.verdict.reasons
            row.signals = [sig.to_dict() for sig in item.signals]
            self._insert_matches(s, item)
            s.execute(delete(ItemUploadRow).where(ItemUploadRow.item_id == item.id))
            queued = self.after_write(s, item) if self.after_write is not None else 0
        if queued and self.on_events is not None:
            self.on_events()

    def _fail(self, item_id: str, code: str, message: str) -> None:
        with self.db.session() as s:
            row = s.get(ItemRow, item_id, with_for_update=True)
            if row is None or row.status != "pending":
                return
            row.status = "failed"
            row.error = {"code": code, "message": message}
            s.execute(delete(ItemUploadRow).where(ItemUploadRow.item_id == item_id))

    # --- storage -------------------------------------------------------------------------------
    def _insert(self, item: Item, upload: bytes | None = None) -> None:
        """One Core INSERT per table (no ORM unit of work): this runs on every upload."""
        complete = item.status == "complete"
        with self.db.session() as s:
            s.execute(insert(ItemRow), [{
                "id": item.id, "content_id": item.content_id, "account_id": item.account_id,
                "content_type": item.content_type, "received_at": item.received_at, "size_bytes": item.size_bytes,
                "signals": [sig.to_dict() for sig in item.signals],
                "verdict": item.verdict.verdict if complete else None,
                "reasons": item.verdict.reasons if complete else [], "submitted_by": item.submitted_by,
                "status": item.status, "error": None, "reach": item.reach,
            }])
            if upload is not None:
                s.execute(insert(ItemUploadRow), [{"item_id": item.id, "data": upload}])
            if complete:
                self._insert_matches(s, item)
            queued = self.after_write(s, item) if self.after_write is not None else 0
        if queued and self.on_events is not None:
            self.on_events()

    @staticmethod
    def _insert_matches(s: Session, item: Item) -> None:
        if not item.verdict.matches:
            return
        s.execute(insert(MatchRow), [
            {"item_id": item.id, "bank_id": m.bank_id, "bank_name": m.bank_name, "bank_kind": m.bank_kind,
             "entry_id": m.entry_id, "signal_type": m.signal_type, "distance": m.distance, "labels": m.labels,
             "action": m.action, "variant": m.variant}
            for m in item.verdict.matches
        ])

    def get(self, item_id: str) -> Item:
        with self.db.session() as s:
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
            signals=[ComputedSignal(d["type"], d["value"], d.get("quality")) for d in row.signals],
            verdict=Verdict(row.verdict or "allow", matches, list(row.reasons), actions),
            size_bytes=row.size_bytes,
            submitted_by=row.submitted_by,
            status=row.status,
            error=row.error,
            language=language_from_reasons(row.reasons),
            reach=row.reach,
        )
