"""Reviewer decisions act through the same runner as rules: strikes, suspensions, outbox events, once.

Runs on SQLite and PostgreSQL; every count is read back from the store, so a double submit that ran
an action twice, or an event written outside the decision's transaction, would show.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from seawall.config import Settings
from seawall.engine import Engine
from seawall.review.users import ConsoleUsers
from seawall.store.tables import CaseRow, DecisionRow
from tests.console_support import auth, engine_for, events, held_image, make_users, sign_in, strikes, suspensions


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    yield from engine_for(settings)


@pytest.fixture
def users(engine: Engine) -> ConsoleUsers:
    return make_users(engine)


def _decide(client: TestClient, case_id: int, csrf: str, **fields: object) -> object:
    return client.post(f"/console/cases/{case_id}/decide", data={"csrf_token": csrf, **fields})


def test_violating_decision_removes_strikes_and_suspends_once(client: TestClient, engine: Engine,
                                                              users: ConsoleUsers, keys: dict[str, str]) -> None:
    first, item1 = held_image(engine, 1)
    second, item2 = held_image(engine, 2)
    csrf = sign_in(client, "reviewer")
    r = _decide(client, first, csrf, outcome="violating", labels=["behaviour:glorification"],
                group="example-group", remove="1", strike="1")
    assert r.status_code == 200, r.text
    assert "remove: done" in r.text and "strike: done" in r.text
    assert strikes(engine, "acct-1") == 1 and suspensions(engine, "acct-1") == 0
    assert [events(engine, t) for t in ("case.decided", "item.removed", "account.strike", "account.suspended")] \
        == [1, 1, 1, 0]
    body = client.get(f"/v1/items/{item1}", headers=auth(keys["reviewer"])).json()
    assert body["verdict"] == "block"
    assert {a["type"] for a in body["actions"]} >= {"remove", "strike"}
    with engine.db.session() as s:
        d = s.scalars(select(DecisionRow).where(DecisionRow.item_id == item1, DecisionRow.automated.is_(False))).one()
        assert d.facts["labels"] == ["behaviour:glorification", "group:example-group"]
    # double submit: a conflict page, and nothing ran twice
    again = _decide(client, first, csrf, outcome="violating", labels=["behaviour:glorification"], strike="1")
    assert again.status_code == 409 and "already decided" in again.text
    assert strikes(engine, "acct-1") == 1 and events(engine, "case.decided") == 1
    # a second violation by the same account reaches the threshold (2): suspended, announced in the same commit
    r = _decide(client, second, csrf, outcome="violating", labels=["behaviour:recruitment"], strike="1")
    assert r.status_code == 200 and "account suspended" in r.text
    assert strikes(engine, "acct-1") == 2 and suspensions(engine, "acct-1") == 1
    assert events(engine, "account.suspended") == 1 and events(engine, "case.decided") == 2
    account = client.get("/v1/accounts/acct-1", headers=auth(keys["reviewer"])).json()
    assert account["status"] == "suspended" and account["active_strikes"] == 2
    assert client.get(f"/v1/items/{item2}", headers=auth(keys["reviewer"])).json()["verdict"] == "review"


def test_label_and_suspend_choices_and_bad_ones(client: TestClient, engine: Engine, users: ConsoleUsers,
                                                keys: dict[str, str]) -> None:
    case_id, item_id = held_image(engine, 3, account="acct-2")
    csrf = sign_in(client, "reviewer")
    for bad, why in (({"remove": "1", "label_text": "x"}, "either removed or labelled"),
                     ({"suspend": "forever"}, "suspend:"), ({"suspend": "0"}, "suspend:")):
        r = _decide(client, case_id, csrf, outcome="violating", labels=["behaviour:glorification"], **bad)
        assert r.status_code == 422 and why in r.text, r.text
    r = _decide(client, case_id, csrf, outcome="violating", strike="1")
    assert r.status_code == 422 and "behaviour label" in r.text
    assert strikes(engine, "acct-2") == 0 and events(engine, "case.decided") == 0
    r = _decide(client, case_id, csrf, outcome="violating", labels=["behaviour:symbol-or-logo"],
                label_text="Contains the logo of a designated group.", suspend="7")
    assert r.status_code == 200, r.text
    assert client.get(f"/v1/items/{item_id}", headers=auth(keys["reviewer"])).json()["verdict"] == "label"
    account = client.get("/v1/accounts/acct-2", headers=auth(keys["reviewer"])).json()
    assert account["status"] == "suspended" and account["suspension"]["kind"] == "temporary"
    assert strikes(engine, "acct-2") == 0 and events(engine, "account.suspended") == 1


def test_case_of_someone_else_changes_nothing(client: TestClient, engine: Engine, users: ConsoleUsers) -> None:
    case_id, _ = held_image(engine, 4)
    csrf = sign_in(client, "senior")
    assert client.post(f"/console/cases/{case_id}/take", data={"csrf_token": csrf}).status_code == 200
    csrf = sign_in(client, "reviewer")
    r = _decide(client, case_id, csrf, outcome="violating", labels=["behaviour:glorification"], strike="1",
                remove="1")
    assert r.status_code == 409 and "someone else" in r.text
    assert strikes(engine, "acct-1") == 0 and events(engine, "item.removed") == 0
    assert events(engine, "case.decided") == 0


def test_escalation_moves_the_case_to_the_senior_queue(client: TestClient, engine: Engine,
                                                       users: ConsoleUsers) -> None:
    case_id, _ = held_image(engine, 5)
    csrf = sign_in(client, "reviewer")
    r = _decide(client, case_id, csrf, outcome="escalate", note="unsure whether this is news footage")
    assert r.status_code == 200 and "senior queue" in r.text
    with engine.db.session() as s:
        row = s.get(CaseRow, case_id)
        assert row is not None and row.queue == "senior" and row.status == "open"
    assert "senior" in client.get("/console/queue?queue=senior").text
    assert f"#{case_id}" not in client.get("/console/queue?queue=standard").text
    assert client.post(f"/console/cases/{case_id}/take", data={"csrf_token": csrf}).status_code == 403
    r = _decide(client, case_id, csrf, outcome="not_violating")
    assert r.status_code == 403 and "senior" in r.text
    assert _decide(client, case_id, csrf, outcome="escalate").status_code == 403
    csrf = sign_in(client, "senior")
    assert _decide(client, case_id, csrf, outcome="escalate").status_code == 409
    r = _decide(client, case_id, csrf, outcome="violating", labels=["behaviour:glorification"], remove="1")
    assert r.status_code == 200 and events(engine, "item.removed") == 1
    assert client.get("/console/queue?queue=bogus").status_code == 400


def test_not_violating_teaches_an_allow_bank(client: TestClient, engine: Engine, users: ConsoleUsers,
                                             keys: dict[str, str]) -> None:
    case_id, item_id = held_image(engine, 6)
    engine.banks.create("newsworthy", kind="allow")
    csrf = sign_in(client, "senior")
    r = _decide(client, case_id, csrf, outcome="not_violating", allow_bank="newsworthy", strike="1")
    assert r.status_code == 422 and "takes no actions" in r.text
    assert events(engine, "case.decided") == 0
    r = _decide(client, case_id, csrf, outcome="not_violating", allow_bank="newsworthy")
    assert r.status_code == 200, r.text
    assert "bank entr" in r.text and strikes(engine, "acct-1") == 0
    assert events(engine, "case.decided") == 1 and events(engine, "item.removed") == 0
    assert client.get(f"/v1/items/{item_id}", headers=auth(keys["reviewer"])).json()["verdict"] == "allow"
    assert engine.banks.get("newsworthy").entry_count == int(r.text.split(" bank entr")[0].rsplit(" ", 1)[-1]) > 0


def test_new_console_forms_need_the_csrf_token(client: TestClient, engine: Engine, users: ConsoleUsers) -> None:
    case_id, _ = held_image(engine, 7)
    sign_in(client, "admin")
    for path, data in ((f"/console/cases/{case_id}/appeal", {"outcome": "upheld"}),
                       (f"/console/cases/{case_id}/decide", {"outcome": "escalate"}),
                       ("/console/preferences", {"shield": "heavy"}),
                       ("/console/admin/users", {"username": "x", "password": "long enough pw", "role": "admin"}),
                       ("/console/admin/users/reviewer", {"disabled": "1"})):
        r = client.post(path, data={**data, "csrf_token": "wrong"})
        assert r.status_code == 403 and "security token" in r.text, path
    assert [u["username"] for u in users.list_users() if u["disabled"]] == []
    with engine.db.session() as s:
        row = s.get(CaseRow, case_id)
        assert row is not None and row.queue == "standard"
