"""Finding cases: the queue's filters and sort orders, done by the database, shared by console and API.

A queue of a hundred thousand open cases cannot be loaded into Python to be filtered, so every filter
is a WHERE clause and every order an ORDER BY over indexed columns; only the page asked for comes back.
Bank and label filters read the indexed case tags (:mod:`seawall.store.case_tags`), not the matches' JSON.
The default order is the queue's: stored priority (tier and severity) first, then within the page the
reach × age score refines the order among cases of one priority (see :mod:`seawall.review.priority`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, true
from sqlalchemy.sql import Select

from seawall.errors import InvalidInput
from seawall.store.case_tags import filter_key
from seawall.store.json_lists import json_holds_string
from seawall.store.tables import CaseRow, CaseTagRow, ConsoleUserRow, ItemRow, utcnow

SORTS = ("priority", "oldest", "newest", "sla")
STATUSES = ("undecided", "open", "assigned", "decided", "any")
MAX_LIMIT = 500


@dataclass(frozen=True, slots=True)
class CaseFilter:
    """What a reviewer or a platform asks of the queue; empty strings mean "any"."""

    queue: str = ""
    kind: str = ""
    status: str = "undecided"
    account_id: str = ""
    content_id: str = ""
    bank: str = ""
    label: str = ""
    signal: str = ""
    source: str = ""
    assignee: str = ""
    sla: str = ""
    older_than_hours: float | None = None
    sort: str = "priority"

    def check(self) -> None:
        if self.queue not in ("", "standard", "senior"):
            raise InvalidInput("queue: standard or senior", code="invalid_field")
        if self.kind not in ("", "review", "report", "appeal"):
            raise InvalidInput("kind: review, report or appeal", code="invalid_field")
        if self.status not in STATUSES:
            raise InvalidInput(f"status: one of {', '.join(STATUSES)}", code="invalid_field")
        if self.sla not in ("", "red", "ok"):
            raise InvalidInput("sla: red (overdue) or ok", code="invalid_field")
        if self.sort not in SORTS:
            raise InvalidInput(f"sort: one of {', '.join(SORTS)}", code="invalid_field")
        for name in ("account_id", "content_id", "bank", "label", "signal", "source", "assignee"):
            if len(getattr(self, name)) > 300:
                raise InvalidInput(f"{name}: at most 300 characters", code="invalid_field")

    def active(self) -> dict[str, str]:
        """The filters set, for links that keep them (saved views are such links)."""
        out = {k: str(getattr(self, k)) for k in ("queue", "kind", "account_id", "content_id", "bank", "label",
                                                   "signal", "source", "assignee", "sla", "sort")
               if getattr(self, k) and not (k == "sort" and self.sort == "priority")}
        if self.status != "undecided":
            out["status"] = self.status
        if self.older_than_hours is not None:
            out["older_than_hours"] = str(self.older_than_hours)
        return out


def case_query(f: CaseFilter, now: datetime | None = None) -> Select[CaseRow, int | None]:
    """``SELECT cases, items.reach`` with every filter and the order applied (no limit)."""
    f.check()
    now = now or utcnow()
    q = select(CaseRow, ItemRow.reach).join(ItemRow, ItemRow.id == CaseRow.item_id)
    if f.status == "undecided":
        q = q.where(CaseRow.status != "decided")
    elif f.status != "any":
        q = q.where(CaseRow.status == f.status)
    if f.queue:
        q = q.where(CaseRow.queue == f.queue)
    if f.kind:
        q = q.where(CaseRow.kind == f.kind)
    if f.account_id:
        q = q.where(ItemRow.account_id == f.account_id)
    if f.content_id:
        q = q.where(ItemRow.content_id == f.content_id)
    if f.source:
        q = q.where(CaseRow.source == f.source)
    if f.assignee:
        q = q.where(CaseRow.assignee_id == select(ConsoleUserRow.id)
                    .where(ConsoleUserRow.username == f.assignee).scalar_subquery())
    tagged = bool(f.bank or f.label)
    if tagged:
        kind, value = filter_key(f.bank, f.label.strip().lower())
        q = q.join(CaseTagRow, (CaseTagRow.case_id == CaseRow.id) & (CaseTagRow.kind == kind)
                   & (CaseTagRow.value == value))
        if f.status == "undecided":
            q = q.where(CaseTagRow.undecided == true())
    if f.signal:
        q = q.where(json_holds_string(ItemRow.signals, f.signal.strip().lower()))
    if f.sla == "red":
        q = q.where(CaseRow.sla_due_at < now, CaseRow.status != "decided")
    elif f.sla == "ok":
        q = q.where(CaseRow.sla_due_at >= now)
    if f.older_than_hours is not None:
        from datetime import timedelta

        q = q.where(CaseRow.created_at < now - timedelta(hours=max(0.0, f.older_than_hours)))
    if tagged and f.sort == "priority" and f.status == "undecided":
        # the tag's copy of the queue order: one walk of ix_case_tags_undecided_order
        return q.order_by(CaseTagRow.priority.desc(), CaseTagRow.created_at, CaseTagRow.case_id)
    order = {"priority": (CaseRow.priority.desc(), CaseRow.created_at, CaseRow.id),
             "oldest": (CaseRow.created_at, CaseRow.id), "newest": (CaseRow.created_at.desc(), CaseRow.id.desc()),
             "sla": (CaseRow.sla_due_at, CaseRow.id)}[f.sort]
    return q.order_by(*order)
