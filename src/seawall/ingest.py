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
from pathlib import Path

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from seawall.domain.models import CONTENT_TYPES, ComputedSignal, Item, Match, Verdict
from seawall.errors import InvalidInput, NotFound, SeawallError
from seawall.matching import Matcher
from seawall.media.content import Content
from seawall.plugins import Registry
from seawall.store.convert import aware
from seawall.store.db import Database
from seawall.store.tables import ItemRow, MatchRow, utcnow
from seawall.verdicts import decide

log = logging.getLogger(__name__)

MAX_ID_LENGTH = 300
STAGE_SIGNALS = "signals"


def compute_signals(registry: Registry, content: Content, *, for_query: bool) -> list[ComputedSignal]:
    """Every registered signal that applies to the content type; decoding errors propagate as 4xx."""
    out: list[ComputedSignal] = []
    for sig in registry.signal_types.values():
        if sig.applies_to(content.content_type):
            out.extend(sig.compute(content, for_query=for_query))
    return out


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

    def is_deferred(self, content_type: str) -> bool:
        return any(s.deferred and s.applies_to(content_type) for s in self.registry.signal_types.values())

    def submit(self, content: Content, *, content_id: str, account_id: str | None,
               submitted_by: str | None) -> Item:
        cid = _check_id(content_id, "content_id", required=True)
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
        )
        if self.is_deferred(content.content_type) and self.enqueue is not None:
            self._spool(item.id, content.raw_bytes)
            item.status = "pending"
            self._insert(item)
            self.enqueue(STAGE_SIGNALS, item.id)
            return item
        self._decide(item, content)
        self._insert(item)
        return item

    def _decide(self, item: Item, content: Content) -> None:
        signals = compute_signals(self.registry, content, for_query=True)
        outcome = self.matcher.match(signals)
        item.verdict = decide(outcome.matches, outcome.notes)
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

    def pending_ids(self) -> list[str]:
        with self.db.session() as s:
            return list(s.scalars(select(ItemRow.id).where(ItemRow.status == "pending").order_by(ItemRow.received_at)))

    def process(self, item_id: str) -> None:
        """Compute, match and decide a pending item. Idempotent: a finished item is left as it is."""
        with self.db.session() as s:
            row = s.get(ItemRow, item_id)
            if row is None or row.status != "pending":
                self._spool_path(item_id).unlink(missing_ok=True)
                return
            content_type = row.content_type
        path = self._spool_path(item_id)
        try:
            if not path.exists():
                raise SeawallError("the upload was lost before it could be processed", code="upload_lost",
                                   status=500)
            item = self.get(item_id)
            self._decide(item, self.content_factory(content_type, path.read_bytes()))
            self._finish(item)
        except SeawallError as exc:
            self._fail(item_id, exc.code, exc.message)
        except Exception as exc:
            log.exception("processing item %s failed", item_id)
            self._fail(item_id, "processing_failed", f"processing failed: {type(exc).__name__}")
        finally:
            path.unlink(missing_ok=True)

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

    def _fail(self, item_id: str, code: str, message: str) -> None:
        with self.db.session() as s:
            row = s.get(ItemRow, item_id, with_for_update=True)
            if row is None or row.status != "pending":
                return
            row.status = "failed"
            row.error = {"code": code, "message": message}

    # --- storage -------------------------------------------------------------------------------
    def _insert(self, item: Item) -> None:
        """One Core INSERT per table (no ORM unit of work): this runs on every upload."""
        complete = item.status == "complete"
        with self.db.session() as s:
            s.execute(insert(ItemRow), [{
                "id": item.id, "content_id": item.content_id, "account_id": item.account_id,
                "content_type": item.content_type, "received_at": item.received_at, "size_bytes": item.size_bytes,
                "signals": [sig.to_dict() for sig in item.signals],
                "verdict": item.verdict.verdict if complete else None,
                "reasons": item.verdict.reasons if complete else [], "submitted_by": item.submitted_by,
                "status": item.status, "error": None,
            }])
            if complete:
                self._insert_matches(s, item)

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
            verdict=Verdict(row.verdict or "allow", matches, list(row.reasons)),
            size_bytes=row.size_bytes,
            submitted_by=row.submitted_by,
            status=row.status,
            error=row.error,
        )
