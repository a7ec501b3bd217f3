"""``/v1/cases``: the console's queue and decisions for a platform's own tools, with the console's roles.

Filters run in the database (bank, label, account, content id, hash, kind, queue, SLA, sort); every
state change names the console user it acts for, whose console role applies exactly as in the console.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from seawall.composition import review_service
from seawall.config import Settings
from seawall.engine import Engine
from seawall.review.users import ConsoleUsers
from tests.console_support import auth, engine_for, held_image, make_users


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    yield from engine_for(settings)


@pytest.fixture
def users(engine: Engine) -> ConsoleUsers:
    return make_users(engine)


def _as(key: str, who: str | None = None) -> dict[str, str]:
    return {**auth(key), **({"X-Seawall-Reviewer": who} if who else {})}


def test_list_and_filter_cases_in_the_database(client: TestClient, engine: Engine, users: ConsoleUsers,
                                               keys: dict[str, str]) -> None:
    a, a_item = held_image(engine, 301, account="acct-a", content_id="ca")
    b, _ = held_image(engine, 302, account="acct-b", content_id="cb", labels=("behaviour:recruitment",))
    h = _as(keys["reviewer"])
    assert client.get("/v1/cases", headers=auth(keys["submitter"])).status_code == 403
    assert client.get("/v1/cases").status_code == 401
    got = client.get("/v1/cases", headers=h).json()["cases"]
    assert {c["id"] for c in got} == {a, b} and got[0]["priority"] >= got[1]["priority"]
    assert [c["id"] for c in client.get("/v1/cases?account_id=acct-a", headers=h).json()["cases"]] == [a]
    assert [c["id"] for c in client.get("/v1/cases?content_id=cb", headers=h).json()["cases"]] == [b]
    assert [c["id"] for c in client.get("/v1/cases?label=behaviour:recruitment", headers=h).json()["cases"]] == [b]
    assert {c["id"] for c in client.get("/v1/cases?bank=watch", headers=h).json()["cases"]} == {a, b}
    assert client.get("/v1/cases?bank=elsewhere", headers=h).json()["cases"] == []
    md5 = next(s.value for s in engine.items.get(a_item).signals if s.type == "md5")
    assert [c["id"] for c in client.get(f"/v1/cases?signal={md5}", headers=h).json()["cases"]] == [a]
    # a hash is matched as typed: LIKE's wildcards in it stand for themselves
    for wild in ("%25", "_" * len(md5), md5[:-1] + "_"):
        assert client.get(f"/v1/cases?signal={wild}", headers=h).json()["cases"] == [], wild
    assert [c["id"] for c in client.get("/v1/cases?sort=oldest", headers=h).json()["cases"]] == [a, b]
    assert [c["id"] for c in client.get("/v1/cases?sort=newest&limit=1", headers=h).json()["cases"]] == [b]
    assert client.get("/v1/cases?sla=red", headers=h).json()["cases"] == []
    bad = client.get("/v1/cases?sort=random", headers=h)
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_field" and "sort" in bad.json()["message"]


def test_take_note_release_decide_as_a_reviewer(client: TestClient, engine: Engine, users: ConsoleUsers,
                                                keys: dict[str, str]) -> None:
    case_id, _ = held_image(engine, 303)
    key = keys["reviewer"]
    nobody = client.post(f"/v1/cases/{case_id}/take", headers=_as(key))
    assert nobody.status_code == 422 and nobody.json()["code"] == "reviewer_required"
    assert client.post(f"/v1/cases/{case_id}/take", headers=_as(key, "ghost")).status_code == 401
    r = client.post(f"/v1/cases/{case_id}/take", headers=_as(key, "reviewer"))
    assert r.status_code == 200 and r.json()["assignee"] == "reviewer" and r.json()["status"] == "assigned"
    assert client.post(f"/v1/cases/{case_id}/take", headers=_as(key, "reviewer2")).status_code == 409
    assert client.post(f"/v1/cases/{case_id}/release", headers=_as(key, "reviewer2")).status_code == 403
    r = client.post(f"/v1/cases/{case_id}/notes", headers=_as(key, "reviewer"), json={"text": "same as last week"})
    assert r.status_code == 201 and r.json()["notes"][0]["text"] == "same as last week"
    r = client.post(f"/v1/cases/{case_id}/release", headers=_as(key, "reviewer"))
    assert r.status_code == 200 and r.json()["status"] == "open"
    assert client.post(f"/v1/cases/{case_id}/reassign", headers=_as(key, "reviewer"),
                       json={"assignee": "reviewer2"}).status_code == 403
    engine.banks.create("known")
    teach = client.post(f"/v1/cases/{case_id}/decide", headers=_as(key, "reviewer"), json={
        "outcome": "violating", "labels": ["behaviour:glorification"], "bank": "known"})
    assert teach.status_code == 403  # bank edits need a senior, as in the console
    bad = client.post(f"/v1/cases/{case_id}/decide", headers=_as(key, "reviewer"), json={"outcome": "violating"})
    assert bad.status_code == 422 and bad.json()["code"] == "labels_required"
    r = client.post(f"/v1/cases/{case_id}/decide", headers=_as(key, "reviewer"), json={
        "outcome": "violating", "labels": ["behaviour:glorification"], "remove": True})
    assert r.status_code == 200, r.text
    assert r.json()["case"]["status"] == "decided" and r.json()["result"]["actions"][0]["type"] == "remove"
    assert client.post(f"/v1/cases/{case_id}/decide", headers=_as(key, "reviewer"),
                       json={"outcome": "not_violating"}).status_code == 409
    audit = review_service(engine).audit.query(object_id=str(case_id))
    assert {(e.actor, e.action) for e in audit} >= {("reviewer", "case.take"), ("reviewer", "case.note"),
                                                    ("reviewer", "case.release"), ("reviewer", "case.decide")}


def test_senior_queue_and_appeals_need_a_senior(client: TestClient, engine: Engine, users: ConsoleUsers,
                                                keys: dict[str, str]) -> None:
    case_id, item_id = held_image(engine, 304, account="acct-s")
    key, admin = keys["reviewer"], keys["admin"]
    r = client.post(f"/v1/cases/{case_id}/decide", headers=_as(key, "reviewer"),
                    json={"outcome": "escalate", "note": "unsure"})
    assert r.status_code == 200 and r.json()["case"]["queue"] == "senior"
    assert client.post(f"/v1/cases/{case_id}/take", headers=_as(admin, "reviewer")).status_code == 403
    r = client.post(f"/v1/cases/{case_id}/reassign", headers=_as(admin, "senior"), json={"assignee": "reviewer"})
    assert r.status_code == 422 and r.json()["code"] == "wrong_role"
    r = client.post(f"/v1/cases/{case_id}/reassign", headers=_as(admin, "senior"), json={"assignee": "senior2"})
    assert r.status_code == 200 and r.json()["assignee"] == "senior2"
    r = client.post(f"/v1/cases/{case_id}/decide", headers=_as(admin, "senior2"), json={
        "outcome": "violating", "labels": ["behaviour:glorification"], "remove": True})
    assert r.status_code == 200, r.text
    appeal = client.post("/v1/appeals", headers=auth(keys["submitter"]),
                         json={"item_id": item_id, "statement": "it was satire"}).json()
    same = client.post(f"/v1/cases/{appeal['case_id']}/decide", headers=_as(admin, "senior2"),
                       json={"outcome": "upheld"})
    assert same.status_code == 403 and same.json()["code"] == "same_reviewer"
    assert client.post(f"/v1/cases/{appeal['case_id']}/decide", headers=_as(admin, "reviewer"),
                       json={"outcome": "upheld"}).status_code == 403
    r = client.post(f"/v1/cases/{appeal['case_id']}/decide", headers=_as(admin, "senior"),
                    json={"outcome": "upheld", "note": "satire"})
    assert r.status_code == 200 and r.json()["result"]["appeal"]["outcome"] == "upheld"
    listed = client.get("/v1/cases?kind=appeal&status=decided", headers=_as(admin)).json()["cases"]
    assert [c["id"] for c in listed] == [appeal["case_id"]]
    assert client.get("/v1/cases?kind=appeal&status=decided", headers=_as(key)).json()["cases"] == []


def test_reviewer_keys_neither_see_nor_touch_the_senior_queue(client: TestClient, engine: Engine,
                                                              users: ConsoleUsers, keys: dict[str, str]) -> None:
    """A reviewer key stands for a plain reviewer's tool, whoever it names: senior cases need an admin key."""
    standard, standard_item = held_image(engine, 305, account="acct-r", content_id="plain")
    senior, senior_item = held_image(engine, 306, account="acct-r", content_id="hard")
    key, admin = keys["reviewer"], keys["admin"]
    r = client.post(f"/v1/cases/{senior}/decide", headers=_as(key, "reviewer"), json={"outcome": "escalate"})
    assert r.status_code == 200 and r.json()["case"]["queue"] == "senior"
    # listing: the reviewer key sees the standard queue only, whatever the filters; admin sees both
    for query in ("", "?status=any", "?account_id=acct-r", "?content_id=hard", "?sort=newest"):
        ids = {c["id"] for c in client.get(f"/v1/cases{query}", headers=_as(key)).json()["cases"]}
        assert senior not in ids, query
    assert {c["id"] for c in client.get("/v1/cases", headers=_as(admin)).json()["cases"]} == {standard, senior}
    only = client.get("/v1/cases?queue=senior", headers=_as(key))
    assert only.status_code == 403 and only.json()["code"] == "forbidden"
    assert [c["id"] for c in client.get("/v1/cases?queue=senior", headers=_as(admin)).json()["cases"]] == [senior]
    # opening and every case action: 403 for the reviewer key even when it names a senior
    calls = [("GET", f"/v1/cases/{senior}", None), ("POST", f"/v1/cases/{senior}/take", None),
             ("POST", f"/v1/cases/{senior}/release", None),
             ("POST", f"/v1/cases/{senior}/reassign", {"assignee": "senior2"}),
             ("POST", f"/v1/cases/{senior}/notes", {"text": "peek"}),
             ("POST", f"/v1/cases/{senior}/decide", {"outcome": "not_violating"})]
    for method, path, body in calls:
        r = client.request(method, path, headers=_as(key, "senior"), json=body)
        assert r.status_code == 403 and r.json()["code"] == "forbidden", (method, path, r.status_code, r.text)
    # item actions on the item whose open case is in the senior queue: refused, nothing decided
    before = client.get(f"/v1/items/{senior_item}/decisions", headers=_as(admin)).json()
    r = client.post(f"/v1/items/{senior_item}/actions", headers=_as(key), json={"actions": ["remove"]})
    assert r.status_code == 403 and r.json()["code"] == "forbidden", r.text
    assert client.get(f"/v1/items/{senior_item}/decisions", headers=_as(admin)).json() == before
    # the standard case and its item stay open to the reviewer key
    assert client.get(f"/v1/cases/{standard}", headers=_as(key)).status_code == 200
    assert client.post(f"/v1/cases/{standard}/take", headers=_as(key, "reviewer")).status_code == 200
    r = client.post(f"/v1/items/{standard_item}/actions", headers=_as(key), json={"actions": ["remove"]})
    assert r.status_code == 201, r.text
    # the admin key reaches the senior case and its item
    assert client.get(f"/v1/cases/{senior}", headers=_as(admin)).status_code == 200
    r = client.post(f"/v1/items/{senior_item}/actions", headers=_as(admin), json={"actions": ["remove"]})
    assert r.status_code == 201, r.text
    r = client.post(f"/v1/cases/{senior}/decide", headers=_as(admin, "senior"), json={
        "outcome": "violating", "labels": ["behaviour:glorification"]})
    assert r.status_code == 200, r.text
