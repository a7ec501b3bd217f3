"""User reports become cases (deduplicated, raising priority); appeals are decided by a different senior
reviewer and an upheld appeal reverses the decision's actions. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from seawall.composition import review_service
from seawall.config import Settings
from seawall.engine import Engine
from seawall.review.users import ConsoleUsers
from seawall.store.tables import CaseRow, ReportRow
from tests.conftest import encode, textured_image
from tests.console_support import auth, engine_for, events, held_image, make_users, sign_in, strikes


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    yield from engine_for(settings, strikes_for_temporary_suspension=1)


@pytest.fixture
def users(engine: Engine) -> ConsoleUsers:
    return make_users(engine)


def _allowed_item(client: TestClient, key: str, content_id: str, account: str | None = "acct-9") -> str:
    r = client.post("/v1/items", headers=auth(key), json={"content_id": content_id, "account_id": account,
                                                          "text": f"an ordinary post {content_id}"})
    assert r.status_code == 200 and r.json()["verdict"] == "allow", r.text
    return str(r.json()["id"])


def test_reports_need_a_platform_key_and_valid_fields(client: TestClient, engine: Engine,
                                                      keys: dict[str, str]) -> None:
    item_id = _allowed_item(client, keys["submitter"], "p-1")
    body = {"item_id": item_id, "category": "recruitment"}
    assert client.post("/v1/reports", json=body).status_code == 401
    r = client.post("/v1/reports", json=body, headers=auth(keys["reviewer"]))
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    for bad, code in (({"item_id": "nope", "category": "recruitment"}, "item_not_found"),
                      ({"content_id": "never-sent", "category": "recruitment"}, "item_not_found"),
                      ({"category": "recruitment"}, "invalid_request"),
                      ({"item_id": item_id, "content_id": "p-1", "category": "recruitment"}, "invalid_request"),
                      ({"item_id": item_id, "category": "rude"}, "invalid_category"),
                      ({"item_id": item_id, "category": "other", "extra": 1}, "invalid_request")):
        r = client.post("/v1/reports", json=bad, headers=auth(keys["submitter"]))
        assert r.status_code in (404, 422) and r.json()["code"] == code, (bad, r.text)
    assert review_service(engine).waiting() == []


def test_reports_of_one_item_share_a_case_and_raise_its_priority(client: TestClient, engine: Engine,
                                                                 keys: dict[str, str]) -> None:
    once = _allowed_item(client, keys["submitter"], "p-once")
    many = _allowed_item(client, keys["submitter"], "p-many")
    h = auth(keys["submitter"])
    r = client.post("/v1/reports", json={"item_id": once, "category": "recruitment"}, headers=h)
    assert r.status_code == 201 and r.json()["report_count"] == 1
    case_ids = set()
    for n, ref in enumerate(({"item_id": many}, {"content_id": "p-many"}, {"content_id": "p-many"})):
        r = client.post("/v1/reports", headers=h, json={**ref, "category": "recruitment",
                                                        "reporter_account": f"u{n}", "text": "please look"})
        assert r.status_code == 201, r.text
        case_ids.add(r.json()["case_id"])
        assert r.json()["report_count"] == n + 1
    assert len(case_ids) == 1
    queue = review_service(engine).waiting()
    assert [c.item_id for c in queue] == [many, once]  # same tier and severity: three reports outrank one
    assert queue[0].kind == "report" and queue[0].report_count == 3
    assert queue[0].score().value > queue[1].score().value
    with engine.db.session() as s:
        assert s.scalar(select(func.count()).select_from(ReportRow)) == 4
    assert events(engine, "report.received") == 4
    threat = _allowed_item(client, keys["submitter"], "p-threat")
    r = client.post("/v1/reports", json={"item_id": threat, "category": "imminent-credible-threat"}, headers=h)
    queue = review_service(engine).waiting()
    # severity first: a credible threat (4-hour clock) outranks any pile of recruitment reports
    assert [c.item_id for c in queue] == [threat, many, once]
    assert queue[0].tier == "high" and queue[2].tier == "normal"


def test_a_report_joins_the_open_review_case(client: TestClient, engine: Engine, users: ConsoleUsers,
                                             keys: dict[str, str]) -> None:
    case_id, item_id = held_image(engine, 11)
    r = client.post("/v1/reports", json={"item_id": item_id, "category": "glorification"},
                    headers=auth(keys["submitter"]))
    assert r.json()["case_id"] == case_id
    sign_in(client, "reviewer")
    page = client.get(f"/console/cases/{case_id}").text
    assert '<strong id="report-count">1</strong>' in page and "glorification" in page


def _decided_with_everything(client: TestClient, engine: Engine, seed: int) -> tuple[int, str]:
    """A case the ``senior`` decided violating: removed, struck (which suspends: threshold 1), into a bank."""
    case_id, item_id = held_image(engine, seed)
    if "known" not in {b.name for b in engine.banks.list_banks()}:
        engine.banks.create("known")
    csrf = sign_in(client, "senior")
    r = client.post(f"/console/cases/{case_id}/decide", data={
        "csrf_token": csrf, "outcome": "violating", "labels": ["behaviour:glorification"], "remove": "1",
        "strike": "1", "block_bank": "known"})
    assert r.status_code == 200 and "account suspended" in r.text, r.text
    return case_id, item_id


def test_upheld_appeal_reverses_the_decision(client: TestClient, engine: Engine, users: ConsoleUsers,
                                             keys: dict[str, str]) -> None:
    _, item_id = _decided_with_everything(client, engine, 21)
    assert engine.banks.get("known").entry_count
    h, reader = auth(keys["submitter"]), auth(keys["reviewer"])
    assert client.get("/v1/accounts/acct-1", headers=reader).json()["status"] == "suspended"
    assert client.post("/v1/appeals", json={"item_id": item_id, "statement": "x"}).status_code == 401
    assert client.post("/v1/appeals", headers=reader, json={"item_id": item_id, "statement": "x"}).status_code == 403
    r = client.post("/v1/appeals", headers=h, json={"item_id": item_id, "account_id": "acct-1",
                                                     "statement": "This is my own news report about the attack."})
    assert r.status_code == 201, r.text
    appeal = r.json()
    assert appeal["status"] == "received" and appeal["outcome"] is None
    dup = client.post("/v1/appeals", headers=h, json={"item_id": item_id, "statement": "again"})
    assert dup.status_code == 409 and dup.json()["code"] == "appeal_exists"
    case_id = appeal["case_id"]
    with engine.db.session() as s:
        row = s.get(CaseRow, case_id)
        assert row is not None and (row.kind, row.queue) == ("appeal", "senior")
    # the reviewer who decided may not decide the appeal; a plain reviewer may not touch the senior queue
    csrf = sign_in(client, "senior")
    page = client.get(f"/console/cases/{case_id}").text
    assert "own news report" in page and '<strong id="contested-by">senior</strong>' in page
    r = client.post(f"/console/cases/{case_id}/appeal", data={"csrf_token": csrf, "outcome": "upheld"})
    assert r.status_code == 403 and "different reviewer" in r.text
    r = client.post(f"/console/cases/{case_id}/take", data={"csrf_token": csrf})
    assert r.status_code == 403 and "different reviewer" in r.text
    csrf = sign_in(client, "reviewer")
    r = client.post(f"/console/cases/{case_id}/appeal", data={"csrf_token": csrf, "outcome": "upheld"})
    assert r.status_code == 403
    assert client.get(f"/v1/appeals/{appeal['id']}", headers=h).json()["status"] == "received"
    assert client.get(f"/v1/items/{item_id}", headers=reader).json()["verdict"] == "block"
    csrf = sign_in(client, "senior2")
    r = client.post(f"/console/cases/{case_id}/decide", data={"csrf_token": csrf, "outcome": "not_violating"})
    assert r.status_code == 422 and "upheld or rejected" in r.text
    r = client.post(f"/console/cases/{case_id}/appeal", data={"csrf_token": csrf, "outcome": "granted"})
    assert r.status_code == 422
    r = client.post(f"/console/cases/{case_id}/appeal", data={"csrf_token": csrf, "outcome": "upheld",
                                                              "note": "reporting, not glorification"})
    assert r.status_code == 200 and "reversed" in r.text, r.text
    again = client.post(f"/console/cases/{case_id}/appeal", data={"csrf_token": csrf, "outcome": "rejected"})
    assert again.status_code == 409
    out = client.get(f"/v1/appeals/{appeal['id']}", headers=h).json()
    assert out["status"] == "decided" and out["outcome"] == "upheld" and "decided_by" not in out
    assert out["reversal"]["item_restored"] and len(out["reversal"]["strikes_withdrawn"]) == 1
    assert len(out["reversal"]["suspensions_lifted"]) == 1 and out["reversal"]["entries_removed"]
    assert client.get(f"/v1/items/{item_id}", headers=reader).json()["verdict"] == "allow"
    account = client.get("/v1/accounts/acct-1", headers=reader).json()
    assert account["status"] == "active" and account["active_strikes"] == 0
    assert strikes(engine, "acct-1") == 1  # withdrawn, still on record
    assert engine.banks.get("known").entry_count == 0
    assert [events(engine, t) for t in ("item.restored", "account.strike_withdrawn", "account.unsuspended",
                                        "appeal.decided", "account.appealed")] == [1, 1, 1, 1, 1]
    second = client.post("/v1/appeals", headers=h, json={"item_id": item_id, "statement": "once more"})
    assert second.status_code == 409
    sign_in(client, "admin")
    csv = client.get("/console/audit.csv").text
    assert ",appeal.open," in csv and ",appeal.decide," in csv and ",bank.remove," in csv


def test_rejected_appeal_keeps_everything(client: TestClient, engine: Engine, users: ConsoleUsers,
                                          keys: dict[str, str]) -> None:
    _, item_id = _decided_with_everything(client, engine, 22)
    h = auth(keys["submitter"])
    appeal = client.post("/v1/appeals", headers=h, json={"item_id": item_id, "statement": "not mine"}).json()
    csrf = sign_in(client, "admin")
    r = client.post(f"/console/cases/{appeal['case_id']}/appeal", data={"csrf_token": csrf, "outcome": "rejected"})
    assert r.status_code == 200 and "decision stands" in r.text
    out = client.get(f"/v1/appeals/{appeal['id']}", headers=h).json()
    assert out["outcome"] == "rejected" and out["reversal"] is None
    account = client.get("/v1/accounts/acct-1", headers=auth(keys["reviewer"])).json()
    assert account["status"] == "suspended" and account["active_strikes"] == 1
    assert engine.banks.get("known").entry_count and events(engine, "item.restored") == 0
    r = client.post("/v1/appeals", headers=h, json={"item_id": item_id, "statement": "please"})
    assert r.status_code == 409 and r.json()["code"] == "appeal_decided"


def test_appeal_against_an_automated_block(client: TestClient, engine: Engine, users: ConsoleUsers,
                                           keys: dict[str, str]) -> None:
    engine.banks.create("auto")
    data = encode(textured_image(31))
    engine.add_entries_from_content("auto", engine.content("image", data=data), labels=["behaviour:recruitment"],
                                    note="", source="t", added_by="t")
    item = engine.submit(engine.content("image", data=data), content_id="blocked", account_id="acct-3")
    assert item.verdict.verdict == "block"
    h = auth(keys["submitter"])
    plain = _allowed_item(client, keys["submitter"], "fine")
    r = client.post("/v1/appeals", headers=h, json={"item_id": plain, "statement": "why?"})
    assert r.status_code == 409 and r.json()["code"] == "nothing_to_appeal"
    nobody = _allowed_item(client, keys["submitter"], "anon", account=None)
    assert client.post("/v1/appeals", headers=h, json={"item_id": nobody, "statement": "x"}).status_code == 422
    assert client.post("/v1/appeals", headers=h, json={"item_id": "missing", "statement": "x"}).status_code == 404
    r = client.post("/v1/appeals", headers=h, json={"item_id": item.id, "account_id": "acct-other",
                                                     "statement": "x"})
    assert r.status_code == 422
    appeal = client.post("/v1/appeals", headers=h, json={"item_id": item.id, "statement": "a training video"})
    assert appeal.status_code == 201
    csrf = sign_in(client, "senior")
    page = client.get(f"/console/cases/{appeal.json()['case_id']}").text
    assert "automated rules" in page
    r = client.post(f"/console/cases/{appeal.json()['case_id']}/appeal",
                    data={"csrf_token": csrf, "outcome": "upheld"})
    assert r.status_code == 200, r.text
    assert client.get(f"/v1/items/{item.id}", headers=auth(keys["reviewer"])).json()["verdict"] == "allow"
    assert events(engine, "item.restored") == 1
    assert client.get("/v1/appeals/999999", headers=h).status_code == 404
