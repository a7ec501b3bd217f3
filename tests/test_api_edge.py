"""What no database column can hold is a 422 at the edge, never a server error, and failures are JSON.

Each case here was a 500 once: integers past 2^63 (SQLite) or 2^31 (32-bit PostgreSQL columns) reaching a
query, NUL characters reaching PostgreSQL text and JSONB, a bank PATCH racing its DELETE, and 500s sent as
plain text.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from seawall.api.app import create_app
from seawall.composition import build_engine
from seawall.config import Settings
from seawall.engine import Engine
from seawall.storable import MAX_INT32, MAX_INT64
from seawall.store.tables import AppealRow, BankEntryRow, ItemRow, ReportRow, RuleSetRow, WebhookRow

from . import loopback_http
from .conftest import auth, encode, textured_image
from .live_server import serving

BANNED = "generated stand-in for a banned slogan, number 63"


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    """Webhooks to loopback allowed, so the one the tests subscribe never leaves the machine."""
    eng = build_engine(settings.model_copy(update={"webhook_allow_hosts": "127.0.0.1"}))
    try:
        yield eng
    finally:
        eng.close()


@pytest.fixture
def world(client: TestClient, keys: dict[str, str], engine: Engine) -> dict[str, Any]:
    """A bank with an entry, a webhook with a delivery, a blocked item with an appeal."""
    admin, sub = auth(keys["admin"]), auth(keys["submitter"])
    assert client.post("/v1/banks", json={"name": "tvec"}, headers=admin).status_code == 201
    entry = client.post("/v1/banks/tvec/entries", headers=admin, json={
        "signal_type": "sha256", "value": hashlib.sha256(BANNED.encode()).hexdigest()}).json()
    hook = engine.webhooks.create(url="http://127.0.0.1:9/hook", event_types=["item.verdict"])
    item = client.post("/v1/items", headers=sub, json={"content_id": "c1", "account_id": "@a:hs",
                                                       "text": BANNED}).json()
    assert item["verdict"] == "block"
    appeal = client.post("/v1/appeals", headers=sub, json={"item_id": item["id"], "statement": "news"})
    assert appeal.status_code == 201, appeal.text
    return {"entry": entry["id"], "webhook": hook["id"], "item": item["id"], "appeal": appeal.json()["id"]}


def _refused(r: httpx.Response, code: str = "invalid_request") -> None:
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == code and isinstance(body["message"], str) and len(body["message"]) > 10, body


def _counts(engine: Engine) -> tuple[int, ...]:
    with engine.db.session() as s:
        return tuple(int(s.scalar(select(func.count()).select_from(t)) or 0)
                     for t in (ItemRow, BankEntryRow, AppealRow, ReportRow, RuleSetRow, WebhookRow))


def test_integers_beyond_the_columns_are_422_and_the_largest_valid_ones_404(
        client: TestClient, keys: dict[str, str], world: dict[str, Any]) -> None:
    h = auth(keys["admin"])
    hook = world["webhook"]
    too_big = [
        ("GET", f"/v1/webhooks/{MAX_INT32 + 1}"), ("PATCH", f"/v1/webhooks/{2**63}"),
        ("DELETE", f"/v1/webhooks/{2**64}"), ("GET", f"/v1/webhooks/{MAX_INT32 + 1}/deliveries"),
        ("GET", f"/v1/webhooks/{hook}/deliveries?after={MAX_INT64 + 1}"),
        ("POST", f"/v1/webhooks/{hook}/deliveries/{MAX_INT64 + 1}/redeliver"),
        ("POST", f"/v1/webhooks/{MAX_INT32 + 1}/deliveries/1/redeliver"),
        ("GET", f"/v1/appeals/{MAX_INT64 + 1}"), ("GET", f"/v1/banks/tvec/entries/{MAX_INT64 + 1}"),
        ("DELETE", f"/v1/banks/tvec/entries/{2**70}"), ("GET", f"/v1/banks/tvec/entries?after={MAX_INT64 + 1}"),
        ("GET", f"/v1/rules?version={MAX_INT32 + 1}"), ("GET", "/v1/webhooks/0"), ("GET", "/v1/appeals/-1"),
    ]
    for method, path in too_big:
        _refused(client.request(method, path, headers=h, json={"enabled": True} if method == "PATCH" else None))
    _refused(client.post("/v1/retro/run", headers=h, json={"since_entry_id": MAX_INT64 + 1}))
    _refused(client.post("/v1/banks", headers=h, json={"name": "t2", "thresholds": {"pdq": 2**64}}))
    # the largest values a column holds are valid requests for objects that do not exist
    for path in (f"/v1/webhooks/{MAX_INT32}", f"/v1/appeals/{MAX_INT64}", f"/v1/banks/tvec/entries/{MAX_INT64}",
                 f"/v1/rules?version={MAX_INT32}"):
        assert client.get(path, headers=h).status_code == 404, path
    r = client.post(f"/v1/webhooks/{hook}/deliveries/{MAX_INT64}/redeliver", headers=h)
    assert r.status_code == 404 and r.json()["code"] == "delivery_not_found"
    assert client.get(f"/v1/webhooks/{hook}/deliveries?after={MAX_INT64}", headers=h).status_code == 200
    assert client.post("/v1/retro/run", headers=h, json={"since_entry_id": MAX_INT64}).status_code == 200
    # the console's pages take the same bounded ids, and say so on a console page
    for path in (f"/console/cases/{MAX_INT64 + 1}", f"/console/entries/{2**64}/thumbnail",
                 f"/console/cases/{MAX_INT64 + 1}/media"):
        r = client.get(path)
        assert r.status_code == 422 and 'data-code="invalid_request"' in r.text and "less than or equal" in r.text


def test_nul_characters_are_422_wherever_they_would_be_stored(
        client: TestClient, keys: dict[str, str], engine: Engine, world: dict[str, Any]) -> None:
    admin, sub = auth(keys["admin"]), auth(keys["submitter"])
    before = _counts(engine)
    # in the URL: path segments and query strings
    for path in ("/v1/accounts/a%00b", "/v1/items?content_id=x%00y", "/v1/items/ab%00", "/v1/banks/t%00vec",
                 "/v1/lookup?signal_type=md5&value=%00", "/v1/accounts/%40a%3Ahs/reappearance?x=%00"):
        _refused(client.get(path, headers=admin), "invalid_characters")
    # in JSON bodies
    item = {"content_id": "c2", "text": "hello"}
    for bad in ({"content_id": "c\x00"}, {"account_id": "@a\x00:hs"}, {"context": {"k": "v\x00"}},
                {"context": {"k\x00": 1}}, {"context": {"deep": [{"x": ["\x00"]}]}}):
        _refused(client.post("/v1/items", headers=sub, json={**item, **bad}))
    _refused(client.post("/v1/items", headers=sub, json={**item, "once": True, "content_id": "\x00"}))
    _refused(client.post("/v1/appeals", headers=sub, json={"item_id": world["item"] + "\x00", "statement": "x"}))
    _refused(client.post("/v1/appeals", headers=sub, json={"item_id": world["item"], "statement": "x\x00"}))
    _refused(client.post("/v1/accounts/%40a%3Ahs/appeal", headers=sub, json={"text": "\x00"}))
    _refused(client.post("/v1/reports", headers=sub, json={"item_id": world["item"], "category": "other",
                                                          "text": "a\x00"}))
    _refused(client.post("/v1/banks", headers=admin, json={"name": "b\x00"}))
    _refused(client.post("/v1/banks", headers=admin, json={"name": "b", "labels": ["\x00"]}))
    _refused(client.patch("/v1/banks/tvec", headers=admin, json={"description": "\x00"}))
    _refused(client.post("/v1/banks/tvec/entries", headers=admin, json={
        "signal_type": "md5", "value": "0" * 32, "note": "\x00"}))
    _refused(client.post("/v1/webhooks", headers=admin, json={
        "url": "https://93.184.215.14/h", "event_types": ["item.verdict"], "description": "\x00"}))
    for feed in ({"name": "f\x00", "banks": ["tvec"]}, {"name": "f", "banks": ["tv\x00ec"]},
                 {"name": "f", "banks": ["tvec"], "partners": ["p\x00"]},
                 {"name": "f", "banks": ["tvec"], "contributions_bank": "\x00"}):
        _refused(client.post("/v1/feeds", headers=admin, json=feed))
    _refused(client.post(f"/v1/items/{world['item']}/actions", headers=admin, json={"actions": [{"label": "\x00"}]}))
    _refused(client.put("/v1/rules", headers=admin, content="rules: []\n# \x00\n"), "invalid_characters")
    # in form fields
    form = client.post("/v1/items", headers=sub, data={"content_id": "c\x00", "text": "hi"})
    _refused(form, "invalid_characters")
    form = client.post("/v1/items", headers=sub, data={"content_id": "c3", "text": "hi",
                                                       "context": '{"a": "\\u0000"}'})
    _refused(form, "invalid_characters")
    image = encode(textured_image(63))
    form = client.post("/v1/banks/tvec/entries", headers=admin, files={"file": ("a.jpg", image, "image/jpeg")},
                       data={"labels": "a\x00"})
    _refused(form, "invalid_characters")
    assert _counts(engine) == before, "a refused request stored something"
    # a NUL in text that is only hashed, never stored as text, is fine
    assert client.post("/v1/items", headers=sub, json={"content_id": "c4", "text": "a\x00b"}).status_code == 200


def test_unexpected_failures_are_json_500s(engine: Engine) -> None:
    app = create_app(engine=engine, follow_writes=False)

    def broken() -> None:
        raise RuntimeError("a defect")

    app.add_api_route("/broken", broken)
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/broken")
    assert r.status_code == 500 and r.headers["content-type"] == "application/json"
    assert r.json()["code"] == "internal_error" and "a defect" not in r.text


def test_bank_patch_racing_its_delete_is_never_a_server_error(engine: Engine, keys: dict[str, str]) -> None:
    admin = auth(keys["admin"])
    statuses: list[int] = []
    with serving(create_app(engine=engine, follow_writes=False)) as base, loopback_http.client(timeout=60) as c:
        for n in range(12):
            assert c.post(f"{base}/v1/banks", json={"name": f"b{n}"}, headers=admin).status_code == 201
            barrier = threading.Barrier(9)

            def patch(i: int, n: int = n, barrier: threading.Barrier = barrier) -> int:
                with loopback_http.client(timeout=60) as own:
                    barrier.wait()
                    if i == 0:
                        return own.delete(f"{base}/v1/banks/b{n}", headers=admin).status_code
                    return own.patch(f"{base}/v1/banks/b{n}", json={"description": f"v{i}"},
                                     headers=admin).status_code

            with ThreadPoolExecutor(9) as pool:
                statuses += list(pool.map(patch, range(9)))
            assert c.get(f"{base}/v1/banks/b{n}", headers=admin).status_code == 404
    assert set(statuses) <= {200, 204, 404}, statuses
    assert 204 in statuses and 200 in statuses
