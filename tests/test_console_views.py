"""Saved queue views: a reviewer names the queue's current filters and sort, lists, opens and deletes them;
each reviewer sees only their own; names are unique per reviewer in the database, so identical saves at
once make one row and the same name for other filters is a 409. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from seawall.api.app import create_app
from seawall.config import Settings
from seawall.engine import Engine
from seawall.review.users import ConsoleUsers
from seawall.store.tables import SavedViewRow
from tests.console_support import PASSWORD, csrf_of, engine_for, make_users, sign_in
from tests.live_server import all_at_once, serving


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    yield from engine_for(settings)


@pytest.fixture
def users(engine: Engine) -> ConsoleUsers:
    return make_users(engine)


def _rows(engine: Engine) -> int:
    with engine.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(SavedViewRow)) or 0)


def test_reviewer_saves_lists_opens_and_deletes_views(client: TestClient, engine: Engine,
                                                      users: ConsoleUsers) -> None:
    csrf = sign_in(client, "reviewer")
    queue = client.get("/console/queue", params={"kind": "report", "sla": "red", "sort": "oldest"})
    assert 'id="save-view"' in queue.text and 'name="kind" value="report"' in queue.text
    form = {"csrf_token": csrf, "name": "Overdue  reports", "kind": "report", "sla": "red", "sort": "oldest",
            "queue": "standard"}
    assert client.post("/console/views", data={**form, "csrf_token": "wrong"}).status_code == 403
    r = client.post("/console/views", data=form, follow_redirects=False)
    assert r.status_code == 303
    where = urlsplit(r.headers["location"])
    assert where.path == "/console/queue"
    assert parse_qs(where.query) == {"kind": ["report"], "sla": ["red"], "sort": ["oldest"], "queue": ["standard"],
                                     "saved": ["new"]}
    page = client.get(r.headers["location"])
    assert 'id="view-saved"' in page.text and ">Overdue reports</a>" in page.text
    again = client.post("/console/views", data=form, follow_redirects=False)
    assert again.status_code == 303 and "saved=same" in again.headers["location"] and _rows(engine) == 1
    clash = client.post("/console/views", data={**form, "sort": "newest"})
    assert clash.status_code == 409 and "already have a view named" in clash.text and _rows(engine) == 1
    for bad in ({"name": " "}, {"sort": "sideways"}, {"name": "x" * 101}):
        refused = client.post("/console/views", data={**form, **bad})
        assert refused.status_code == 422 and 'role="alert"' in refused.text, bad
    listing = client.get("/console/views")
    view_id = int(listing.text.split('data-view="')[1].split('"')[0])
    opened = client.get(f"/console/views/{view_id}", follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"] == \
        "/console/queue?kind=report&queue=standard&sla=red&sort=oldest"
    # another reviewer neither sees it nor opens nor deletes it
    other = sign_in(client, "reviewer2")
    assert "Overdue reports" not in client.get("/console/views").text
    assert "Overdue reports" not in client.get("/console/queue").text
    assert client.get(f"/console/views/{view_id}", follow_redirects=False).status_code == 404
    assert client.post(f"/console/views/{view_id}/delete", data={"csrf_token": other}).status_code == 404
    # the same name is free for them: uniqueness is per reviewer
    mine = client.post("/console/views", data={**form, "csrf_token": other}, follow_redirects=False)
    assert mine.status_code == 303 and _rows(engine) == 2
    csrf = sign_in(client, "reviewer")
    r = client.post(f"/console/views/{view_id}/delete", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and "No saved views yet" in client.get("/console/views").text
    assert client.get(f"/console/views/{view_id}", follow_redirects=False).status_code == 404
    client.cookies.clear()
    assert client.get("/console/views", follow_redirects=False).headers["location"].endswith("/console/login")


def test_identical_saves_at_once_make_one_row(engine: Engine, users: ConsoleUsers) -> None:
    app = create_app(engine=engine, follow_writes=False)
    with serving(app) as base:
        with httpx.Client(base_url=base) as c:
            login = c.get("/console/login")
            c.post("/console/login", data={"username": "reviewer", "password": PASSWORD,
                                           "csrf_token": csrf_of(login.text)})
            csrf = csrf_of(c.get("/console/queue").text)
            cookie = {"Cookie": "; ".join(f"{k}={v}" for k, v in c.cookies.items())}
        form = {"csrf_token": csrf, "name": "Appeals", "kind": "appeal"}
        answers = all_at_once(8, lambda h: h.post(f"{base}/console/views", data=form, headers=cookie))
        assert all(a.status_code == 303 for a in answers), [(a.status_code, a.text[:200]) for a in answers]
        assert sorted(parse_qs(urlsplit(a.headers["location"]).query)["saved"][0] for a in answers) == \
            ["new"] + ["same"] * 7
        # one name, two different filters at once: one wins, its twin is "same", the others a 409 - never a 500
        kinds = iter(["report", "report", "appeal", "appeal"])
        mixed = [{**form, "name": "Mixed", "kind": next(kinds)} for _ in range(4)]
        sent = iter(mixed)
        clash = all_at_once(4, lambda h: h.post(f"{base}/console/views", headers=cookie, data=next(sent)))
        assert sorted(a.status_code for a in clash) == [303, 303, 409, 409], [a.status_code for a in clash]
        assert _rows(engine) == 2
