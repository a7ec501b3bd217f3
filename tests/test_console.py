"""Review console: sessions, CSRF, lockout, role checks, and decisions that teach banks (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import re
import time

import pytest
from fastapi.testclient import TestClient

from seawall.banks.service import EntryInput
from seawall.composition import build_engine
from seawall.config import Settings
from seawall.engine import Engine
from seawall.review.users import ConsoleUsers
from tests.conftest import auth, encode, textured_image

PASSWORD = "correct horse battery"


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, html
    return m.group(1)


def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Sign in and return the session's CSRF token (from the queue page)."""
    page = client.get("/console/login")
    r = client.post("/console/login", data={"username": username, "password": password,
                                            "csrf_token": _csrf(page.text)}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return _csrf(client.get("/console/queue").text)


@pytest.fixture
def users(engine: Engine) -> ConsoleUsers:
    u = ConsoleUsers(engine.db)
    for role in ("reviewer", "senior", "admin"):
        u.create(role, PASSWORD, role)
    return u


def _case_for_image(engine: Engine, seed: int = 7) -> tuple[int, bytes]:
    """A held-for-review upload: the image matches a bank whose default action is review."""
    engine.banks.create("watch", default_action="review")
    data = encode(textured_image(seed))
    engine.add_entries_from_content("watch", engine.content("image", data=data), labels=["behaviour:glorification"],
                                    note="", source="test", added_by="test")
    item = engine.submit(engine.content("image", data=data), content_id="post-1")
    assert item.verdict.verdict == "review"
    from seawall.composition import review_service

    cases = review_service(engine).waiting()
    assert [c.item_id for c in cases] == [item.id]
    return cases[0].id, data


def test_pages_need_a_session(client: TestClient, users: ConsoleUsers) -> None:
    for path in ("/console/queue", "/console/audit", "/console/cases/1", "/console/audit.csv"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/console/login"
    client.cookies.set("seawall_session", "forged-token-value")
    assert client.get("/console/queue", follow_redirects=False).headers["location"] == "/console/login"


def test_session_cookie_flags_and_expiry(client: TestClient, users: ConsoleUsers) -> None:
    page = client.get("/console/login")
    r = client.post("/console/login", data={"username": "reviewer", "password": PASSWORD,
                                            "csrf_token": _csrf(page.text)}, follow_redirects=False)
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert client.get("/console/queue").status_code == 200
    users.expire_sessions("reviewer")
    assert client.get("/console/queue", follow_redirects=False).headers["location"] == "/console/login"


def test_csrf_missing_or_wrong_is_refused(client: TestClient, engine: Engine, users: ConsoleUsers) -> None:
    page = client.get("/console/login")
    assert client.post("/console/login", data={"username": "admin", "password": PASSWORD}).status_code == 403
    assert client.post("/console/login", data={"username": "admin", "password": PASSWORD,
                                               "csrf_token": "x" + _csrf(page.text)}).status_code == 403
    login(client, "reviewer")
    case_id, _ = _case_for_image(engine)
    assert client.post(f"/console/cases/{case_id}/reveal", data={}).status_code == 403
    r = client.post(f"/console/cases/{case_id}/decide", data={"outcome": "not_violating", "csrf_token": "nope"})
    assert r.status_code == 403
    assert '<strong id="case-status">open</strong>' in client.get(f"/console/cases/{case_id}").text


def test_lockout_after_five_failures(client: TestClient, users: ConsoleUsers) -> None:
    for _ in range(5):
        page = client.get("/console/login")
        r = client.post("/console/login", data={"username": "senior", "password": "wrong password!",
                                                "csrf_token": _csrf(page.text)})
        assert r.status_code == 401
    page = client.get("/console/login")
    r = client.post("/console/login", data={"username": "senior", "password": PASSWORD,
                                            "csrf_token": _csrf(page.text)})
    assert r.status_code == 401 and "locked" in r.text


def test_roles_are_checked_on_the_server(client: TestClient, engine: Engine, users: ConsoleUsers) -> None:
    login(client, "reviewer")
    assert client.get("/console/audit").status_code == 403
    assert client.get("/console/audit.csv").status_code == 403
    case_id, _ = _case_for_image(engine)
    engine.banks.create("known")
    csrf = _csrf(client.get(f"/console/cases/{case_id}").text)
    r = client.post(f"/console/cases/{case_id}/decide", data={
        "csrf_token": csrf, "outcome": "violating", "labels": "behaviour:glorification", "block_bank": "known"})
    assert r.status_code == 403  # bank edits need senior
    client.cookies.clear()
    login(client, "admin")
    assert client.get("/console/audit").status_code == 200


def test_decision_teaches_the_bank(client: TestClient, engine: Engine, users: ConsoleUsers,
                                   keys: dict[str, str]) -> None:
    case_id, data = _case_for_image(engine)
    engine.banks.create("known")
    csrf = login(client, "senior")
    page = client.get(f"/console/cases/{case_id}").text
    assert 'class="shielded"' in page
    assert client.get(f"/console/cases/{case_id}/media").content != data  # a shielded rendition, not the upload
    client.post(f"/console/cases/{case_id}/reveal", data={"csrf_token": csrf})
    page = client.get(f"/console/cases/{case_id}").text
    assert 'class="revealed"' in page and '<strong id="exposure">1</strong>' in page
    revealed = re.search(r'src="(/console/reveals/[^"]+)"', page)
    assert revealed and client.get(revealed.group(1)).content == data
    r = client.post(f"/console/cases/{case_id}/decide", data={
        "csrf_token": csrf, "outcome": "violating", "labels": ["behaviour:glorification"], "block_bank": "known"})
    assert r.status_code == 200 and "bank entr" in r.text, r.text
    again = client.post(f"/console/cases/{case_id}/decide", data={"csrf_token": csrf, "outcome": "not_violating"})
    assert again.status_code == 409  # double submit changes nothing
    assert client.get("/console/queue").text.count("/console/cases/") == 0
    up = client.post("/v1/items", headers=auth(keys["submitter"]), data={"content_id": "post-2"},
                     files={"file": ("a.jpg", data, "image/jpeg")})
    assert up.status_code in (200, 201), up.text
    assert up.json()["verdict"] == "block"
    client.cookies.clear()
    login(client, "admin")
    csv = client.get("/console/audit.csv").text
    for action in ("media.reveal", "case.decide", "bank.add", "login", "case.open"):
        assert f",{action}," in csv


def test_assigned_case_cannot_be_decided_by_another(client: TestClient, engine: Engine,
                                                    users: ConsoleUsers) -> None:
    case_id, _ = _case_for_image(engine)
    csrf = login(client, "senior")
    assert client.post(f"/console/cases/{case_id}/take", data={"csrf_token": csrf}).status_code == 200
    client.cookies.clear()
    csrf = login(client, "reviewer")
    r = client.post(f"/console/cases/{case_id}/decide", data={"csrf_token": csrf, "outcome": "not_violating"})
    assert r.status_code == 409 and "someone else" in r.text
    assert client.get("/console/cases/999999").status_code == 404


def test_escalation_opens_an_urgent_case_with_a_one_hour_clock(engine: Engine) -> None:
    from seawall.composition import review_service

    engine.banks.create("threats", default_action="review")
    engine.rules.save(
        "version: 1\nrules:\n  - id: threat\n    when:\n      match: {bank: threats}\n    then: [escalate]\n",
        created_by="test")
    data = encode(textured_image(99))
    engine.add_entries_from_content("threats", engine.content("image", data=data),
                                    labels=["behaviour:imminent-credible-threat"], note="", source="t", added_by="t")
    engine.submit(engine.content("image", data=data), content_id="p")
    [case] = review_service(engine).waiting()
    assert case.tier == "urgent" and case.priority == 35 and case.sla_state() == "ok"
    assert case.queue == "senior"  # imminent threats go to senior reviewers
    assert 3590 <= (case.sla_due_at - case.created_at).total_seconds() <= 3600
    assert case.sla_state(case.sla_due_at - (case.sla_due_at - case.created_at) * 0.1) == "amber"
    assert case.sla_state(case.sla_due_at.replace(year=case.sla_due_at.year + 1)) == "red"
    assert review_service(engine).media(case.id) == ("image/jpeg", data)


def test_deferred_uploads_keep_their_bytes_for_review(settings: Settings) -> None:
    from seawall.composition import review_service
    from tests.test_background_items import _registry

    eng = build_engine(settings, reg=_registry())
    try:
        eng.start_workers()
        eng.banks.create("vids", default_action="review")
        data = b"generated video stand-in " * 500
        eng.add_entry("vids", EntryInput("md5", hashlib.md5(data).hexdigest(), []), added_by="t")
        item = eng.submit(eng.content("video", data=data), content_id="v")
        assert item.status == "pending"
        deadline = time.monotonic() + 20
        while eng.items.get(item.id).status == "pending" and time.monotonic() < deadline:
            time.sleep(0.05)
        [case] = review_service(eng).waiting()
        assert case.item_id == item.id and review_service(eng).media(case.id) == ("application/octet-stream", data)
    finally:
        eng.close()


def test_user_create_cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from seawall.cli import app

    monkeypatch.setenv("SEAWALL_DATA_DIR", str(settings.data_dir))
    if settings.database_url:
        monkeypatch.setenv("SEAWALL_DATABASE_URL", settings.database_url)
    runner = CliRunner()
    ok = runner.invoke(app, ["user", "create", "kim", "--role", "senior"], input=PASSWORD + "\n")
    assert ok.exit_code == 0, ok.output
    assert runner.invoke(app, ["user", "create", "kim", "--role", "senior"], input=PASSWORD + "\n").exit_code == 2
    assert runner.invoke(app, ["user", "create", "lee", "--role", "boss"], input=PASSWORD + "\n").exit_code == 2
    assert runner.invoke(app, ["user", "create", "lee"], input="short\n").exit_code == 2
    eng = build_engine(settings)
    try:
        user, _ = ConsoleUsers(eng.db).login("kim", PASSWORD)
        assert user.role == "senior"
    finally:
        eng.close()
