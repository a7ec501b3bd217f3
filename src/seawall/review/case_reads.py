"""A queue page's reads inside one transaction: the cases, their reasons and which have thumbnails.

Each ``db.session()`` costs a pool check-out (with its liveness ping), the query and a commit: on
PostgreSQL several round trips before any row. The queue page used one session per question; these
functions take the caller's session so the page asks everything in one.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from sqlalchemy import select, union_all
from sqlalchemy.orm import Session

from seawall.review.cases import BAND_LOOKAHEAD, CaseView, _users_in
from seawall.review.search import MAX_LIMIT, CaseFilter, case_query
from seawall.review.wording import case_reason
from seawall.store.tables import CaseMediaRow, CaseRow, ItemContentRow, MatchRow, utcnow


def search_in(s: Session, f: CaseFilter, *, limit: int = 200, offset: int = 0) -> list[CaseView]:
    """A page of cases matching ``f``, filtered and ordered by the database (see :mod:`.search`).

    With the priority order, the database returns one page plus the rest of the last priority band
    on it (up to a bound), and the reach × age score orders cases within each band.
    """
    limit = max(1, min(limit, MAX_LIMIT))
    now = utcnow()
    q = case_query(f, now)
    if f.sort != "priority":
        return _users_in(s, s.execute(q.offset(offset).limit(limit)).all())
    views = _users_in(s, s.execute(q.offset(offset).limit(limit + BAND_LOOKAHEAD)).all())
    views.sort(key=lambda v: (-v.priority, -v.score(now).value, v.created_at, v.id))
    return views[:limit]


def reasons_in(s: Session, cases: list[CaseView]) -> dict[int, str]:
    """Each case's reason as banks and labels (one query for a page of cases), not rule ids."""
    item_ids = {c.item_id for c in cases}
    if not item_ids:
        return {}
    by_item: dict[str, list[Any]] = {}
    for item_id, bank, labels in s.execute(select(MatchRow.item_id, MatchRow.bank_name, MatchRow.labels)
                                           .where(MatchRow.item_id.in_(item_ids)).order_by(MatchRow.distance)):
        by_item.setdefault(item_id, []).append(SimpleNamespace(bank_name=bank, labels=labels or []))
    return {c.id: case_reason(c.reason, by_item.get(c.item_id, [])) for c in cases}


def thumbnailable_in(s: Session, cases: list[CaseView]) -> set[int]:
    """Which of these cases have image or video media for a shielded queue thumbnail: one query."""
    ids = [c.id for c in cases]
    if not ids:
        return set()
    own = select(CaseMediaRow.case_id.label("case_id")).where(
        CaseMediaRow.case_id.in_(ids),
        CaseMediaRow.media_type.like("image/%") | CaseMediaRow.media_type.like("video/%"))
    kept = select(CaseRow.id.label("case_id")).join(ItemContentRow, ItemContentRow.item_id == CaseRow.item_id) \
        .where(CaseRow.id.in_(ids), ~ItemContentRow.media_type.like("text/%"))
    return {int(i) for i in s.scalars(union_all(own, kept))}
