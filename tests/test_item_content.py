"""Kept content (evidence of what was blocked or asked to be kept), one decision per re-sent upload, and
decisions taken after upload that announce themselves to the platform through webhook events."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from seawall.api.app import create_app
from seawall.composition import build_engine
from seawall.config import Settings
from seawall.engine import Engine
from seawall.store.tables import WebhookEventRow

from .conftest import auth, encode, textured_image

BANNED = "generated stand-in for a banned slogan, number 7"


@pytest.fixture
def hooked(settings: Settings) -> Iterator[tuple[Engine, TestClient, dict[str, str]]]:
    """An API with a text bank, an image bank and a webhook subscribed to the item and account events."""
    eng = build_engine(settings.model_copy(update={"webhook_allow_hosts": "127.0.0.1"}))
    keys = {role: eng.api_keys.create(role, f"test-{role}")[0] for role in ("admin", "submitter", "reviewer")}
    try:
        with TestClient(create_app(engine=eng, follow_writes=False)) as client:
            admin = auth(keys["admin"])
            assert client.post("/v1/banks", json={"name": "tvec"}, headers=admin).status_code == 201
            r = client.post("/v1/banks/tvec/entries", headers=admin, json={
                "signal_type": "sha256", "value": hashlib.sha256(BANNED.encode()).hexdigest()})
            assert r.status_code == 201, r.text
            r = client.post("/v1/banks/tvec/entries", headers=admin,
                            files={"file": ("x.jpg", encode(textured_image(5)), "image/jpeg")})
            assert r.status_code == 201, r.text
            r = client.post("/v1/webhooks", headers=admin, json={
                "url": "http://127.0.0.1:9/hook",
                "event_types": ["item.removed", "item.labelled", "account.suspended"]})
            assert r.status_code == 201, r.text
            yield eng, client, keys
    finally:
        eng.close()


def events(eng: Engine, event_type: str) -> list[dict[str, Any]]:
    with eng.db.session() as s:
        return [p["data"] for p in s.scalars(select(WebhookEventRow.payload).where(WebhookEventRow.type == event_type)
                                             .order_by(WebhookEventRow.id))]


def test_blocked_content_is_kept_with_its_context(hooked: tuple[Engine, TestClient, dict[str, str]]) -> None:
    _, client, keys = hooked
    event = {"event_id": "$abc", "room_id": "!r:hs", "sender": "@u:hs", "content": {"body": BANNED}}
    r = client.post("/v1/items", headers=auth(keys["submitter"]),
                    json={"content_id": "$abc", "account_id": "@u:hs", "text": BANNED, "context": event})
    assert r.status_code == 200 and r.json()["verdict"] == "block", r.text
    kept = client.get(f"/v1/items/{r.json()['id']}/content", headers=auth(keys["reviewer"]))
    assert kept.status_code == 200, kept.text
    assert kept.json()["text"] == BANNED and kept.json()["context"] == event and kept.json()["reason"] == "flagged"
    # a submitter key cannot read content back
    assert client.get(f"/v1/items/{r.json()['id']}/content", headers=auth(keys["submitter"])).status_code == 403

    image = encode(textured_image(5))
    r = client.post("/v1/items", headers=auth(keys["submitter"]), files={"file": ("a.jpg", image, "image/jpeg")},
                    data={"content_id": "mxc://hs/media1", "context": '{"server": "hs"}'})
    assert r.status_code == 200 and r.json()["verdict"] == "block", r.text
    kept = client.get(f"/v1/items/{r.json()['id']}/content", headers=auth(keys["reviewer"])).json()
    assert base64.b64decode(kept["data_base64"]) == image and kept["media_type"] == "image/jpeg"
    assert kept["context"] == {"server": "hs"}


def test_allowed_content_is_kept_only_when_asked(hooked: tuple[Engine, TestClient, dict[str, str]]) -> None:
    _, client, keys = hooked
    plain = client.post("/v1/items", headers=auth(keys["submitter"]), json={"content_id": "p1", "text": "hello"})
    assert plain.json()["verdict"] == "allow"
    missing = client.get(f"/v1/items/{plain.json()['id']}/content", headers=auth(keys["reviewer"]))
    assert missing.status_code == 404 and missing.json()["code"] == "content_not_kept"
    asked = client.post("/v1/items", headers=auth(keys["submitter"]), data={"content_id": "p2", "text": "hi there",
                                                                             "keep": "true"})
    kept = client.get(f"/v1/items/{asked.json()['id']}/content", headers=auth(keys["reviewer"])).json()
    assert kept["text"] == "hi there" and kept["reason"] == "asked"


def test_once_returns_the_first_decision(hooked: tuple[Engine, TestClient, dict[str, str]]) -> None:
    _, client, keys = hooked
    sub = auth(keys["submitter"])
    first = client.post("/v1/items", headers=sub, json={"content_id": "$e1", "text": BANNED, "once": True}).json()
    again = client.post("/v1/items", headers=sub, json={"content_id": "$e1", "text": BANNED, "once": True}).json()
    assert again["id"] == first["id"] and again["verdict"] == "block"
    found = client.get("/v1/items", params={"content_id": "$e1"}, headers=sub).json()
    assert [i["id"] for i in found] == [first["id"]]
    # without once, a second submission is a new item
    other = client.post("/v1/items", headers=sub, json={"content_id": "$e1", "text": BANNED}).json()
    assert other["id"] != first["id"]


@pytest.mark.parametrize("bad", [{"context": [1, 2]}, {"context": {"x": "y" * 200_000}}])
def test_bad_context_is_refused(hooked: tuple[Engine, TestClient, dict[str, str]], bad: dict[str, Any]) -> None:
    _, client, keys = hooked
    r = client.post("/v1/items", headers=auth(keys["submitter"]), json={"content_id": "c", "text": "t", **bad})
    assert r.status_code == 422 and r.json()["code"] in ("invalid_request", "invalid_field"), r.text
    form = client.post("/v1/items", headers=auth(keys["submitter"]), data={"content_id": "c", "text": "t",
                                                                            "context": "not json", "keep": "maybe"})
    assert form.status_code == 422 and form.json()["message"].startswith(("keep", "context"))


def test_later_decisions_announce_remove_label_and_suspend(hooked: tuple[Engine, TestClient, dict[str, str]]) -> None:
    eng, client, keys = hooked
    posted = client.post("/v1/items", headers=auth(keys["submitter"]),
                         json={"content_id": "$ok", "account_id": "@bob:hs", "text": "looked fine at first"}).json()
    assert posted["verdict"] == "allow"
    rev = auth(keys["reviewer"])
    r = client.post(f"/v1/items/{posted['id']}/actions", headers=rev,
                    json={"actions": ["remove", {"suspend": 3}], "note": "removal order 42"})
    assert r.status_code == 201, r.text
    assert r.json()["verdict"] == "block" and [a["type"] for a in r.json()["actions"]] == ["remove", "suspend"]
    removed = events(eng, "item.removed")
    assert removed[-1]["content_id"] == "$ok" and removed[-1]["account_id"] == "@bob:hs"
    assert removed[-1]["content_type"] == "text"
    suspended = events(eng, "account.suspended")
    assert suspended[-1]["account_id"] == "@bob:hs" and suspended[-1]["suspension"]["kind"] == "temporary"
    item = client.get(f"/v1/items/{posted['id']}", headers=rev).json()
    assert item["verdict"] == "block"
    decisions = client.get(f"/v1/items/{posted['id']}/decisions", headers=rev).json()
    assert [d["automated"] for d in decisions] == [True, False]
    assert "removal order 42" in decisions[-1]["reasons"][0]

    r = client.post(f"/v1/items/{posted['id']}/actions", headers=rev, json={"actions": [{"label": "Graphic"}]})
    assert r.status_code == 201 and events(eng, "item.labelled")[-1]["text"] == "Graphic"


@pytest.mark.parametrize("body, code", [
    ({"actions": []}, "invalid_request"), ({"actions": ["allow"]}, "invalid_field"),
    ({"actions": ["nonsense"]}, "unknown_action"), ({"actions": [{"suspend": -1}]}, "invalid_field"),
    ({"actions": [{"label": "a", "suspend": 1}]}, "invalid_field"),
])
def test_bad_later_decisions_are_refused(hooked: tuple[Engine, TestClient, dict[str, str]], body: dict[str, Any],
                                         code: str) -> None:
    _, client, keys = hooked
    posted = client.post("/v1/items", headers=auth(keys["submitter"]), json={"content_id": "x", "text": "t"}).json()
    r = client.post(f"/v1/items/{posted['id']}/actions", headers=auth(keys["reviewer"]), json=body)
    assert r.status_code == 422 and r.json()["code"] == code, r.text
    assert client.post(f"/v1/items/{posted['id']}/actions", headers=auth(keys["submitter"]),
                       json={"actions": ["remove"]}).status_code == 403
    missing = client.post("/v1/items/nope/actions", headers=auth(keys["reviewer"]), json={"actions": ["remove"]})
    assert missing.status_code == 404
