"""Everything the queue page reads from the database, asked in one transaction.

The page used to open a session per question (cases, reasons, thumbnails, saved views, the header's
reveal count), each a pool check-out with its ping and a commit; on PostgreSQL those round trips,
not the indexed queue query, were most of the page's time.
"""

from __future__ import annotations

from dataclasses import dataclass

from seawall.review.audit import count_in
from seawall.review.case_reads import reasons_in, search_in, thumbnailable_in
from seawall.review.cases import CaseView, ReviewService
from seawall.review.search import CaseFilter
from seawall.review.users import ConsoleUser
from seawall.review.views import SavedView, views_in
from seawall.store.tables import utcnow


@dataclass(frozen=True, slots=True)
class QueuePageRead:
    """One queue page's data: the cases and, per case, its reason and whether it has a thumbnail."""

    cases: list[CaseView]
    reasons: dict[int, str]
    thumbs: set[int]
    my_views: list[SavedView]
    #: Reveals the reviewer made today (the header's exposure counter).
    exposure: int


def read_queue_page(review: ReviewService, f: CaseFilter, user: ConsoleUser, *, limit: int) -> QueuePageRead:
    """The page's reads in one session; expired takes go back to the queue first when due."""
    f.check()
    review.expire_due()
    today = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    with review.db.session() as s:
        cases = search_in(s, f, limit=limit)
        views = views_in(s, user)
        exposure = count_in(s, actor=user.username, action="media.reveal", since=today)
        return QueuePageRead(cases, reasons_in(s, cases), thumbnailable_in(s, cases), views, exposure)
