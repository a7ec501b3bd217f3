"""Cases: items held for people, their queue order and SLA clock, safe viewing, and decisions that teach banks.

A case is opened inside the transaction that stores the item's automated decision (by the ``queue``
and ``escalate`` actions), so an item held for review always has its case. One case per item: a
second reason for the same item raises the priority of the existing case rather than queueing twice.

Priority is ``tier × 10 + severity``: the tier comes from the action (low … urgent), the severity
from the matched labels' taxonomy, so a glorification match outranks a logo at the same tier; age
breaks ties (oldest first).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from seawall.domain.labels import severity, validate_labels
from seawall.domain.models import Item
from seawall.errors import Conflict, Forbidden, InvalidInput, NotFound
from seawall.review.audit import AuditLog, record
from seawall.review.media import sniff_media_type
from seawall.review.users import ConsoleUser, aware
from seawall.store.tables import CaseDecisionRow, CaseMediaRow, CaseRow, ConsoleUserRow, utcnow

if TYPE_CHECKING:
    from seawall.engine import Engine

TIERS: tuple[str, ...] = ("low", "normal", "high", "urgent")
#: Time to a decision per tier; one hour for urgent matches the EU TCO removal-order clock.
SLA: dict[str, timedelta] = {"low": timedelta(hours=72), "normal": timedelta(hours=24),
                             "high": timedelta(hours=4), "urgent": timedelta(hours=1)}
#: Share of the SLA window left below which the clock turns amber.
AMBER_SHARE = 0.25
OUTCOMES = ("violating", "not_violating")
#: A reveal lets the reviewer see the media unshielded for this long, then the shield returns.
REVEAL_WINDOW = timedelta(minutes=10)


def tier_of(priority: int) -> str:
    return TIERS[max(0, min(len(TIERS) - 1, priority // 10))]


def open_case(s: Session, item: Item, *, source: str, reason: str, tier: str, media: bytes | None) -> int:
    """Open (or raise the priority of) the case for an item, in the caller's transaction; returns its id."""
    labels = sorted({lb for m in item.verdict.matches for lb in m.labels})
    priority = TIERS.index(tier) * 10 + severity(labels)
    now = utcnow()
    row = s.scalar(select(CaseRow).where(CaseRow.item_id == item.id).with_for_update())
    if row is not None:
        if priority > row.priority:
            row.priority = priority
            row.sla_due_at = min(aware(row.sla_due_at), aware(row.created_at) + SLA[tier])
            row.reason = f"{row.reason}; {reason}"
        return row.id
    row = CaseRow(item_id=item.id, reason=reason, source=source, priority=priority, status="open",
                  created_at=now, sla_due_at=now + SLA[tier])
    s.add(row)
    s.flush()
    if media is not None:
        s.add(CaseMediaRow(case_id=row.id, media_type=sniff_media_type(media, item.content_type), data=media))
    record(s, "system", "case.open", "case", row.id, {"item_id": item.id, "source": source, "tier": tier,
                                                      "reason": reason})
    return row.id


@dataclass(slots=True)
class CaseView:
    id: int
    item_id: str
    reason: str
    source: str
    priority: int
    status: str
    assignee: str | None
    created_at: datetime
    sla_due_at: datetime
    decided_at: datetime | None
    media_type: str | None = None
    decisions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def tier(self) -> str:
        return tier_of(self.priority)

    def sla_state(self, now: datetime | None = None) -> str:
        """``ok``, ``amber`` (under a quarter of the window left) or ``red`` (overdue)."""
        now = now or utcnow()
        if self.status == "decided":
            return "done"
        left = (self.sla_due_at - now).total_seconds()
        window = max(1.0, (self.sla_due_at - self.created_at).total_seconds())
        if left <= 0:
            return "red"
        return "amber" if left < window * AMBER_SHARE else "ok"

    def sla_left(self, now: datetime | None = None) -> str:
        secs = int((self.sla_due_at - (now or utcnow())).total_seconds())
        sign = "-" if secs < 0 else ""
        secs = abs(secs)
        return f"{sign}{secs // 3600}h {secs % 3600 // 60:02d}m"


class ReviewService:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.db = engine.db
        self.audit = AuditLog(engine.db)

    def _view(self, s: Session, row: CaseRow, *, full: bool = False) -> CaseView:
        assignee = s.scalar(select(ConsoleUserRow.username).where(ConsoleUserRow.id == row.assignee_id)) \
            if row.assignee_id else None
        v = CaseView(row.id, row.item_id, row.reason, row.source, row.priority, row.status, assignee,
                     aware(row.created_at), aware(row.sla_due_at),
                     aware(row.decided_at) if row.decided_at else None)
        if full:
            v.media_type = s.scalar(select(CaseMediaRow.media_type).where(CaseMediaRow.case_id == row.id))
            v.decisions = [{"username": d.username, "outcome": d.outcome, "labels": d.labels,
                            "bank": d.bank_name, "entries_added": d.entries_added, "note": d.note,
                            "at": aware(d.created_at)}
                           for d in s.scalars(select(CaseDecisionRow).where(CaseDecisionRow.case_id == row.id)
                                              .order_by(CaseDecisionRow.id))]
        return v

    def queue(self, limit: int = 200) -> list[CaseView]:
        """Undecided cases, most urgent first, oldest first within a priority."""
        with self.db.session() as s:
            rows = s.scalars(select(CaseRow).where(CaseRow.status != "decided")
                             .order_by(CaseRow.priority.desc(), CaseRow.created_at, CaseRow.id).limit(limit))
            return [self._view(s, r) for r in rows]

    def get(self, case_id: int) -> CaseView:
        with self.db.session() as s:
            row = s.get(CaseRow, case_id)
            if row is None:
                raise NotFound(f"case {case_id} does not exist", code="case_not_found")
            return self._view(s, row, full=True)

    def media(self, case_id: int) -> tuple[str, bytes] | None:
        with self.db.session() as s:
            row = s.get(CaseMediaRow, case_id)
            return (row.media_type, row.data) if row is not None else None

    def take(self, case_id: int, user: ConsoleUser) -> None:
        """Assign an open case to oneself, so two reviewers never work the same case."""
        with self.db.session() as s:
            row = _lock_open_case(s, case_id, user)
            row.assignee_id = user.id
            row.status = "assigned"
            record(s, user.username, "case.take", "case", case_id)

    def reveal(self, case_id: int, user: ConsoleUser) -> None:
        """Record that a reviewer chose to see a case's media unshielded (and counts towards their exposure)."""
        with self.db.session() as s:
            if s.get(CaseRow, case_id) is None:
                raise NotFound(f"case {case_id} does not exist", code="case_not_found")
            record(s, user.username, "media.reveal", "case", case_id)

    def revealed(self, case_id: int, user: ConsoleUser) -> bool:
        """Whether this reviewer revealed this case's media recently: the server, not the URL, decides."""
        return bool(self.audit.query(actor=user.username, action="media.reveal", object_id=str(case_id),
                                     since=utcnow() - REVEAL_WINDOW, limit=1))

    def exposure_today(self, username: str) -> int:
        start = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
        return self.audit.count(actor=username, action="media.reveal", since=start)

    def decide(self, case_id: int, user: ConsoleUser, *, outcome: str, labels: list[str],
               bank: str | None = None, note: str = "") -> dict[str, Any]:
        """Record a decision and, if asked, teach a bank: a block bank for violating, an allow bank otherwise.

        The case is closed first (row lock; a double submit or a second reviewer gets a conflict and
        changes nothing); the bank learns after, from the stored media, and that is audited too.
        """
        if outcome not in OUTCOMES:
            raise InvalidInput(f"outcome: must be one of {', '.join(OUTCOMES)}", code="invalid_outcome")
        labels = validate_labels(labels) if labels else []
        if outcome == "violating" and not any(lb.startswith("behaviour:") for lb in labels):
            raise InvalidInput("labels: a violating decision needs at least one behaviour label",
                               code="labels_required")
        bank = (bank or "").strip() or None
        if bank is not None:
            if not user.has("senior"):
                raise Forbidden("adding to a bank needs the senior or admin role", code="forbidden")
            kind = self.engine.banks.get(bank).kind
            want = "block" if outcome == "violating" else "allow"
            if kind != want:
                raise InvalidInput(f"bank: {bank!r} is a {kind} bank; a {outcome.replace('_', ' ')} decision "
                                   f"may only add to a {want} bank", code="wrong_bank_kind")
        with self.db.session() as s:
            row = _lock_open_case(s, case_id, user)
            media = s.get(CaseMediaRow, case_id)
            if bank is not None and media is None:
                raise InvalidInput("this case has no stored media to add to a bank", code="no_media")
            row.status = "decided"
            row.assignee_id = user.id
            row.decided_at = utcnow()
            decision = CaseDecisionRow(case_id=case_id, user_id=user.id, username=user.username, outcome=outcome,
                                       labels=labels, bank_name=bank, entries_added=0, note=note[:2000],
                                       created_at=utcnow())
            s.add(decision)
            s.flush()
            decision_id = decision.id
            item_id, data = row.item_id, (media.data if media is not None else b"")
            record(s, user.username, "case.decide", "case", case_id,
                   {"outcome": outcome, "labels": labels, "bank": bank, "item_id": item_id})
        result: dict[str, Any] = {"decision_id": decision_id, "added": 0, "refused": []}
        if bank is not None:
            item = self.engine.items.get(item_id)
            added, refused = self.engine.add_entries_from_content(
                bank, self.engine.content(item.content_type, data=data), labels=labels,
                note=f"review case {case_id}", source="review", added_by=f"console:{user.username}")
            result.update(added=sum(1 for _, new in added if new), refused=refused)
            with self.db.session() as s:
                d = s.get(CaseDecisionRow, decision_id)
                assert d is not None
                d.entries_added = result["added"]
                record(s, user.username, "bank.add", "bank", bank,
                       {"case_id": case_id, "entries": [e.id for e, _ in added], "refused": refused})
        return result


def _lock_open_case(s: Session, case_id: int, user: ConsoleUser) -> CaseRow:
    """The case row, locked, if it is still open and not assigned to someone else; else 404/409."""
    row = s.get(CaseRow, case_id, with_for_update=True)
    if row is None:
        raise NotFound(f"case {case_id} does not exist", code="case_not_found")
    if row.status == "decided":
        raise Conflict("this case is already decided", code="case_decided")
    if row.assignee_id not in (None, user.id):
        raise Conflict("this case is assigned to someone else", code="case_assigned")
    return row
