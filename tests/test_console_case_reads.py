"""The case page asks the database a fixed, small number of questions, however much the case holds.

A reviewer opens a case per decision, so every extra transaction (a pool check-out, its ping and a
commit) or a query per match, note or related item shows up in every decision at scale. These tests
count connection check-outs and statements per page view, on SQLite and PostgreSQL: the count must
not grow with the case's matches, notes, reports or the account's items, and must stay under a bound.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from seawall.api.app import create_app
from seawall.composition import review_service
from seawall.config import Settings
from seawall.engine import Engine
from seawall.review import pacing
from seawall.review.users import ConsoleUsers
from seawall.store import bank_list
from tests.conftest import auth, encode, textured_image
from tests.console_support import PASSWORD, engine_for, held_image, make_users, sign_in

#: Connection check-outs one case page view may make: the sign-in check and the page's reads.
MAX_CHECKOUTS = 2
#: Statements one case page view may run, whatever the case holds.
MAX_STATEMENTS = 32


@dataclass
class Traffic:
    """What one request asked of the database."""

    checkouts: int = 0
    statements: list[str] = field(default_factory=list)


_current: contextvars.ContextVar[Traffic | None] = contextvars.ContextVar("case_page_traffic", default=None)


class Counted:
    """The app, with every request's database traffic counted (sync routes run in worker threads, which
    inherit the request's context, so background work of the engine is not counted)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.last = Traffic()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.last = Traffic()
        token = _current.set(self.last)
        try:
            await self.app(scope, receive, send)
        finally:
            _current.reset(token)


def _count(engine: Engine) -> None:
    def checkout(*_: Any) -> None:
        traffic = _current.get()
        if traffic is not None:
            traffic.checkouts += 1

    def statement(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        traffic = _current.get()
        if traffic is not None:
            traffic.statements.append(sql)

    event.listen(engine.db.engine.pool, "checkout", checkout)
    event.listen(engine.db.engine, "before_cursor_execute", statement)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    yield from engine_for(settings)


@pytest.fixture
def users(engine: Engine) -> ConsoleUsers:
    return make_users(engine)


@pytest.fixture
def counted(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, Counted]]:
    # the paced work (expired takes, the bank list) runs on the warm-up view and not again during the test,
    # however slow a busy machine makes it: the counts compare like with like
    monkeypatch.setattr(bank_list, "BANKS_FRESH_FOR", 3600.0)
    paced = pacing.expire_due
    monkeypatch.setattr(pacing, "expire_due", lambda db, expire, every=3600.0: paced(db, expire, every=every))
    app = Counted(create_app(engine=engine, follow_writes=False))
    _count(engine)
    with TestClient(app) as c:
        yield c, app


def _view(client: TestClient, app: Counted, case_id: int) -> Traffic:
    client.get(f"/console/cases/{case_id}")  # warm: caches (bank list, due expiry) filled, as on a busy console
    r = client.get(f"/console/cases/{case_id}")
    assert r.status_code == 200, r.text
    return app.last


def _enrich(engine: Engine, client: TestClient, keys: dict[str, str], case_id: int, item_id: str,
            seed: int) -> None:
    """More of everything the page lists: notes, related items of the account and of the entry, reports."""
    review = review_service(engine)
    senior = ConsoleUsers(engine.db).by_name("senior")
    assert senior is not None
    for n in range(4):
        review.add_note(case_id, senior, f"note {n}")
    data = encode(textured_image(seed))
    for n in range(4):  # the same image posted again by the account: related items, more matches per entry
        engine.submit(engine.content("image", data=data), content_id=f"again-{seed}-{n}", account_id="acct-1")
    for category in ("other", "glorification"):
        r = client.post("/v1/reports", headers=auth(keys["submitter"]), json={"item_id": item_id,
                                                                             "category": category})
        assert r.status_code == 201, r.text


def test_case_page_reads_in_a_fixed_number_of_queries(counted: tuple[TestClient, Counted], engine: Engine,
                                                      users: ConsoleUsers, keys: dict[str, str]) -> None:
    client, app = counted
    case_id, item_id = held_image(engine, 1501)
    sign_in(client, "senior", PASSWORD)
    small = _view(client, app, case_id)
    assert small.checkouts <= MAX_CHECKOUTS, small
    assert len(small.statements) <= MAX_STATEMENTS, "\n".join(small.statements)

    _enrich(engine, client, keys, case_id, item_id, 1501)
    big = _view(client, app, case_id)
    page = client.get(f"/console/cases/{case_id}").text
    assert "note 3" in page and "again-1501-3" in page  # the extra rows are on the page
    assert big.checkouts == small.checkouts == 2, (small.checkouts, big.checkouts)
    assert len(big.statements) == len(small.statements), "\n".join(big.statements)
