"""Complaints with their deadlines: TCO Art. 10 (answer within two weeks) and DSA Art. 20 (open for six
months after the user was told).

Complaints are Seawall's appeals (:mod:`seawall.review.appeals`): the same senior-queue case, the
same independent reviewer and the same reversal when upheld. This module only adds the clock: when
each open complaint must be answered, which are overdue, and whether a new one is still in time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from seawall.legal.clock import as_utc
from seawall.store.db import Database
from seawall.store.tables import AppealRow

#: DSA Art. 20(1): complaints may be lodged for at least six months after the decision was notified.
COMPLAINT_WINDOW = timedelta(days=183)


def deadlines(db: Database, now: datetime, *, answer_days: int = 14, include_decided: bool = False,
              limit: int = 500) -> list[dict[str, Any]]:
    """Complaints (appeals) with the date their answer is due, oldest due first."""
    q = select(AppealRow).order_by(AppealRow.created_at).limit(limit)
    if not include_decided:
        q = q.where(AppealRow.status == "received")
    now = as_utc(now)
    out = []
    with db.session() as s:
        for row in s.scalars(q):
            due = as_utc(row.created_at) + timedelta(days=answer_days)
            answered = as_utc(row.decided_at) if row.decided_at else None
            out.append({"appeal_id": row.id, "item_id": row.item_id, "case_id": row.case_id, "status": row.status,
                        "received_at": as_utc(row.created_at).isoformat(), "due_at": due.isoformat(),
                        "overdue": (answered or now) > due, "outcome": row.outcome,
                        "answered_at": answered.isoformat() if answered else None})
    return out


def in_time(notified_at: datetime, now: datetime) -> bool:
    """Whether a complaint about a decision notified at ``notified_at`` is within the Art. 20 window."""
    return as_utc(now) <= as_utc(notified_at) + COMPLAINT_WINDOW
