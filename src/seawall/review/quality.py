"""Quality: a share of reviewer decisions sampled for a blind second review, and agreement figures.

Leads need to know whether reviewers judge alike before they trust the queue's output. A configurable
share (``SEAWALL_SECOND_REVIEW_SHARE``) of decisions is sampled in the decision's own transaction;
another reviewer then judges the same case without seeing the first decision (outcome, labels, who).
Agreement per reviewer is the share of their sampled decisions the second reviewer agreed with on the
outcome; agreement per label is, over the reviews where either reviewer gave the label, the share
where both did. Both are counted by the database from rows written when a second review is done.

The sampler is a pure function of the decision id and a seed: deterministic (a test, or an auditor,
can say which decisions are sampled), yet spread evenly over reviewers and hours.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from seawall.errors import Conflict, Forbidden, InvalidInput, NotFound
from seawall.models.labels import validate_labels
from seawall.review.audit import record
from seawall.review.users import ConsoleUser, aware
from seawall.store.db import Database
from seawall.store.tables import (
    CaseDecisionRow,
    CaseRow,
    SecondReviewLabelRow,
    SecondReviewRow,
    utcnow,
)
from seawall.store.write_lock import get_locked

#: Outcomes a second reviewer may give (escalation is not a judgement to agree with).
SECOND_OUTCOMES = ("violating", "not_violating")
#: Agreement is counted over this window by default.
WINDOW = timedelta(days=30)

#: Decides whether one decision (by its id) is sampled for a second review.
Sampler = Callable[[int], bool]


def share_sampler(share: float, seed: str = "seawall-second-review") -> Sampler:
    """Sample a decision when a hash of (seed, decision id) falls below ``share`` of the hash space."""
    share = max(0.0, min(1.0, share))

    def sampled(decision_id: int) -> bool:
        if share <= 0.0:
            return False
        digest = hashlib.sha256(f"{seed}:{decision_id}".encode()).digest()
        return int.from_bytes(digest[:8], "big") < share * 2**64

    return sampled


@dataclass(frozen=True, slots=True)
class Agreement:
    """Agreement for one reviewer or one label: how many second reviews, how many agreed."""

    name: str
    reviewed: int
    agreed: int

    @property
    def rate(self) -> float | None:
        return round(self.agreed / self.reviewed, 3) if self.reviewed else None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "reviewed": self.reviewed, "agreed": self.agreed, "rate": self.rate}


def sample_decision(s: Session, sampler: Sampler, decision: CaseDecisionRow) -> bool:
    """In the decision's transaction: queue a second review if the sampler picks this decision."""
    if decision.outcome not in SECOND_OUTCOMES or not sampler(decision.id):
        return False
    s.add(SecondReviewRow(case_id=decision.case_id, case_decision_id=decision.id, first_user_id=decision.user_id,
                          first_username=decision.username, first_outcome=decision.outcome,
                          first_labels=list(decision.labels or []), status="waiting", created_at=utcnow()))
    return True


class SecondReviews:
    """The second-review queue, its blind judgements, and the agreement they add up to."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def waiting(self, user: ConsoleUser, limit: int = 100) -> list[dict[str, Any]]:
        """Second reviews this user may do: not of their own decisions, not senior cases for a reviewer."""
        q = (select(SecondReviewRow.id, SecondReviewRow.case_id, SecondReviewRow.created_at, CaseRow.queue)
             .join(CaseRow, CaseRow.id == SecondReviewRow.case_id)
             .where(SecondReviewRow.status == "waiting", SecondReviewRow.first_username != user.username)
             .order_by(SecondReviewRow.id).limit(limit))
        if not user.has("senior"):
            q = q.where(CaseRow.queue != "senior")
        with self.db.session() as s:
            return [{"id": r.id, "case_id": r.case_id, "created_at": aware(r.created_at), "queue": r.queue}
                    for r in s.execute(q)]

    def blind(self, review_id: int, user: ConsoleUser) -> dict[str, Any]:
        """What the second reviewer sees: the case, never the first decision or who made it."""
        with self.db.session() as s:
            row = s.get(SecondReviewRow, review_id)
            if row is None:
                raise NotFound(f"second review {review_id} does not exist", code="second_review_not_found")
            self._check(s, row, user)
            return {"id": row.id, "case_id": row.case_id, "status": row.status}

    def submit(self, review_id: int, user: ConsoleUser, *, outcome: str, labels: list[str]) -> dict[str, Any]:
        """Record the blind judgement, compare it with the first decision, and keep per-label agreement."""
        if outcome not in SECOND_OUTCOMES:
            raise InvalidInput("outcome: violating or not_violating", code="invalid_outcome")
        labels = validate_labels(labels) if labels else []
        if outcome == "violating" and not any(lb.startswith("behaviour:") for lb in labels):
            raise InvalidInput("labels: a violating judgement needs at least one behaviour label",
                               code="labels_required")
        if outcome == "not_violating":
            labels = []
        with self.db.session() as s:
            row = get_locked(s, SecondReviewRow, review_id)
            if row is None:
                raise NotFound(f"second review {review_id} does not exist", code="second_review_not_found")
            self._check(s, row, user)
            if row.status != "waiting":
                raise Conflict("this second review is already done", code="second_review_done")
            first = set(row.first_labels or [])
            row.status = "done"
            row.reviewer_username = user.username
            row.outcome = outcome
            row.labels = labels
            row.agreed = outcome == row.first_outcome
            row.decided_at = utcnow()
            for label in sorted(first | set(labels)):
                s.add(SecondReviewLabelRow(review_id=row.id, label=label[:200], first=label in first,
                                           second=label in labels))
            record(s, user.username, "case.second_review", "case", row.case_id,
                   {"second_review_id": row.id, "outcome": outcome, "labels": labels, "agreed": row.agreed})
            try:
                s.flush()
            except IntegrityError as exc:  # pragma: no cover - the row lock makes this a race loser only
                raise Conflict("this second review is already done", code="second_review_done") from exc
            return {"id": row.id, "case_id": row.case_id, "agreed": row.agreed, "first_outcome": row.first_outcome,
                    "first_labels": sorted(first), "first_reviewer": row.first_username}

    def hides_decision(self, case_id: int, user: ConsoleUser) -> bool:
        """Whether the case's decision history stays hidden from this user: a second review of it waits and
        they did not make the decision (an admin sees everything)."""
        if user.has("admin"):
            return False
        return self.blind_review_waits(case_id, except_first=user.username)

    def blind_review_waits(self, case_id: int, *, except_first: str = "") -> bool:
        """Whether a second review of this case's decision waits (not counting one of ``except_first``'s own
        decisions): while it does, anyone who might become the second reviewer must not see the decision."""
        with self.db.session() as s:
            return blind_review_waits_in(s, case_id, except_first=except_first)

    def agreement(self, *, now: datetime | None = None, window: timedelta = WINDOW) -> dict[str, Any]:
        """Agreement per first reviewer and per label over second reviews done in the window."""
        since = (now or utcnow()) - window
        agreed_int = case((SecondReviewRow.agreed.is_(True), 1), else_=0)
        both = case(((SecondReviewLabelRow.first.is_(True)) & (SecondReviewLabelRow.second.is_(True)), 1), else_=0)
        with self.db.session() as s:
            people = s.execute(select(SecondReviewRow.first_username, func.count(),
                                      func.sum(agreed_int).cast(Integer))
                               .where(SecondReviewRow.status == "done", SecondReviewRow.decided_at >= since)
                               .group_by(SecondReviewRow.first_username)
                               .order_by(SecondReviewRow.first_username)).all()
            labels = s.execute(select(SecondReviewLabelRow.label, func.count(), func.sum(both).cast(Integer))
                               .join(SecondReviewRow, SecondReviewRow.id == SecondReviewLabelRow.review_id)
                               .where(SecondReviewRow.status == "done", SecondReviewRow.decided_at >= since)
                               .group_by(SecondReviewLabelRow.label).order_by(SecondReviewLabelRow.label)).all()
            waiting = s.scalar(select(func.count()).select_from(SecondReviewRow)
                               .where(SecondReviewRow.status == "waiting")) or 0
        return {"since": since.isoformat(), "waiting": int(waiting),
                "reviewers": [Agreement(n, int(c), int(a or 0)) for n, c, a in people],
                "labels": [Agreement(n, int(c), int(a or 0)) for n, c, a in labels]}

    @staticmethod
    def _check(s: Session, row: SecondReviewRow, user: ConsoleUser) -> None:
        if row.first_username == user.username:
            raise Forbidden("you made the decision under second review; another reviewer must judge it",
                            code="same_reviewer")
        queue = s.scalar(select(CaseRow.queue).where(CaseRow.id == row.case_id))
        if queue == "senior" and not user.has("senior"):
            raise Forbidden("this case is in the senior queue: it needs the senior or admin role", code="forbidden")


def hides_decision_in(s: Session, case_id: int, user: ConsoleUser) -> bool:
    """:meth:`SecondReviews.hides_decision` in the caller's transaction."""
    return not user.has("admin") and blind_review_waits_in(s, case_id, except_first=user.username)


def blind_review_waits_in(s: Session, case_id: int, *, except_first: str = "") -> bool:
    """:meth:`SecondReviews.blind_review_waits` in the caller's transaction."""
    return s.scalar(select(SecondReviewRow.id).where(
        SecondReviewRow.case_id == case_id, SecondReviewRow.status == "waiting",
        SecondReviewRow.first_username != except_first).limit(1)) is not None
