"""Cases: items held for people, their queue order and SLA clock, safe viewing, and decisions that teach banks.

A case is opened inside the transaction that stores the item's automated decision (by the ``queue``
and ``escalate`` actions), so an item held for review always has its case. One open case per item
(appeals aside): a second reason or a user report for the same item raises the priority of the
existing case rather than queueing twice.

Priority is ``tier × 10 + severity``: the tier comes from the action (low … urgent), the severity
from the matched labels' taxonomy, so a glorification match outranks a logo at the same tier. The
queue then weighs it by reach and age (:mod:`seawall.review.priority`).

Kinds: ``review`` (a rule held the item), ``report`` (users reported it) and ``appeal`` (a user
contests a decision; see :mod:`seawall.review.appeals`). Queues: ``standard`` and ``senior``
(cases a reviewer escalated, and appeals), which only senior reviewers and admins may work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from seawall.domain.labels import severity, validate_labels
from seawall.domain.models import Action, Item
from seawall.errors import Conflict, Forbidden, InvalidInput, NotFound
from seawall.review.audit import AuditLog, record
from seawall.review.media import sniff_media_type
from seawall.review.priority import Score, score
from seawall.review.thumbs import thumbnail
from seawall.review.users import ConsoleUser, aware
from seawall.store.tables import (
    AppealRow,
    BankEntryMediaRow,
    CaseDecisionRow,
    CaseMediaRow,
    CaseRow,
    ConsoleUserRow,
    ItemRow,
    utcnow,
)

if TYPE_CHECKING:
    from seawall.engine import Engine

TIERS: tuple[str, ...] = ("low", "normal", "high", "urgent")
#: Time to a decision per tier; one hour for urgent matches the EU TCO removal-order clock.
SLA: dict[str, timedelta] = {"low": timedelta(hours=72), "normal": timedelta(hours=24),
                             "high": timedelta(hours=4), "urgent": timedelta(hours=1)}
#: Share of the SLA window left below which the clock turns amber.
AMBER_SHARE = 0.25
OUTCOMES = ("violating", "not_violating", "escalate")
KINDS = ("review", "report", "appeal")
#: A reveal lets the reviewer see the media unshielded for this long, then the shield returns.
REVEAL_WINDOW = timedelta(minutes=10)


def tier_of(priority: int) -> str:
    return TIERS[max(0, min(len(TIERS) - 1, priority // 10))]


def open_case(s: Session, item: Item, *, source: str, reason: str, tier: str, media: bytes | None,
              kind: str = "review", labels: tuple[str, ...] = (), queue: str = "standard") -> int:
    """Open (or raise the priority of) the case for an item, in the caller's transaction; returns its id.

    An item has at most one open review-or-report case: a rule and a user report about the same item
    end up in one case, so two reviewers never judge it twice. ``labels`` add to the matches' labels
    for the severity (a report's category). ``queue="senior"`` (escalations) moves an open case there too.
    """
    priority = TIERS.index(tier) * 10 + severity([*labels, *(lb for m in item.verdict.matches for lb in m.labels)])
    now = utcnow()
    row = s.scalar(select(CaseRow).where(CaseRow.item_id == item.id, CaseRow.status != "decided",
                                         CaseRow.kind != "appeal").order_by(CaseRow.id).limit(1).with_for_update())
    if row is not None:
        if queue == "senior" and row.queue != "senior":
            row.queue = "senior"
        if priority > row.priority:
            row.priority = priority
            row.sla_due_at = min(aware(row.sla_due_at), aware(row.created_at) + SLA[tier])
            row.reason = f"{row.reason}; {reason}"
        return row.id
    row = CaseRow(item_id=item.id, reason=reason, source=source, priority=priority, status="open",
                  created_at=now, sla_due_at=now + SLA[tier], kind=kind, queue=queue, report_count=0)
    s.add(row)
    s.flush()
    if media is not None:
        s.add(CaseMediaRow(case_id=row.id, media_type=sniff_media_type(media, item.content_type), data=media))
    record(s, "system", "case.open", "case", row.id, {"item_id": item.id, "source": source, "tier": tier,
                                                      "reason": reason, "kind": kind})
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
    kind: str = "review"
    queue: str = "standard"
    report_count: int = 0
    reach: int | None = None
    appeal_id: int | None = None
    media_type: str | None = None
    decisions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def tier(self) -> str:
        return tier_of(self.priority)

    def score(self, now: datetime | None = None) -> Score:
        return score(self.priority, reach=self.reach, reports=self.report_count, created_at=self.created_at,
                     sla=self.sla_due_at - self.created_at, now=now or utcnow())

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

    def _view(self, s: Session, row: CaseRow, *, full: bool = False, reach: int | None = None) -> CaseView:
        assignee = s.scalar(select(ConsoleUserRow.username).where(ConsoleUserRow.id == row.assignee_id)) \
            if row.assignee_id else None
        if full:
            reach = s.scalar(select(ItemRow.reach).where(ItemRow.id == row.item_id))
        v = CaseView(row.id, row.item_id, row.reason, row.source, row.priority, row.status, assignee,
                     aware(row.created_at), aware(row.sla_due_at),
                     aware(row.decided_at) if row.decided_at else None, kind=row.kind, queue=row.queue,
                     report_count=row.report_count, reach=reach, appeal_id=row.appeal_id)
        if full:
            v.media_type = s.scalar(select(CaseMediaRow.media_type).where(CaseMediaRow.case_id == row.id))
            v.decisions = [{"id": d.id, "username": d.username, "outcome": d.outcome, "labels": d.labels,
                            "bank": d.bank_name, "entries_added": d.entries_added, "note": d.note,
                            "actions": d.actions or [], "at": aware(d.created_at)}
                           for d in s.scalars(select(CaseDecisionRow).where(CaseDecisionRow.case_id == row.id)
                                              .order_by(CaseDecisionRow.id))]
        return v

    def queue(self, limit: int = 200, *, queue: str | None = None) -> list[CaseView]:
        """Undecided cases, highest score first (severity × reach × age; see ``priority``)."""
        q = (select(CaseRow, ItemRow.reach).join(ItemRow, ItemRow.id == CaseRow.item_id)
             .where(CaseRow.status != "decided").order_by(CaseRow.priority.desc(), CaseRow.created_at)
             .limit(max(limit, 2000)))
        if queue:
            q = q.where(CaseRow.queue == queue)
        now = utcnow()
        with self.db.session() as s:
            views = [self._view(s, r, reach=reach) for r, reach in s.execute(q).all()]
        views.sort(key=lambda v: (-v.score(now).value, v.created_at, v.id))
        return views[:limit]

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
            if row.kind == "appeal" and _decided_by(s, row) == user.id:
                raise Forbidden("you made the decision under appeal; a different reviewer must take the appeal",
                                code="same_reviewer")
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

    def escalate(self, case_id: int, user: ConsoleUser, *, note: str = "") -> None:
        """Hand a case to the senior queue (unassigned, still open), e.g. when a reviewer is unsure."""
        with self.db.session() as s:
            row = _lock_open_case(s, case_id, user)
            if row.queue == "senior":
                raise Conflict("this case is already in the senior queue", code="already_escalated")
            row.queue = "senior"
            row.status = "open"
            row.assignee_id = None
            row.reason = f"{row.reason}; escalated by {user.username}" + (f": {note[:500]}" if note else "")
            record(s, user.username, "case.escalate", "case", case_id, {"note": note[:500]})

    def decide(self, case_id: int, user: ConsoleUser, *, outcome: str, labels: list[str],
               actions: list[Action] | None = None, bank: str | None = None, note: str = "") -> dict[str, Any]:
        """Record a decision, carry out its actions, and if asked teach a bank (block or allow).

        The case is closed, the decision stored and its actions run (strikes, suspensions, outbox
        events) in one transaction under the case's row lock: a double submit or a second reviewer
        gets a conflict and nothing runs twice. The bank learns after, from the stored media, and
        that is audited too.
        """
        if outcome not in OUTCOMES:
            raise InvalidInput(f"outcome: must be one of {', '.join(OUTCOMES)}", code="invalid_outcome")
        if outcome == "escalate":
            self.escalate(case_id, user, note=note)
            return {"decision_id": None, "added": 0, "refused": [], "escalated": True, "actions": []}
        labels = validate_labels(labels) if labels else []
        actions = list(actions or [])
        if outcome == "violating" and not any(lb.startswith("behaviour:") for lb in labels):
            raise InvalidInput("labels: a violating decision needs at least one behaviour label",
                               code="labels_required")
        if outcome == "not_violating" and actions:
            raise InvalidInput("actions: a not-violating decision takes no actions", code="invalid_actions")
        bank = (bank or "").strip() or None
        if bank is not None:
            if not user.has("senior"):
                raise Forbidden("adding to a bank needs the senior or admin role", code="forbidden")
            kind = self.engine.banks.get(bank).kind
            want = "block" if outcome == "violating" else "allow"
            if kind != want:
                raise InvalidInput(f"bank: {bank!r} is a {kind} bank; a {outcome.replace('_', ' ')} decision "
                                   f"may only add to a {want} bank", code="wrong_bank_kind")
        item_id = self._item_of(case_id)
        item = self.engine.items.get(item_id)
        with self.db.session() as s:
            row = _lock_open_case(s, case_id, user)
            if row.kind == "appeal":
                raise InvalidInput("an appeal is decided as upheld or rejected, not as a new decision",
                                   code="wrong_case_kind")
            media = s.get(CaseMediaRow, case_id)
            if bank is not None and media is None:
                raise InvalidInput("this case has no stored media to add to a bank", code="no_media")
            row.status = "decided"
            row.assignee_id = user.id
            row.decided_at = utcnow()
            chosen = [a.to_dict() for a in actions]
            decision = CaseDecisionRow(case_id=case_id, user_id=user.id, username=user.username, outcome=outcome,
                                       labels=labels, bank_name=bank, entries_added=0, note=note[:2000],
                                       created_at=utcnow(), actions=chosen, entry_ids=[])
            s.add(decision)
            s.flush()
            case_decision_id = decision.id
            verdict = _verdict_after(outcome, actions, item.verdict.verdict)
            event = {"case_id": case_id, "kind": row.kind, "item_id": item.id, "content_id": item.content_id,
                     "account_id": item.account_id, "outcome": outcome, "labels": labels,
                     "actions": chosen, "verdict": verdict}
            decision_id, results, queued = self.engine.actions.apply(
                s, item, actions, verdict=verdict, facts={"case_id": case_id, "labels": labels, "reviewer": True},
                reasons=[f"review case {case_id}: {outcome.replace('_', ' ')}"
                         + (f" ({', '.join(labels)})" if labels else "")],
                events=[("case.decided", event)])
            decision.decision_id = decision_id
            s.execute(update(ItemRow).where(ItemRow.id == item.id).values(verdict=verdict))
            data = media.data if media is not None else b""
            media_type = media.media_type if media is not None else ""
            record(s, user.username, "case.decide", "case", case_id,
                   {"outcome": outcome, "labels": labels, "bank": bank, "item_id": item.id, "actions": chosen,
                    "decision_id": decision_id})
        if queued:
            self.engine.events_queued()
        result: dict[str, Any] = {"decision_id": decision_id, "case_decision_id": case_decision_id, "added": 0,
                                  "refused": [], "actions": [{"type": r["type"], "status": r["status"],
                                                              **r["result"]} for r in results]}
        if bank is not None:
            result.update(self._teach_bank(case_id, case_decision_id, user, bank, item, data, media_type, labels))
        return result

    def _item_of(self, case_id: int) -> str:
        with self.db.session() as s:
            item_id = s.scalar(select(CaseRow.item_id).where(CaseRow.id == case_id))
        if item_id is None:
            raise NotFound(f"case {case_id} does not exist", code="case_not_found")
        return str(item_id)

    def _teach_bank(self, case_id: int, case_decision_id: int, user: ConsoleUser, bank: str, item: Item,
                    data: bytes, media_type: str, labels: list[str]) -> dict[str, Any]:
        """Hash the case's media into a bank; keep the ids of new entries (an upheld appeal removes them)."""
        added, refused = self.engine.add_entries_from_content(
            bank, self.engine.content(item.content_type, data=data), labels=labels,
            note=f"review case {case_id}", source="review", added_by=f"console:{user.username}")
        new_ids = [e.id for e, new in added if new]
        thumb = thumbnail(data, media_type)
        with self.db.session() as s:
            d = s.get(CaseDecisionRow, case_decision_id)
            assert d is not None
            d.entries_added = len(new_ids)
            d.entry_ids = new_ids
            if thumb is not None:
                for entry_id in new_ids:
                    s.add(BankEntryMediaRow(entry_id=entry_id, media_type=thumb[0], data=thumb[1], case_id=case_id))
            record(s, user.username, "bank.add", "bank", bank,
                   {"case_id": case_id, "entries": [e.id for e, _ in added], "refused": refused})
        return {"added": len(new_ids), "refused": refused}


def _verdict_after(outcome: str, actions: list[Action], current: str) -> str:
    """The item's verdict once a person decided: taken down, labelled, or allowed."""
    if outcome == "not_violating":
        return "allow"
    kinds = {a.type for a in actions}
    if kinds & {"remove", "block"}:
        return "block"
    if "label" in kinds:
        return "label"
    return current


def _decided_by(s: Session, row: CaseRow) -> int | None:
    """The console user whose decision an appeal case contests (None for an automated decision)."""
    return s.scalar(select(CaseDecisionRow.user_id).join(AppealRow, AppealRow.case_decision_id == CaseDecisionRow.id)
                    .where(AppealRow.id == row.appeal_id))


def _lock_open_case(s: Session, case_id: int, user: ConsoleUser) -> CaseRow:
    """The case row, locked, if it is still open and not assigned to someone else; else 404/409."""
    row = s.get(CaseRow, case_id, with_for_update=True)
    if row is None:
        raise NotFound(f"case {case_id} does not exist", code="case_not_found")
    if row.status == "decided":
        raise Conflict("this case is already decided", code="case_decided")
    if row.queue == "senior" and not user.has("senior"):
        raise Forbidden("this case is in the senior queue: it needs the senior or admin role", code="forbidden")
    if row.assignee_id not in (None, user.id):
        raise Conflict("this case is assigned to someone else", code="case_assigned")
    return row
