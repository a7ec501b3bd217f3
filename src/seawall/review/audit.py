"""The append-only audit log: who did what to which object, when. Written in the caller's transaction.

Writing the audit row in the same transaction as the change it records means there is never a
decision without its audit entry, nor an entry for a change that rolled back.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from seawall.store.db import Database
from seawall.store.tables import AuditRow, utcnow


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    detail: dict[str, Any]


def record(s: Session, actor: str, action: str, object_type: str, object_id: str | int,
           detail: dict[str, Any] | None = None) -> None:
    s.execute(insert(AuditRow), [{"at": utcnow(), "actor": actor, "action": action, "object_type": object_type,
                                  "object_id": str(object_id), "detail": detail or {}}])


class AuditLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    def query(self, *, actor: str | None = None, action: str | None = None, object_id: str | None = None,
              since: datetime | None = None, until: datetime | None = None, limit: int = 500) -> list[AuditEntry]:
        q = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
        if actor:
            q = q.where(AuditRow.actor == actor)
        if action:
            q = q.where(AuditRow.action == action)
        if object_id:
            q = q.where(AuditRow.object_id == object_id)
        if since is not None:
            q = q.where(AuditRow.at >= since)
        if until is not None:
            q = q.where(AuditRow.at < until)
        with self.db.session() as s:
            return [AuditEntry(r.id, r.at, r.actor, r.action, r.object_type, r.object_id, dict(r.detail))
                    for r in s.scalars(q)]

    def count(self, *, actor: str, action: str, since: datetime) -> int:
        """How often someone did something since a moment: the daily exposure counter."""
        with self.db.session() as s:
            return count_in(s, actor=actor, action=action, since=since)


def count_in(s: Session, *, actor: str, action: str, since: datetime) -> int:
    """``AuditLog.count`` in the caller's session, for pages that read everything in one transaction."""
    return int(s.scalar(select(func.count()).select_from(AuditRow).where(
        AuditRow.actor == actor, AuditRow.action == action, AuditRow.at >= since)) or 0)


def counts_by_actor(db: Database, *, action: str, since: datetime) -> dict[str, int]:
    """How often each person did something since a moment (the admin's view of daily exposure)."""
    with db.session() as s:
        rows = s.execute(select(AuditRow.actor, func.count()).where(AuditRow.action == action, AuditRow.at >= since)
                         .group_by(AuditRow.actor)).all()
    return {actor: int(n) for actor, n in rows}


def to_csv(entries: Iterable[AuditEntry]) -> str:
    """CSV for auditors' spreadsheets; cells that a spreadsheet would run as formulas are quoted with '."""
    import json

    def cell(v: str) -> str:
        return "'" + v if v[:1] in ("=", "+", "-", "@", "\t", "\r") else v

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["id", "at", "actor", "action", "object_type", "object_id", "detail"])
    for e in entries:
        w.writerow([e.id, e.at.isoformat(), cell(e.actor), cell(e.action), e.object_type, cell(e.object_id),
                    cell(json.dumps(e.detail, sort_keys=True))])
    return buf.getvalue()
