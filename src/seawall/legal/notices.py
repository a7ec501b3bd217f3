"""Telling the uploader (TCO Art. 11, DSA Art. 17): what was removed, why, and how to complain.

A notice is written when the content is removed but released to the platform (``uploader.notice``
webhook event) only once no authority embargo applies: under Art. 11(3) the issuing authority may
forbid disclosure for up to six weeks, extendable by six more, and meanwhile nothing is disclosed —
not even through the API.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from seawall.legal.annex1 import REASONS
from seawall.legal.clock import as_utc
from seawall.store.tables import UploaderNoticeRow


def order_notice_text(fields: dict[str, Any], *, complaint_days: int) -> str:
    """The Art. 11 notice for content removed under a removal order."""
    reasons = "; ".join(REASONS[r] for r in fields.get("reasons", []) if r in REASONS) or "terrorist content"
    authority = (fields.get("authority") or {}).get("name") or "a competent authority"
    state = fields.get("issuing_state") or ""
    redress = fields.get("redress") or {}
    lines = [
        "Your content was removed or access to it was disabled in all EU Member States.",
        f"Why: a removal order under Regulation (EU) 2021/784 from {authority}{f' ({state})' if state else ''}, "
        f"reference {fields.get('reference') or 'not given'}, found that it {reasons}.",
        "You may ask us for the reasons and a copy of the order.",
        "Your rights: you may challenge the order before the courts of the Member State whose authority issued it"
        + (f" ({redress.get('body')}" + (f", {redress.get('deadline')}" if redress.get("deadline") else "") + ")"
           if redress.get("body") else "")
        + ", and ask the authority of the Member State of our main establishment to scrutinise it (Art. 4(4)) "
        "within 48 hours of this notice.",
    ]
    if complaint_days:
        lines.append(f"If Seawall's own measures (not the order) removed other content of yours, you may complain "
                     f"to us; we answer within {complaint_days} days (Art. 10).")
    return "\n".join(lines)


def write(s: Session, *, item_id: str, account_id: str | None, text: str, now: datetime,
          withheld_until: datetime | None, order_id: int | None = None,
          statement_id: int | None = None) -> UploaderNoticeRow:
    row = UploaderNoticeRow(item_id=item_id, account_id=account_id, order_id=order_id, statement_id=statement_id,
                            text=text, created_at=as_utc(now),
                            withheld_until=as_utc(withheld_until) if withheld_until else None)
    s.add(row)
    s.flush()
    return row


def releasable(row: UploaderNoticeRow, now: datetime) -> bool:
    return row.released_at is None and (row.withheld_until is None or as_utc(row.withheld_until) <= as_utc(now))


def release_due(s: Session, now: datetime) -> list[tuple[str, dict[str, Any]]]:
    """Mark every notice whose embargo is over as released; returns the events that deliver them."""
    events: list[tuple[str, dict[str, Any]]] = []
    rows = s.scalars(select(UploaderNoticeRow).where(UploaderNoticeRow.released_at.is_(None))
                     .with_for_update(skip_locked=True)).all()
    for row in rows:
        if releasable(row, now):
            row.released_at = as_utc(now)
            events.append(("uploader.notice", notice_dict(row)))
    return events


def notice_dict(row: UploaderNoticeRow, *, now: datetime | None = None) -> dict[str, Any]:
    """The notice as the platform may see it; during an embargo only that one exists, not its text."""
    withheld = row.released_at is None and now is not None and not releasable(row, now)
    return {"id": row.id, "item_id": row.item_id, "account_id": row.account_id, "order_id": row.order_id,
            "statement_id": row.statement_id, "text": None if withheld else row.text,
            "withheld": withheld, "released_at": as_utc(row.released_at).isoformat() if row.released_at else None}
