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

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from seawall.errors import Conflict, Forbidden, InvalidInput, NotFound, SeawallError
from seawall.media.sniff import sniff_media_type
from seawall.models.labels import severity, validate_labels
from seawall.models.records import Action, Item
from seawall.review.access import ensure_row_open_to
from seawall.review.audit import AuditLog, record
from seawall.review.near_media import NearMediaIndex, keep_case_hashes
from seawall.review.priority import Score, score
from seawall.review.quality import Sampler, sample_decision
from seawall.review.search import CaseFilter
from seawall.review.shield import shielded
from seawall.review.thumbs import thumbnail
from seawall.review.users import ConsoleUser, aware
from seawall.store.case_tags import sync_case_tags, tag_case
from seawall.store.tables import (
    AppealRow,
    BankEntryMediaRow,
    CaseDecisionRow,
    CaseMediaRow,
    CaseNoteRow,
    CaseRevealRow,
    CaseRow,
    ConsoleUserRow,
    ItemContentRow,
    ItemRow,
    MatchRow,
    utcnow,
)
from seawall.store.write_lock import get_locked

if TYPE_CHECKING:
    from collections.abc import Callable

    from seawall.actions.runner import ActionRunner
    from seawall.banks.service import BankService
    from seawall.models.records import BankEntry
    from seawall.store.db import Database
    from seawall.uploads.ingest import ItemService

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
#: A taken case not decided within this long goes back to the queue, so nobody's holiday blocks work.
TAKE_WINDOW = timedelta(minutes=30)


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
            sync_case_tags(s, row)
        tag_case(s, row, item.verdict.matches)
        return row.id
    row = CaseRow(item_id=item.id, reason=reason, source=source, priority=priority, status="open",
                  created_at=now, sla_due_at=now + SLA[tier], kind=kind, queue=queue, report_count=0)
    s.add(row)
    s.flush()
    tag_case(s, row, item.verdict.matches)
    keep_case_hashes(s, row.id, item.signals)
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
    assigned_at: datetime | None = None
    notes: list[dict[str, Any]] = field(default_factory=list)

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


class BankTeacher(Protocol):
    """Hashes a case's media into a bank and makes the new entries matchable at once."""

    def __call__(self, bank: str, content_type: str, data: bytes, *, labels: list[str], note: str, source: str,
                 added_by: str) -> tuple[list[tuple[BankEntry, bool]], list[str]]: ...


class ReviewService:
    """Cases, queues and reviewer decisions; built by :func:`seawall.composition.review_service`.

    ``daily_reveal_cap`` and ``break_every`` limit how much shielded media one reviewer sees (settings),
    ``sampler`` picks decisions for a blind second review, and ``near_media`` holds open cases' PDQ
    hashes so near-same media group into one cluster without a bank entry.
    """

    def __init__(self, db: Database, *, items: ItemService, banks: BankService, actions: ActionRunner,
                 add_to_bank: BankTeacher, events_queued: Callable[[], None], sampler: Sampler,
                 near_media: NearMediaIndex, daily_reveal_cap: int, break_every: int) -> None:
        self.db = db
        self.audit = AuditLog(db)
        self.items = items
        self.banks = banks
        self.actions = actions
        self.add_to_bank = add_to_bank
        #: Wakes the webhook sender after a commit that queued deliveries.
        self.events_queued = events_queued
        #: Reveals one reviewer may make in a day (UTC), and how often a break is asked for (settings).
        self.daily_reveal_cap = daily_reveal_cap
        self.break_every = break_every
        #: Picks decisions for a blind second review (replace it to choose exactly which, as tests do).
        self.sampler = sampler
        #: Open cases' PDQ hashes, so near-same media group into one cluster without a bank entry.
        self.near_media = near_media

    def case_view(self, s: Session, row: CaseRow, *, full: bool = False, reach: int | None = None) -> CaseView:
        """A case row as the API and console show it, read in the caller's session so that a page that
        also reads the item and its media sees one consistent snapshot."""
        assignee = s.scalar(select(ConsoleUserRow.username).where(ConsoleUserRow.id == row.assignee_id)) \
            if row.assignee_id else None
        if full:
            reach = s.scalar(select(ItemRow.reach).where(ItemRow.id == row.item_id))
        v = CaseView(row.id, row.item_id, row.reason, row.source, row.priority, row.status, assignee,
                     aware(row.created_at), aware(row.sla_due_at),
                     aware(row.decided_at) if row.decided_at else None, kind=row.kind, queue=row.queue,
                     report_count=row.report_count, reach=reach, appeal_id=row.appeal_id,
                     assigned_at=aware(row.assigned_at) if row.assigned_at else None)
        if full:
            v.media_type = s.scalar(select(CaseMediaRow.media_type).where(CaseMediaRow.case_id == row.id)) \
                or s.scalar(select(ItemContentRow.media_type).where(ItemContentRow.item_id == row.item_id))
            v.notes = [{"username": n.username, "text": n.text, "at": aware(n.created_at)}
                       for n in s.scalars(select(CaseNoteRow).where(CaseNoteRow.case_id == row.id)
                                          .order_by(CaseNoteRow.id))]
            v.decisions = [{"id": d.id, "username": d.username, "outcome": d.outcome, "labels": d.labels,
                            "bank": d.bank_name, "entries_added": d.entries_added, "note": d.note,
                            "actions": d.actions or [], "at": aware(d.created_at)}
                           for d in s.scalars(select(CaseDecisionRow).where(CaseDecisionRow.case_id == row.id)
                                              .order_by(CaseDecisionRow.id))]
        return v

    def waiting(self, limit: int = 200, *, queue: str | None = None) -> list[CaseView]:
        """Undecided cases waiting in the review queues (all, or the one named ``queue``), most severe first;
        within one severity, by reach × age (see ``priority``). Not the work queue (:mod:`seawall.queue`)."""
        return self.search(CaseFilter(queue=queue or ""), limit=limit)

    def search(self, f: CaseFilter, *, limit: int = 200, offset: int = 0) -> list[CaseView]:
        """A page of cases matching ``f``, filtered and ordered by the database (see :mod:`.search`).

        With the priority order, the database returns one page plus the rest of the last priority band
        on it (up to a bound), and the reach × age score orders cases within each band.
        """
        from seawall.review.case_reads import search_in

        self.expire_due()
        with self.db.session() as s:
            return search_in(s, f, limit=limit, offset=offset)

    def thumbnailable(self, cases: list[CaseView]) -> set[int]:
        """Which of these cases have image or video media to show as a shielded queue thumbnail."""
        from seawall.review.case_reads import thumbnailable_in

        with self.db.session() as s:
            return thumbnailable_in(s, cases)

    def reasons(self, cases: list[CaseView]) -> dict[int, str]:
        """Each case's reason as banks and labels (one query for a page of cases), not rule ids."""
        from seawall.review.case_reads import reasons_in

        with self.db.session() as s:
            return reasons_in(s, cases)

    def get(self, case_id: int) -> CaseView:
        self.expire_due()
        with self.db.session() as s:
            row = s.get(CaseRow, case_id)
            if row is None:
                raise NotFound(f"case {case_id} does not exist", code="case_not_found")
            return self.case_view(s, row, full=True)

    def media(self, case_id: int) -> tuple[str, bytes] | None:
        """The case's own copy of the media, else what Seawall kept of the item (reports, appeals)."""
        with self.db.session() as s:
            return media_in(s, case_id)

    def take(self, case_id: int, user: ConsoleUser) -> None:
        """Assign an open case to oneself, so two reviewers never work the same case.

        Taking a case one already holds (a double click, a retried call) changes nothing: no second audit
        entry, and the take's clock keeps running from the first take.
        """
        with self.db.session() as s:
            row = _lock_open_case(s, case_id, user)
            if _held_by(row, user.id):
                return
            if row.kind == "appeal" and _decided_by(s, row) == user.id:
                raise Forbidden("you made the decision under appeal; a different reviewer must take the appeal",
                                code="same_reviewer")
            row.assignee_id = user.id
            row.status = "assigned"
            row.assigned_at = utcnow()
            record(s, user.username, "case.take", "case", case_id)

    def release(self, case_id: int, user: ConsoleUser) -> None:
        """Put a taken case back in the queue: its assignee, or a senior reviewer for anyone's case."""
        with self.db.session() as s:
            row = get_locked(s, CaseRow, case_id)
            if row is None:
                raise NotFound(f"case {case_id} does not exist", code="case_not_found")
            if row.status == "decided":
                raise Conflict("this case is already decided", code="case_decided")
            if row.assignee_id is None:
                raise Conflict("this case is not taken by anyone", code="case_not_assigned")
            if row.assignee_id != user.id and not user.has("senior"):
                raise Forbidden("only the assignee or a senior reviewer may release this case", code="forbidden")
            was = s.scalar(select(ConsoleUserRow.username).where(ConsoleUserRow.id == row.assignee_id))
            row.assignee_id = None
            row.assigned_at = None
            row.status = "open"
            record(s, user.username, "case.release", "case", case_id, {"was_assigned_to": was})

    def reassign(self, case_id: int, user: ConsoleUser, to_username: str) -> None:
        """Give an undecided case to a named reviewer (senior role): for absences and specialist cases.

        Giving a case to the reviewer who already holds it (a double click, a retried call) changes
        nothing: no second audit entry, and the take's clock keeps running from when it was given. Copies
        sent at once are serialised by the row lock (the write lock on SQLite), so one of them acts.
        """
        if not user.has("senior"):
            raise Forbidden("reassigning a case needs the senior or admin role", code="forbidden")
        with self.db.session() as s:
            row = get_locked(s, CaseRow, case_id, populate_existing=True)
            if row is None:
                raise NotFound(f"case {case_id} does not exist", code="case_not_found")
            if row.status == "decided":
                raise Conflict("this case is already decided", code="case_decided")
            target = s.scalar(select(ConsoleUserRow).where(ConsoleUserRow.username == to_username.strip()))
            if target is None or target.disabled_at is not None:
                raise InvalidInput(f"assignee: no active console user {to_username!r}", code="unknown_user")
            if row.queue == "senior" and target.role == "reviewer":
                raise InvalidInput(f"assignee: {target.username} is a reviewer; this case is in the senior queue",
                                   code="wrong_role")
            if row.kind == "appeal" and _decided_by(s, row) == target.id:
                raise InvalidInput(f"assignee: {target.username} made the decision under appeal",
                                   code="same_reviewer")
            if _held_by(row, target.id):
                return
            was = s.scalar(select(ConsoleUserRow.username).where(ConsoleUserRow.id == row.assignee_id)) \
                if row.assignee_id else None
            row.assignee_id = target.id
            row.assigned_at = utcnow()
            row.status = "assigned"
            record(s, user.username, "case.reassign", "case", case_id,
                   {"from": was, "to": target.username})

    def expire_due(self) -> bool:
        """Return expired takes to the queue unless that ran moments ago (reads call this, not every time)."""
        from seawall.review.pacing import expire_due

        return expire_due(self.db, self.expire_taken)

    def expire_taken(self, now: datetime | None = None) -> int:
        """Return cases taken longer ago than ``TAKE_WINDOW`` to the queue, each audited; how many."""
        cutoff = (now or utcnow()) - TAKE_WINDOW
        with self.db.session() as s:
            stale = s.execute(select(CaseRow.id, ConsoleUserRow.username)
                              .join(ConsoleUserRow, ConsoleUserRow.id == CaseRow.assignee_id, isouter=True)
                              .where(CaseRow.status == "assigned", CaseRow.assigned_at < cutoff)).all()
            if not stale:
                return 0
            ids = [case_id for case_id, _ in stale]
            s.execute(update(CaseRow).where(CaseRow.id.in_(ids), CaseRow.status == "assigned",
                                            CaseRow.assigned_at < cutoff)
                      .values(status="open", assignee_id=None, assigned_at=None))
            for case_id, was in stale:
                record(s, "system", "case.expire", "case", case_id, {"was_assigned_to": was})
        return len(stale)

    def add_note(self, case_id: int, user: ConsoleUser, text: str) -> None:
        """A note for whoever opens the case next (context a decision note would come too late for)."""
        text = text.strip()
        if not text or len(text) > 2000:
            raise InvalidInput("note: 1 to 2000 characters", code="invalid_field")
        with self.db.session() as s:
            row = s.get(CaseRow, case_id)
            if row is None:
                raise NotFound(f"case {case_id} does not exist", code="case_not_found")
            if row.queue == "senior" and not user.has("senior"):
                raise Forbidden("this case is in the senior queue: it needs the senior or admin role",
                                code="forbidden")
            s.add(CaseNoteRow(case_id=case_id, username=user.username, text=text, created_at=utcnow()))
            record(s, user.username, "case.note", "case", case_id, {"text": text[:200]})

    def reveal(self, case_id: int, user: ConsoleUser) -> str:
        """Let one reviewer see one case's original media for ``REVEAL_WINDOW``; audited, counted, capped at
        ``SEAWALL_REVEAL_DAILY_CAP`` a day.

        Returns the reveal token: the only way to the original bytes, valid with this reviewer's
        session only and only until it expires. A reviewer at the day's cap is refused (429).
        """
        if self.exposure_today(user.username) >= self.daily_reveal_cap:
            raise SeawallError(f"you have revealed {self.daily_reveal_cap} items today, the daily limit: please stop "
                               "for today, or ask a lead to take over cases that need the original",
                               code="exposure_cap", status=429)
        token = secrets.token_urlsafe(32)
        now = utcnow()
        with self.db.session() as s:
            if s.get(CaseRow, case_id) is None:
                raise NotFound(f"case {case_id} does not exist", code="case_not_found")
            row = CaseRevealRow(token=token, case_id=case_id, user_id=user.id, created_at=now,
                                expires_at=now + REVEAL_WINDOW)
            s.add(row)
            s.flush()
            record(s, user.username, "media.reveal", "case", case_id,
                   {"reveal_id": row.id, "expires_at": (now + REVEAL_WINDOW).isoformat()})
        return token

    def revealed(self, case_id: int, user: ConsoleUser) -> str | None:
        """This reviewer's live reveal token for this case, if any: the server, not the URL, decides."""
        with self.db.session() as s:
            return revealed_in(s, case_id, user)

    def revealed_media(self, token: str, user: ConsoleUser) -> tuple[int, tuple[str, bytes] | None]:
        """The case and original media behind a live reveal token issued to this reviewer; else 404, or 403
        once the case has moved to the senior queue and the reviewer may no longer open it at all."""
        with self.db.session() as s:
            row = s.scalar(select(CaseRevealRow).where(CaseRevealRow.token == token))
            if row is None or row.user_id != user.id or aware(row.expires_at) <= utcnow():
                raise NotFound("this reveal link is not yours or has expired; reveal the item again",
                               code="reveal_expired")
            case_id = row.case_id
            ensure_row_open_to(s.scalar(select(CaseRow.queue).where(CaseRow.id == case_id)) or "", user)
        return case_id, self.media(case_id)

    def shielded_media(self, case_id: int, strength: str) -> tuple[str, bytes] | None:
        """The case's media as a shielded rendition (see :mod:`seawall.review.shield`); text stays text."""
        media = self.media(case_id)
        if media is None or media[0].startswith("text/"):
            return media
        return shielded(media[1], media[0], strength)

    def break_prompted(self, user: ConsoleUser, done: int) -> None:
        """Record that the console asked a reviewer to pause (leads see how often it happens)."""
        with self.db.session() as s:
            record(s, user.username, "exposure.break_prompt", "user", user.username, {"revealed_today": done})

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
            kind = self.banks.get(bank).kind
            want = "block" if outcome == "violating" else "allow"
            if kind != want:
                raise InvalidInput(f"bank: {bank!r} is a {kind} bank; a {outcome.replace('_', ' ')} decision "
                                   f"may only add to a {want} bank", code="wrong_bank_kind")
        item_id = self._item_of(case_id)
        item = self.items.get(item_id)
        stored = self.media(case_id) if bank is not None else None
        with self.db.session() as s:
            row = _lock_open_case(s, case_id, user)
            if row.kind == "appeal":
                raise InvalidInput("an appeal is decided as upheld or rejected, not as a new decision",
                                   code="wrong_case_kind")
            if bank is not None and stored is None:
                raise InvalidInput("this case has no stored media to add to a bank", code="no_media")
            row.status = "decided"
            row.assignee_id = user.id
            row.assigned_at = None
            row.decided_at = utcnow()
            sync_case_tags(s, row)
            chosen = [a.to_dict() for a in actions]
            decision = CaseDecisionRow(case_id=case_id, user_id=user.id, username=user.username, outcome=outcome,
                                       labels=labels, bank_name=bank, entries_added=0, note=note[:2000],
                                       created_at=utcnow(), actions=chosen, entry_ids=[])
            s.add(decision)
            s.flush()
            case_decision_id = decision.id
            sample_decision(s, self.sampler, decision)
            verdict = _verdict_after(outcome, actions, item.verdict.verdict)
            event = {"case_id": case_id, "kind": row.kind, "item_id": item.id, "content_id": item.content_id,
                     "account_id": item.account_id, "outcome": outcome, "labels": labels,
                     "actions": chosen, "verdict": verdict}
            decision_id, results, queued = self.actions.apply(
                s, item, actions, verdict=verdict, facts={"case_id": case_id, "labels": labels, "reviewer": True},
                reasons=[f"review case {case_id}: {outcome.replace('_', ' ')}"
                         + (f" ({', '.join(labels)})" if labels else "")],
                events=[("case.decided", event)])
            decision.decision_id = decision_id
            s.execute(update(ItemRow).where(ItemRow.id == item.id).values(verdict=verdict))
            media_type, data = stored if stored is not None else ("", b"")
            record(s, user.username, "case.decide", "case", case_id,
                   {"outcome": outcome, "labels": labels, "bank": bank, "item_id": item.id, "actions": chosen,
                    "decision_id": decision_id})
        if queued:
            self.events_queued()
        result: dict[str, Any] = {"decision_id": decision_id, "case_decision_id": case_decision_id, "added": 0,
                                  "refused": [], "actions": [{"type": r["type"], "status": r["status"],
                                                              **r["result"]} for r in results]}
        if bank is not None:
            result.update(self._teach_bank(case_id, case_decision_id, user, bank, item, data, media_type, labels))
        return result

    def cluster(self, case_id: int, user: ConsoleUser, limit: int = 500) -> list[int]:
        """Other undecided cases whose items matched any bank entry this case's item matched, or whose
        media is near-same by PDQ (within the match threshold) with no bank entry involved.

        The same (or nearly the same) material posted many times is one judgement: the reviewer sees how
        many cases it covers and may decide them all at once. Appeals, cases taken by someone else and
        senior-queue cases a reviewer may not work are left out.
        """
        item_id = self._item_of(case_id)
        with self.db.session() as s:
            return self.cluster_in(s, case_id, item_id, user, limit)

    def cluster_in(self, s: Session, case_id: int, item_id: str, user: ConsoleUser, limit: int = 500) -> list[int]:
        """:meth:`cluster` in the caller's transaction, for a case whose item the caller already read."""
        entries = select(MatchRow.entry_id).where(MatchRow.item_id == item_id)
        same: ColumnElement[bool] = CaseRow.item_id.in_(
            select(MatchRow.item_id).where(MatchRow.entry_id.in_(entries)))
        near = sorted(self.near_media.near(s, case_id))[:NEAR_MEDIA_CAP]
        if near:
            same = same | CaseRow.id.in_(near)
        q = (select(CaseRow.id).where(
            CaseRow.id != case_id, CaseRow.status != "decided", CaseRow.kind != "appeal", same,
            (CaseRow.assignee_id.is_(None)) | (CaseRow.assignee_id == user.id))
             .order_by(CaseRow.id).limit(limit))
        if not user.has("senior"):
            q = q.where(CaseRow.queue != "senior")
        return list(s.scalars(q))

    def decide_cluster(self, case_id: int, user: ConsoleUser, *, outcome: str, labels: list[str],
                       actions: list[Action] | None = None, note: str = "") -> dict[str, Any]:
        """Decide a case and every case of its cluster the same way: each decided, acted on and audited
        on its own (a case someone took meanwhile is skipped and reported, not overridden)."""
        if outcome not in ("violating", "not_violating"):
            raise InvalidInput("outcome: a cluster is decided violating or not violating", code="invalid_outcome")
        others = self.cluster(case_id, user)
        first = self.decide(case_id, user, outcome=outcome, labels=labels, actions=actions, note=note)
        decided, skipped = [case_id], []
        for other in others:
            try:
                self.decide(other, user, outcome=outcome, labels=labels, actions=actions,
                            note=(f"cluster of case {case_id}" + (f": {note}" if note else ""))[:2000])
                decided.append(other)
            except (Conflict, Forbidden, NotFound):
                skipped.append(other)
        with self.db.session() as s:
            record(s, user.username, "case.cluster_decide", "case", case_id,
                   {"outcome": outcome, "decided": decided, "skipped": skipped})
        return {**first, "cluster_decided": decided, "cluster_skipped": skipped}

    def _item_of(self, case_id: int) -> str:
        with self.db.session() as s:
            item_id = s.scalar(select(CaseRow.item_id).where(CaseRow.id == case_id))
        if item_id is None:
            raise NotFound(f"case {case_id} does not exist", code="case_not_found")
        return str(item_id)

    def _teach_bank(self, case_id: int, case_decision_id: int, user: ConsoleUser, bank: str, item: Item,
                    data: bytes, media_type: str, labels: list[str]) -> dict[str, Any]:
        """Hash the case's media into a bank; keep the ids of new entries (an upheld appeal removes them)."""
        added, refused = self.add_to_bank(
            bank, item.content_type, data, labels=labels,
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


#: Near-same cases considered for one cluster (a cluster decision covers at most 500 anyway).
NEAR_MEDIA_CAP = 2000
#: Cases beyond a page's end read so the page's last priority band is ordered by score, not by age alone.
BAND_LOOKAHEAD = 50


def _users_in(s: Session, rows: Sequence[Any]) -> list[CaseView]:
    """Views for many case rows with one query for all assignees' names (not one per row)."""
    ids = {r.assignee_id for r, _ in rows if r.assignee_id}
    names = {uid: name for uid, name in s.execute(select(ConsoleUserRow.id, ConsoleUserRow.username)
                                                  .where(ConsoleUserRow.id.in_(ids)))} if ids else {}
    out = []
    for r, reach in rows:
        v = CaseView(r.id, r.item_id, r.reason, r.source, r.priority, r.status, names.get(r.assignee_id),
                     aware(r.created_at), aware(r.sla_due_at), aware(r.decided_at) if r.decided_at else None,
                     kind=r.kind, queue=r.queue, report_count=r.report_count, reach=reach, appeal_id=r.appeal_id,
                     assigned_at=aware(r.assigned_at) if r.assigned_at else None)
        out.append(v)
    return out


def media_in(s: Session, case_id: int) -> tuple[str, bytes] | None:
    """:meth:`ReviewService.media` in the caller's transaction."""
    row = s.get(CaseMediaRow, case_id)
    if row is not None:
        return row.media_type, row.data
    kept = s.scalar(select(ItemContentRow).join(CaseRow, CaseRow.item_id == ItemContentRow.item_id)
                    .where(CaseRow.id == case_id))
    if kept is None:
        return None
    media_type = kept.media_type if kept.media_type.startswith("text/") else \
        sniff_media_type(kept.data, kept.media_type)
    return media_type, kept.data


def revealed_in(s: Session, case_id: int, user: ConsoleUser) -> str | None:
    """:meth:`ReviewService.revealed` in the caller's transaction."""
    return s.scalar(select(CaseRevealRow.token).where(
        CaseRevealRow.case_id == case_id, CaseRevealRow.user_id == user.id,
        CaseRevealRow.expires_at > utcnow()).order_by(CaseRevealRow.id.desc()).limit(1))


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


def _held_by(row: CaseRow, user_id: int) -> bool:
    """Whether ``user_id`` holds the case by a take (or reassignment) that has not expired."""
    return (row.status == "assigned" and row.assignee_id == user_id and row.assigned_at is not None
            and aware(row.assigned_at) >= utcnow() - TAKE_WINDOW)


def _lock_open_case(s: Session, case_id: int, user: ConsoleUser) -> CaseRow:
    """The case row, locked, if it is still open and not assigned to someone else; else 404/409."""
    row = get_locked(s, CaseRow, case_id, populate_existing=True)
    if row is None:
        raise NotFound(f"case {case_id} does not exist", code="case_not_found")
    if row.status == "decided":
        raise Conflict("this case is already decided", code="case_decided")
    if row.queue == "senior" and not user.has("senior"):
        raise Forbidden("this case is in the senior queue: it needs the senior or admin role", code="forbidden")
    if row.assignee_id not in (None, user.id):
        if row.assigned_at is not None and aware(row.assigned_at) < utcnow() - TAKE_WINDOW:
            return row  # the take expired: the case is back in the queue
        raise Conflict("this case is assigned to someone else", code="case_assigned")
    return row
