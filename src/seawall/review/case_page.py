"""Everything the case page reads from the database, asked in one transaction.

A reviewer opens a case per decision. The page used to open a session per question (access check,
case, item, text, context, account, provenance, reports, appeal, reveal, cluster, near-same media,
the header's reveal count): thirteen pool check-outs with their pings and commits before any HTML,
most of the page's time on PostgreSQL. Here the same questions are asked in one transaction, each
a bounded number of statements however many matches, notes, reports or related items the case has.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from seawall.errors import NotFound
from seawall.models.records import Item
from seawall.review.access import ensure_row_open_to
from seawall.review.appeals import appeal_of_case
from seawall.review.audit import count_in
from seawall.review.cases import CaseView, ReviewService, media_in, revealed_in
from seawall.review.context import case_context_in
from seawall.review.quality import hides_decision_in
from seawall.review.reports import reports_of_case
from seawall.review.users import ConsoleUser
from seawall.sharing.provenance import provenance_in
from seawall.store.tables import CaseRow, utcnow
from seawall.uploads.ingest import item_in

if TYPE_CHECKING:
    from seawall.accounts.service import AccountService

#: Characters of a text post shown on the case page (the rest is a download away).
TEXT_SHOWN = 20_000


@dataclass(frozen=True, slots=True)
class CasePageRead:
    """One case page's data, read in one transaction."""

    case: CaseView
    item: Item
    #: The post's text when the case's media is text, else None.
    text: str | None
    #: Matched entries, related items and the account (see :func:`seawall.review.context.case_context`).
    context: dict[str, Any]
    #: Entry id → the sources that reported it.
    provenance: dict[int, list[dict[str, Any]]]
    reports: list[dict[str, Any]]
    appeal: dict[str, Any] | None
    #: This reviewer's live reveal token for the case, if any.
    reveal_token: str | None
    #: Other undecided cases one decision may cover (empty for decided cases and appeals).
    cluster: list[int]
    #: Reveals the reviewer made today (the header's exposure counter).
    exposure: int


def read_case_page(review: ReviewService, accounts: AccountService, case_id: int,
                   user: ConsoleUser) -> CasePageRead:
    """The case page's reads in one session: 404 for an unknown case, 403 for a senior-queue case and a
    plain reviewer; expired takes go back to the queue first when due."""
    review.expire_due()
    today = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    with review.db.session() as s:
        row = s.get(CaseRow, case_id)
        if row is None:
            raise NotFound(f"case {case_id} does not exist", code="case_not_found")
        ensure_row_open_to(row.queue, user)
        case = review.case_view(s, row, full=True)
        if case.status == "decided" and hides_decision_in(s, case_id, user):
            case.decisions = []  # a blind second review of this decision waits: who decided what stays hidden
        item = item_in(s, case.item_id)
        text = None
        if case.media_type and case.media_type.startswith("text/"):
            media = media_in(s, case_id)
            text = media[1].decode("utf-8", "replace")[:TEXT_SHOWN] if media else None
        undecided = case.status != "decided" and case.kind != "appeal"
        return CasePageRead(
            case=case, item=item, text=text, context=case_context_in(s, accounts, item),
            provenance=provenance_in(s, [m.entry_id for m in item.verdict.matches]),
            reports=reports_of_case(s, case_id),
            appeal=appeal_of_case(s, case_id) if case.kind == "appeal" else None,
            reveal_token=revealed_in(s, case_id, user),
            cluster=review.cluster_in(s, case_id, case.item_id, user) if undecided else [],
            exposure=count_in(s, actor=user.username, action="media.reveal", since=today))
