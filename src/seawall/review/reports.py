"""User reports: people flag an item on the platform; the platform forwards it; a case opens.

Reports of one item gather in its one open case (a second report raises the case's report count,
and with it its place in the queue; see :mod:`seawall.review.priority`), so a hundred reports make
one piece of work, not a hundred. A report names the item by Seawall's item id or by the
platform's ``content_id`` (the newest item with that id), so the item must have been submitted
before; categories are the taxonomy's behaviours plus ``other``, so reports speak the labels'
language and a reported threat is ranked by that behaviour's severity.

Content that was allowed at upload is not kept by default, so the reviewer of a report would judge it
blind; the platform, which still has it (it is up), may send it with the report. It is kept only when its
SHA-256 is the item's own, so a report cannot put other content in front of a reviewer.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from seawall.errors import InvalidInput, NotFound
from seawall.media.sniff import sniff_media_type
from seawall.models.labels import severity, taxonomy
from seawall.review.audit import record
from seawall.review.cases import open_case
from seawall.store.tables import CaseMediaRow, CaseRow, ItemContentRow, ItemRow, ReportRow, utcnow
from seawall.store.upsert import insert_unless_exists

if TYPE_CHECKING:
    from collections.abc import Callable

    from seawall.models.records import Item
    from seawall.store.db import Database
    from seawall.uploads.ingest import ItemService
    from seawall.webhooks.outbox import Outbox

MAX_REPORT_TEXT = 5_000
#: A report on its own is normal work (the report count then moves it up); a report of a behaviour this
#: severe (an imminent threat, graphic violence) is high-tier work with a 4-hour clock.
REPORT_TIER = "normal"
HIGH_TIER_SEVERITY = 5


def categories() -> list[str]:
    return [*taxonomy()["behaviour"], "other"]


class ReportService:
    """User reports joined to review cases; built by :func:`seawall.composition.report_service`."""

    def __init__(self, db: Database, *, items: ItemService, outbox: Outbox,
                 events_queued: Callable[[], None]) -> None:
        self.db = db
        self.items = items
        self.outbox = outbox
        #: Wakes the webhook sender after a commit that queued deliveries.
        self.events_queued = events_queued

    def _resolve(self, item_id: str | None, content_id: str | None) -> str:
        if bool(item_id) == bool(content_id):
            raise InvalidInput("give either item_id or content_id", code="invalid_request")
        with self.db.session() as s:
            if item_id:
                found = s.scalar(select(ItemRow.id).where(ItemRow.id == item_id))
            else:
                found = s.scalar(select(ItemRow.id).where(ItemRow.content_id == content_id)
                                 .order_by(ItemRow.received_at.desc()).limit(1))
        if found is None:
            raise NotFound(f"no item {item_id or content_id!r}; submit the item before reporting it",
                           code="item_not_found")
        return str(found)

    def report(self, *, item_id: str | None = None, content_id: str | None = None, category: str,
               reporter_account: str | None = None, text: str = "", submitted_by: str | None = None,
               content: bytes | None = None) -> dict[str, Any]:
        """Store the report and put its item in the queue (new case, or one more report on the open one).

        A named reporter's second identical report on the same case is the first one again
        (``created`` false), so a re-sent report never counts twice. ``content`` is the reported item's
        bytes (a text as UTF-8), kept for the reviewer when Seawall did not keep them at upload; content
        that is not the item's is refused before anything is stored (422 ``content_mismatch``).
        """
        if category not in categories():
            raise InvalidInput(f"category: one of {', '.join(categories())}", code="invalid_category")
        if len(text) > MAX_REPORT_TEXT:
            raise InvalidInput(f"text: at most {MAX_REPORT_TEXT} characters", code="invalid_field")
        if reporter_account is not None and len(reporter_account) > 300:
            raise InvalidInput("reporter_account: at most 300 characters", code="invalid_field")
        resolved = self._resolve(item_id, content_id)
        item = self.items.get(resolved)
        if content is not None:
            check_reported_content(item, content)
        for attempt in range(3):
            try:
                out, queued = self._store(item, category, reporter_account, text, submitted_by, content)
                break
            except IntegrityError:
                # a concurrent first report opened the item's case (SQLite takes no row lock): the
                # constraint refused a second case; the next attempt sees the committed one
                if attempt == 2:
                    raise
        if queued:
            self.events_queued()
        return out

    def _store(self, item: Item, category: str, reporter_account: str | None, text: str,
               submitted_by: str | None, content: bytes | None) -> tuple[dict[str, Any], int]:
        with self.db.session() as s:
            # one writer per item at a time, so two simultaneous first reports cannot open two cases
            s.execute(select(ItemRow.id).where(ItemRow.id == item.id).with_for_update())
            if content is not None:
                # kept once per item (its primary key): content kept at upload or by an earlier report stays
                insert_unless_exists(s, ItemContentRow, {
                    "item_id": item.id, "media_type": sniff_media_type(content, item.content_type), "data": content,
                    "context": {}, "reason": "reported", "created_at": utcnow()}, conflict=("item_id",))
            tier = "high" if severity([f"behaviour:{category}"]) >= HIGH_TIER_SEVERITY else REPORT_TIER
            case_id = open_case(s, item, source="report", reason=f"user report: {category}", tier=tier,
                                media=_earlier_media(s, item.id), kind="report",
                                labels=(f"behaviour:{category}",))
            case = s.get(CaseRow, case_id, with_for_update=True)
            assert case is not None
            key = dedupe_key(case_id, reporter_account, category)
            row = insert_unless_exists(s, ReportRow, {
                "case_id": case_id, "item_id": item.id, "reporter_account": reporter_account, "category": category,
                "text": text, "submitted_by": submitted_by, "created_at": utcnow(), "dedupe_key": key,
            }, conflict=("dedupe_key",)) if key else None
            if key and row is None:
                # the same reporter re-sent the same report: the one already stored is the answer
                first = s.scalars(select(ReportRow).where(ReportRow.dedupe_key == key)).one()
                return {"id": first.id, "item_id": item.id, "case_id": case_id, "category": category,
                        "report_count": case.report_count, "created": False}, False
            if row is None:
                row = ReportRow(case_id=case_id, item_id=item.id, reporter_account=reporter_account,
                                category=category, text=text, submitted_by=submitted_by, created_at=utcnow())
                s.add(row)
                s.flush()
            case.report_count += 1
            if case.report_count > 1 and f"user report: {category}" not in case.reason:
                case.reason = f"{case.reason}; user report: {category}"[:5000]
            out = {"id": row.id, "item_id": item.id, "case_id": case_id, "category": category,
                   "report_count": case.report_count}
            record(s, "system", "report.received", "case", case_id, {"report_id": row.id, "category": category})
            queued = self.outbox.emit(s, [("report.received", out)])
        return {**out, "created": True}, queued

    def for_case(self, case_id: int, limit: int = 50) -> list[dict[str, Any]]:
        with self.db.session() as s:
            return reports_of_case(s, case_id, limit)


def check_reported_content(item: Item, content: bytes) -> None:
    """Refuse content sent with a report unless its SHA-256 is the reported item's (422 ``content_mismatch``)."""
    digests = [sig.value for sig in item.signals if sig.type == "sha256"]
    if not digests:
        raise InvalidInput(f"item {item.id!r} has no SHA-256 to check the content against; send the report without "
                           "content", code="content_mismatch")
    if hashlib.sha256(content).hexdigest() not in digests:
        raise InvalidInput(f"the content sent is not what item {item.id!r} was submitted with (its SHA-256 differs); "
                           "send the exact bytes or text of the item, or no content", code="content_mismatch")


def reports_of_case(s: Session, case_id: int, limit: int = 50) -> list[dict[str, Any]]:
    """A case's user reports, newest first, in the caller's transaction."""
    return [{"category": r.category, "text": r.text, "reporter": r.reporter_account, "at": r.created_at}
            for r in s.scalars(select(ReportRow).where(ReportRow.case_id == case_id)
                               .order_by(ReportRow.id.desc()).limit(limit))]


def dedupe_key(case_id: int, reporter_account: str | None, category: str) -> str | None:
    """Who reported what in which case; None for an anonymous report, which is never merged."""
    if not reporter_account:
        return None
    return hashlib.sha256(f"{case_id}\x00{reporter_account}\x00{category}".encode()).hexdigest()


def _earlier_media(s: Session, item_id: str) -> bytes | None:
    """The item's bytes if an earlier case kept them (items themselves keep no bytes)."""
    return s.scalar(select(CaseMediaRow.data).join(CaseRow, CaseRow.id == CaseMediaRow.case_id)
                    .where(CaseRow.item_id == item_id).order_by(CaseRow.id.desc()).limit(1))
