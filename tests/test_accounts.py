"""Accounts: strikes with expiry, threshold suspensions, history, appeals, 404s (both backends)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from seawall.api.app import create_app
from seawall.composition import build_engine
from seawall.config import Settings
from seawall.engine import Engine
from seawall.store.tables import utcnow

from .conftest import auth

STRIKE_RULES = """\
rules:
  - id: allow-bank
    when: {match: {bank_kind: allow}}
    then: [allow]
  - id: block-and-strike
    when: {match: {bank_kind: block}}
    then: [block, strike]
  - id: suspended-uploads-held
    when: {account: {suspended: true}}
    then: [{queue: high}]
"""


@pytest.fixture
def strict(settings: Settings) -> Iterator[tuple[TestClient, dict[str, str], Engine]]:
    """Two strikes suspend for 3 days, three suspend for good."""
    s = settings.model_copy(update={"strikes_for_temporary_suspension": 2, "strikes_for_permanent_suspension": 3,
                                    "suspension_days": 3})
    eng = build_engine(s)
    keys = {role: eng.api_keys.create(role, role)[0] for role in ("admin", "submitter", "reviewer")}
    try:
        with TestClient(create_app(engine=eng, follow_writes=False)) as c:
            yield c, keys, eng
    finally:
        eng.close()


def _upload(c: TestClient, key: str, text: str, account: str | None = "acct-7", cid: str = "p") -> dict[str, object]:
    data = {"content_id": cid}
    if account:
        data["account_id"] = account
    r = c.post("/v1/items", files={"file": ("f.bin", text.encode(), "application/octet-stream")}, data=data,
               headers=auth(key))
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


def _bank(c: TestClient, admin: str, texts: list[str]) -> None:
    assert c.post("/v1/banks", json={"name": "tvec"}, headers=auth(admin)).status_code == 201
    for t in texts:
        r = c.post("/v1/banks/tvec/entries", json={"signal_type": "md5", "value": hashlib.md5(t.encode()).hexdigest()},
                   headers=auth(admin))
        assert r.status_code == 201, r.text


def test_strikes_lead_to_temporary_then_permanent_suspension(strict: tuple[TestClient, dict[str, str], Engine]) -> None:
    c, keys, _ = strict
    admin, sub, rev = keys["admin"], keys["submitter"], keys["reviewer"]
    assert c.put("/v1/rules", content=STRIKE_RULES, headers=auth(admin)).status_code == 200
    _bank(c, admin, ["bad-1", "bad-2", "bad-3"])
    ok = _upload(c, sub, "harmless")
    assert ok["verdict"] == "allow" and ok["actions"] == []
    acct = c.get("/v1/accounts/acct-7", headers=auth(rev)).json()
    assert acct["status"] == "active" and acct["active_strikes"] == 0 and len(acct["items"]) == 1

    first = _upload(c, sub, "bad-1", cid="p1")
    assert [a["type"] for a in first["actions"]] == ["block", "strike"]  # type: ignore[union-attr,index]
    acct = c.get("/v1/accounts/acct-7", headers=auth(rev)).json()
    assert acct["status"] == "active" and acct["active_strikes"] == 1

    second = _upload(c, sub, "bad-2", cid="p2")
    assert second["verdict"] == "block"
    acct = c.get("/v1/accounts/acct-7", headers=auth(sub)).json()
    assert acct["status"] == "suspended" and acct["suspension"]["kind"] == "temporary"
    assert acct["active_strikes"] == 2 and acct["strikes"][0]["item_id"] == second["id"]
    ends = acct["suspension"]["ends_at"]
    assert ends is not None and ends > (utcnow() + timedelta(days=2, hours=23)).isoformat()

    # the rules now see the suspension: even harmless uploads are held for review
    held = _upload(c, sub, "harmless", cid="p3")
    assert held["verdict"] == "review" and held["actions"] == [  # type: ignore[comparison-overlap]
        {"type": "queue", "priority": "high", "rule": "suspended-uploads-held"}]

    _upload(c, sub, "bad-3", cid="p4")
    acct = c.get("/v1/accounts/acct-7", headers=auth(rev)).json()
    assert acct["suspension"]["kind"] == "permanent" and acct["suspension"]["ends_at"] is None
    assert [s["kind"] for s in acct["suspensions"]] == ["permanent", "temporary"]
    assert acct["items"][0]["content_id"] == "p4"
    assert [a["type"] for a in acct["items"][0]["actions"]] == ["block", "queue", "strike"]
    assert len(acct["items"]) == 5

    # an item without an account: the strike is recorded as skipped, nothing breaks
    anon = _upload(c, sub, "bad-1", account=None, cid="anon")
    assert [a["type"] for a in anon["actions"]] == ["block", "strike"]  # type: ignore[union-attr,index]


def test_strikes_expire(strict: tuple[TestClient, dict[str, str], Engine]) -> None:
    c, keys, eng = strict
    past = utcnow() - timedelta(days=200)
    with eng.db.session() as s:
        eng.accounts.add_strike(s, "old-timer", item_id=None, rule_id="manual", reason="old", now=past)
        eng.accounts.add_strike(s, "old-timer", item_id=None, rule_id="manual", reason="old", now=past)
    acct = c.get("/v1/accounts/old-timer", headers=auth(keys["reviewer"])).json()
    assert acct["active_strikes"] == 0 and [s["active"] for s in acct["strikes"]] == [False, False]
    # the two old strikes did suspend, but that suspension is long over
    assert acct["status"] == "active" and acct["suspensions"][0]["active"] is False
    snap = eng.accounts.snapshot("old-timer")
    assert snap is not None and snap.strikes == 0 and not snap.suspended


def test_explicit_suspend_action_and_events(strict: tuple[TestClient, dict[str, str], Engine]) -> None:
    c, keys, _ = strict
    rules = "rules:\n  - id: ban\n    when: {matched: true}\n    then: [block, {suspend: permanent}, {suspend: 2}]\n"
    assert c.put("/v1/rules", content=rules, headers=auth(keys["admin"])).status_code == 200
    _bank(c, keys["admin"], ["bad-1"])
    item = _upload(c, keys["submitter"], "bad-1", account="acct-x")
    assert item["actions"] == [{"type": "block", "rule": "ban"},  # type: ignore[comparison-overlap]
                               {"type": "suspend", "duration": "permanent", "rule": "ban"}]
    again = _upload(c, keys["submitter"], "bad-1", account="acct-x", cid="again")
    acct = c.get("/v1/accounts/acct-x", headers=auth(keys["reviewer"])).json()
    assert len(acct["suspensions"]) == 1  # the second permanent suspension changed nothing
    assert acct["items"][0]["id"] == again["id"] and acct["items"][0]["actions"][1]["status"] == "skipped"


def test_appeal_and_bad_input(strict: tuple[TestClient, dict[str, str], Engine]) -> None:
    c, keys, _ = strict
    sub, rev = auth(keys["submitter"]), auth(keys["reviewer"])
    _bank(c, keys["admin"], ["banned"])
    allowed = _upload(c, keys["submitter"], "anything", account="acct-a", cid="fine")
    r = c.post("/v1/accounts/acct-a/appeal", json={"text": "Why?", "item_id": allowed["id"]}, headers=sub)
    assert (r.status_code, r.json()["code"]) == (409, "nothing_to_appeal")  # nothing was done to it
    item = _upload(c, keys["submitter"], "banned", account="acct-a")
    other = _upload(c, keys["submitter"], "anything", account="acct-b")
    r = c.post("/v1/accounts/acct-a/appeal", json={"text": "That was a news report.", "item_id": item["id"]},
               headers=sub)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "received" and r.json()["item_id"] == item["id"]
    assert r.json()["case_id"]  # the same appeal case in the senior queue as POST /v1/appeals opens
    assert c.get("/v1/accounts/acct-a", headers=rev).json()["appeals"][0]["text"] == "That was a news report."
    for path, body, status, code in [
        ("/v1/accounts/nobody/appeal", {"text": "x"}, 404, "account_not_found"),
        ("/v1/accounts/acct-a/appeal", {"text": "x", "item_id": other["id"]}, 422, "invalid_field"),
        ("/v1/accounts/acct-a/appeal", {"text": "x", "item_id": "f" * 32}, 404, "item_not_found"),
        ("/v1/accounts/acct-a/appeal", {"text": ""}, 422, "invalid_request"),
        # blank once trimmed: refused by the one appeal service, with or without an item
        ("/v1/accounts/acct-a/appeal", {"text": " \t\n "}, 422, "invalid_field"),
        ("/v1/accounts/acct-a/appeal", {"text": "   ", "item_id": item["id"]}, 422, "invalid_field"),
        ("/v1/appeals", {"statement": "   ", "item_id": item["id"]}, 422, "invalid_field"),
        ("/v1/accounts/acct-a/appeal", {"text": "x", "extra": 1}, 422, "invalid_request"),
    ]:
        r = c.post(path, json=body, headers=sub)
        assert (r.status_code, r.json()["code"]) == (status, code), (path, body, r.text)
    r = c.get("/v1/accounts/nobody", headers=rev)
    assert r.status_code == 404 and r.json()["code"] == "account_not_found" and r.json()["message"]
    assert c.get("/v1/accounts/acct-a").status_code == 401
