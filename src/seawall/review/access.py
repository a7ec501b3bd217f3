"""Who may open which case: the senior queue (escalations and appeals) is closed to plain reviewers.

A case lands in the senior queue because it is harder or more disturbing than the rest, or because
it contests a reviewer's own decision. Listing, opening, revealing or downloading such a case, its
media, or a bank thumbnail cut from it needs the senior or admin role; the same holds for reviewer
API keys reading the kept content of an item that has a senior-queue case. Checks live here, in one
place, so every console page and API route asks the same question.

API keys have no senior role: a ``reviewer`` key stands for a plain reviewer's tool, so it neither
lists nor opens senior-queue cases, nor acts (case actions, item actions) on an item with an open
senior-queue case, whoever it names in ``X-Seawall-Reviewer``. Only an ``admin`` key reaches them.
"""

from __future__ import annotations

from sqlalchemy import select

from seawall.apikeys import Principal
from seawall.errors import Forbidden, NotFound
from seawall.review.users import ConsoleUser
from seawall.store.db import Database
from seawall.store.tables import BankEntryMediaRow, CaseRow

SENIOR_QUEUE = "senior"
SENIOR_ONLY = "this case is in the senior queue: it needs the senior or admin role"


def ensure_queue_visible(user: ConsoleUser, queue: str | None) -> None:
    """403 when a plain reviewer asks to list the senior queue."""
    if queue == SENIOR_QUEUE and not user.has("senior"):
        raise Forbidden("the senior queue needs the senior or admin role", code="forbidden")


def ensure_case_open_to(db: Database, case_id: int, user: ConsoleUser) -> None:
    """404 for an unknown case, 403 for a senior-queue case and a plain reviewer."""
    with db.session() as s:
        queue = s.scalar(select(CaseRow.queue).where(CaseRow.id == case_id))
    if queue is None:
        raise NotFound(f"case {case_id} does not exist", code="case_not_found")
    ensure_row_open_to(queue, user)


def ensure_row_open_to(queue: str, user: ConsoleUser) -> None:
    """403 for a plain reviewer and a case in the senior queue (for callers that already read the case)."""
    if queue == SENIOR_QUEUE and not user.has("senior"):
        raise Forbidden(SENIOR_ONLY, code="forbidden")


def ensure_thumbnail_open_to(db: Database, entry_id: int, user: ConsoleUser) -> None:
    """A bank thumbnail is as closed as the case it was cut from (no case: open to every reviewer)."""
    if user.has("senior"):
        return
    with db.session() as s:
        queue = s.scalar(select(CaseRow.queue).join(BankEntryMediaRow, BankEntryMediaRow.case_id == CaseRow.id)
                         .where(BankEntryMediaRow.entry_id == entry_id))
    if queue == SENIOR_QUEUE:
        raise Forbidden(SENIOR_ONLY, code="forbidden")


def item_in_senior_queue(db: Database, item_id: str) -> bool:
    """Whether any case about this item sits in the senior queue (its content is then senior-only)."""
    with db.session() as s:
        return s.scalar(select(CaseRow.id).where(CaseRow.item_id == item_id, CaseRow.queue == SENIOR_QUEUE)
                        .limit(1)) is not None


def key_sees_senior_queue(principal: Principal) -> bool:
    """Whether an API key may list and handle senior-queue cases (only admin keys: there is no senior key)."""
    return principal.role == "admin"


def ensure_key_queue_visible(principal: Principal, queue: str) -> str:
    """The queue filter a key may use: 403 for ``senior`` on a reviewer key, which otherwise sees ``standard``."""
    if key_sees_senior_queue(principal):
        return queue
    if queue == SENIOR_QUEUE:
        raise Forbidden("the senior queue needs an admin API key", code="forbidden")
    return queue or "standard"


def item_has_open_senior_case(db: Database, item_id: str) -> bool:
    """Whether an undecided case about this item sits in the senior queue."""
    with db.session() as s:
        return s.scalar(select(CaseRow.id).where(CaseRow.item_id == item_id, CaseRow.queue == SENIOR_QUEUE,
                                                 CaseRow.status != "decided").limit(1)) is not None


def ensure_key_may_act_on_item(db: Database, item_id: str, principal: Principal) -> None:
    """403 when a reviewer key acts on an item whose open case waits in the senior queue."""
    if not key_sees_senior_queue(principal) and item_has_open_senior_case(db, item_id):
        raise Forbidden("this item has an open case in the senior queue: acting on it needs an admin API key",
                        code="forbidden")


def ensure_key_may_open_case(db: Database, case_id: int, principal: Principal) -> None:
    """404 for an unknown case; 403 when a reviewer key opens a senior-queue case or one about an item
    whose open case is in the senior queue."""
    with db.session() as s:
        row = s.execute(select(CaseRow.queue, CaseRow.item_id).where(CaseRow.id == case_id)).first()
    if row is None:
        raise NotFound(f"case {case_id} does not exist", code="case_not_found")
    if key_sees_senior_queue(principal):
        return
    if row.queue == SENIOR_QUEUE:
        raise Forbidden("this case is in the senior queue: it needs an admin API key", code="forbidden")
    ensure_key_may_act_on_item(db, row.item_id, principal)
