"""Reviewers' saved queue views: a name for the filters and sort a reviewer keeps coming back to.

A view is stored as the queue's own query string, canonical (keys sorted, empty filters left out), so
opening one is a redirect to the queue and two saves of the same filters compare equal. Names are unique
per reviewer by a database constraint: two identical saves at once make one row (the second gets the
first's), and the same name for different filters is a conflict, never a silent overwrite.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from seawall.errors import Conflict, InvalidInput, NotFound
from seawall.review.search import CaseFilter
from seawall.review.users import ConsoleUser
from seawall.storable import check_stored
from seawall.store.db import Database
from seawall.store.tables import SavedViewRow, utcnow
from seawall.store.upsert import insert_unless_exists

#: Views one reviewer may keep: enough for every way of slicing the queue, not a dumping ground.
MAX_VIEWS = 50


@dataclass(frozen=True, slots=True)
class SavedView:
    id: int
    name: str
    query: str
    created_at: datetime

    @property
    def href(self) -> str:
        return f"/console/queue?{self.query}" if self.query else "/console/queue"


def view_query(f: CaseFilter) -> str:
    """The queue query string for a filter, canonical so the same filters always read the same."""
    f.check()
    return urlencode(sorted(f.active().items()))


class SavedViews:
    def __init__(self, db: Database) -> None:
        self.db = db

    def save(self, user: ConsoleUser, name: str, f: CaseFilter) -> tuple[SavedView, bool]:
        """Save ``f`` under ``name``; (view, created). The same name and filters again is the same view."""
        name = " ".join(str(check_stored(name, "name")).split())
        if not 1 <= len(name) <= 100:
            raise InvalidInput("name: give the view a name of 1 to 100 characters", code="invalid_field")
        query = view_query(f)
        with self.db.session() as s:
            count = s.scalar(select(func.count()).select_from(SavedViewRow).where(SavedViewRow.user_id == user.id))
            if int(count or 0) >= MAX_VIEWS:
                raise Conflict(f"you have {MAX_VIEWS} saved views, the most one reviewer may keep: delete one first",
                               code="too_many_views")
            row = insert_unless_exists(s, SavedViewRow, {"user_id": user.id, "name": name, "query": query,
                                                         "created_at": utcnow()}, conflict=("user_id", "name"))
            if row is not None:
                return _view(row), True
            existing = s.scalars(select(SavedViewRow).where(SavedViewRow.user_id == user.id,
                                                            SavedViewRow.name == name)).one()
            if existing.query != query:
                raise Conflict(f"you already have a view named {name!r} with other filters: choose another name "
                               "or delete that view first", code="view_exists")
            return _view(existing), False

    def for_user(self, user: ConsoleUser) -> list[SavedView]:
        with self.db.session() as s:
            return views_in(s, user)

    def get(self, user: ConsoleUser, view_id: int) -> SavedView:
        """One of this reviewer's views; another reviewer's is as absent as one that never existed."""
        with self.db.session() as s:
            row = s.get(SavedViewRow, view_id)
            if row is None or row.user_id != user.id:
                raise NotFound(f"you have no saved view {view_id}", code="view_not_found")
            return _view(row)

    def delete(self, user: ConsoleUser, view_id: int) -> None:
        with self.db.session() as s:
            gone = s.execute(delete(SavedViewRow).where(SavedViewRow.id == view_id, SavedViewRow.user_id == user.id)
                             .returning(SavedViewRow.id)).first()
            if gone is None:
                raise NotFound(f"you have no saved view {view_id}", code="view_not_found")


def views_in(s: Session, user: ConsoleUser) -> list[SavedView]:
    """A reviewer's saved views by name, read in the caller's session (the queue page reads all in one)."""
    rows = s.scalars(select(SavedViewRow).where(SavedViewRow.user_id == user.id).order_by(SavedViewRow.name))
    return [_view(r) for r in rows]


def _view(row: SavedViewRow) -> SavedView:
    return SavedView(row.id, row.name, row.query, row.created_at)
