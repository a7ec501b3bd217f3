"""The fast path for JSON text items answers exactly as the documented ``POST /v1/items`` route.

Two apps share one engine: one with :class:`seawall.api.textpath.TextItemFastPath`, one without. Every
request here goes to both, and the status, headers and body must be the same (item ids and times aside,
which differ for any two uploads). The fast app's counter shows the path was taken, so a test cannot pass
by both apps quietly using the documented route.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from seawall.api.app import create_app
from seawall.api.textpath import TextItemFastPath
from seawall.engine import Engine

from .conftest import auth

WORDS = ("harbour", "signal", "morning", "lantern", "river", "orchard", "copper", "meadow", "window", "thistle",
         "granite", "violet", "engine", "paper", "sparrow", "canvas", "market", "winter", "garden", "bridge")
#: Fields that differ between any two stored uploads, whichever path stored them.
PER_ITEM = ("id", "received_at", "item_id", "created_at")


def words(seed: int, n: int = 40) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(n)) + "."


def fast_layer(app: FastAPI) -> TextItemFastPath:
    layer: Any = app.middleware_stack
    while layer is not None and not isinstance(layer, TextItemFastPath):
        layer = getattr(layer, "app", None)
    assert isinstance(layer, TextItemFastPath), "the fast path is not in the app's stack"
    return layer


class Pair:
    """The same engine behind two apps: ``fast`` (with the fast path) and ``twin`` (the documented route)."""

    def __init__(self, engine: Engine, **settings: Any) -> None:
        s = engine.settings.model_copy(update=settings) if settings else None
        self.fast_app = create_app(s, engine=engine, follow_writes=False)
        self.twin_app = create_app(s, engine=engine, follow_writes=False, text_fast_path=False)
        self.fast = TestClient(self.fast_app)
        self.twin = TestClient(self.twin_app)

    def served(self) -> int:
        return fast_layer(self.fast_app).served

    def both(self, *, headers: dict[str, str] | None = None, content: bytes | None = None,
             json_body: Any = None, params: dict[str, str] | None = None,
             twin_json: Any = None) -> tuple[httpx.Response, httpx.Response]:
        """Send one request to each app (``twin_json``: a different body for the twin, e.g. another id)."""
        out = []
        for client, body in ((self.fast, json_body), (self.twin, json_body if twin_json is None else twin_json)):
            kw: dict[str, Any] = {"headers": headers or {}, "params": params}
            if content is not None:
                kw["content"] = content
            else:
                kw["json"] = body
            out.append(client.post("/v1/items", **kw))
        return out[0], out[1]


@pytest.fixture
def pair(engine: Engine) -> Iterator[Pair]:
    p = Pair(engine)
    with p.fast:  # one lifespan is enough: both apps share the engine it starts
        yield p


def normal(body: Any) -> Any:
    if isinstance(body, dict):
        return {k: ("…" if k in PER_ITEM else normal(v)) for k, v in body.items()}
    if isinstance(body, list):
        return [normal(v) for v in body]
    return body


def assert_same(fast: httpx.Response, twin: httpx.Response) -> None:
    assert fast.status_code == twin.status_code, (fast.text, twin.text)
    assert normal(fast.json()) == normal(twin.json())
    skip = {"content-length"}  # a stored item's id and time are the only per-item parts, of equal length
    assert [(k, v) for k, v in fast.headers.items() if k not in skip] == \
           [(k, v) for k, v in twin.headers.items() if k not in skip]


def test_allowed_text_items_are_answered_and_stored_alike(pair: Pair, keys: dict[str, str],
                                                          engine: Engine) -> None:
    sub = auth(keys["submitter"])
    before, awaited = pair.served(), engine.items.writes.stats().awaited
    for i, extra in enumerate([{}, {"account_id": "acct-7", "reach": 1200}, {"keep": True, "context": {"room": "r1"}},
                               {"content_type": "text", "once": False}]):
        body = {"content_id": f"allowed-{i}", "text": words(i), **extra}
        fast, twin = pair.both(headers=sub, json_body=body)
        assert fast.status_code == 200, fast.text
        assert_same(fast, twin)
        stored = [pair.fast.get(f"/v1/items/{r.json()['id']}", headers=sub) for r in (fast, twin)]
        assert_same(*stored)
        assert normal(stored[0].json()) == normal(fast.json())
    assert pair.served() == before + 4
    assert engine.items.writes.stats().awaited == awaited + 8  # decided on the event loop, both apps


def test_blocked_text_is_kept_and_counted_alike(pair: Pair, keys: dict[str, str], engine: Engine) -> None:
    engine.banks.create("slogans", labels=["behaviour:recruitment"])
    banked = words(900, 60)
    _, refused = engine.add_entries_from_content("slogans", engine.content("text", text=banked), labels=[],
                                                 note="", source="test", added_by="test")
    assert not refused
    awaited = engine.items.writes.stats().awaited
    fast, twin = pair.both(headers=auth(keys["submitter"]), json_body={"content_id": "bad", "text": banked})
    assert engine.items.writes.stats().awaited == awaited  # an index candidate is resolved in a thread
    assert fast.json()["verdict"] == "block" and fast.json()["matches"]
    assert_same(fast, twin)
    reviewer = auth(keys["reviewer"])
    kept = [pair.twin.get(f"/v1/items/{r.json()['id']}/content", headers=reviewer) for r in (fast, twin)]
    assert kept[0].status_code == 200 and kept[0].json()["reason"] == "flagged"
    assert_same(*kept)
    metrics = [app.get("/metrics").text for app in (pair.fast, pair.twin)]
    line = next(m for m in metrics[0].splitlines()
                if m.startswith('seawall_items_total{content_type="text",verdict="block"}'))
    assert line.endswith(" 1.0") and line in metrics[1].splitlines()


@pytest.mark.parametrize("who", ["none", "bad", "reviewer", "admin", "submitter", "scheme"])
def test_callers_are_admitted_and_refused_alike(pair: Pair, keys: dict[str, str], who: str) -> None:
    special = {"none": {}, "bad": auth("sw_not_a_key"), "scheme": {"Authorization": f"Basic {keys['submitter']}"}}
    headers = special[who] if who in special else auth(keys[who])
    before = pair.served()
    fast, twin = pair.both(headers=headers, json_body={"content_id": f"who-{who}", "text": "a plain note"})
    assert fast.status_code == {"none": 401, "bad": 401, "scheme": 401, "reviewer": 403}.get(who, 200), fast.text
    assert_same(fast, twin)
    assert pair.served() == before + 1


INVALID: dict[str, bytes] = {
    "not json": b"{content_id: 1",
    "not an object": b"[1, 2]",
    "empty": b"",
    "missing content_id": json.dumps({"text": "hi"}).encode(),
    "missing text": json.dumps({"content_id": "x"}).encode(),
    "empty content_id": json.dumps({"content_id": "", "text": "hi"}).encode(),
    "long content_id": json.dumps({"content_id": "x" * 301, "text": "hi"}).encode(),
    "NUL in content_id": json.dumps({"content_id": "a\x00b", "text": "hi"}).encode(),
    "NUL in context": json.dumps({"content_id": "x", "text": "hi", "context": {"k": "a\x00"}}).encode(),
    "unknown field": json.dumps({"content_id": "x", "text": "hi", "url": "http://example.test/"}).encode(),
    "image type": json.dumps({"content_id": "x", "text": "hi", "content_type": "image"}).encode(),
    "context a list": json.dumps({"content_id": "x", "text": "hi", "context": [1]}).encode(),
    "negative reach": json.dumps({"content_id": "x", "text": "hi", "reach": -1}).encode(),
    "reach a string": json.dumps({"content_id": "x", "text": "hi", "reach": "many"}).encode(),
    "keep not a flag": json.dumps({"content_id": "x", "text": "hi", "keep": "perhaps"}).encode(),
    "text not a string": json.dumps({"content_id": "x", "text": 5}).encode(),
    "not UTF-8": b'{"content_id": "x", "text": "caf\xe9"}',
    "long account_id": json.dumps({"content_id": "x", "text": "hi", "account_id": "a" * 301}).encode(),
    "account_id a number": json.dumps({"content_id": "x", "text": "hi", "account_id": 7}).encode(),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_bodies_are_refused_alike(pair: Pair, keys: dict[str, str], case: str) -> None:
    before = pair.served()
    fast, twin = pair.both(headers={**auth(keys["submitter"]), "Content-Type": "application/json"},
                           content=INVALID[case])
    assert 400 <= fast.status_code < 500, fast.text
    assert_same(fast, twin)
    assert pair.served() == before + 1


def test_once_returns_the_first_item_whichever_path_stored_it(pair: Pair, keys: dict[str, str],
                                                              engine: Engine) -> None:
    sub = auth(keys["submitter"])
    awaited = engine.items.writes.stats().awaited
    body = {"content_id": "once-1", "text": words(5), "once": True}
    first = pair.fast.post("/v1/items", json=body, headers=sub)
    again_fast, again_twin = pair.both(headers=sub, json_body=body)
    assert first.status_code == 200
    assert again_fast.json() == again_twin.json() == first.json()
    assert_same(again_fast, again_twin)
    plain_twin = pair.twin.post("/v1/items", json={**body, "content_id": "once-2"}, headers=sub)
    assert pair.fast.post("/v1/items", json={**body, "content_id": "once-2"}, headers=sub).json() == plain_twin.json()
    assert engine.items.writes.stats().awaited == awaited  # once reads the store first: in a thread


def test_other_requests_take_the_documented_route(pair: Pair, keys: dict[str, str]) -> None:
    sub = auth(keys["submitter"])
    before = pair.served()
    body = {"content_id": "route", "text": "plain words"}
    for fast, twin in (
        pair.both(headers=sub, json_body=body, params={"wait": "stage1"}),
        pair.both(headers=sub, json_body=body, params={"wait": "never"}),
        pair.both(headers={**sub, "Content-Type": "text/plain"}, content=json.dumps(body).encode()),
    ):
        assert_same(fast, twin)
    form = [c.post("/v1/items", data=body, headers=sub) for c in (pair.fast, pair.twin)]
    assert form[0].status_code == 200
    assert_same(*form)
    big = {"content_id": "big", "text": words(3, 20_000)}  # over the size parsed on the event loop
    assert_same(*pair.both(headers=sub, json_body=big))
    assert pair.served() == before
    assert pair.both(headers={**sub, "Content-Type": "application/json; charset=utf-8"},
                     content=json.dumps(body).encode())[0].status_code == 200
    assert pair.served() == before + 1


def test_address_and_key_rate_limits_apply_alike(engine: Engine, keys: dict[str, str]) -> None:
    for limits in ({"rate_limit_address_per_second": 0.001, "rate_limit_address_burst": 2},
                   {"rate_limit_key_per_second": 0.001, "rate_limit_key_burst": 2}):
        p = Pair(engine, **limits)
        answers = [p.both(headers=auth(keys["submitter"]), json_body={"content_id": f"rl-{i}", "text": "hi"})
                   for i in range(3)]
        assert [f.status_code for f, _ in answers] == [200, 200, 429]
        for fast, twin in answers:
            assert_same(fast, twin)
        assert "retry-after" in answers[2][0].headers
        assert p.served() == 3


def test_body_limit_applies_alike(engine: Engine, keys: dict[str, str]) -> None:
    p = Pair(engine, max_json_bytes=200)
    small = {"content_id": "s", "text": "hi"}
    large = {"content_id": "l", "text": "x" * 300}
    for body, status in ((small, 200), (large, 413)):
        fast, twin = p.both(headers=auth(keys["submitter"]), json_body=body)
        assert fast.status_code == status
        assert_same(fast, twin)
    assert p.served() == 1  # a body declared over the limit is refused by the stack, as ever


def test_start_up_parses_a_sample_text_item_and_stores_nothing(engine: Engine, keys: dict[str, str]) -> None:
    """The lifespan warms the text route's parsing (the first ``ItemText`` validation of a process cost 4 ms):
    the sample is a text item the route accepts, and nothing of it is stored."""
    from seawall.api.routes.items import _text_item
    from seawall.api.textpath import _SAMPLE_BODY, warm_up

    payload, content = _text_item(engine, _SAMPLE_BODY)
    assert payload.content_id == "seawall-warm-up" and content.content_type == "text"
    warm_up(engine)
    with TestClient(create_app(engine=engine, follow_writes=False)) as client:
        sub = auth(keys["submitter"])
        assert client.post("/v1/items", content=_SAMPLE_BODY,
                           headers={**sub, "Content-Type": "application/json"}).status_code == 200
    assert len(engine.items.find_by_content_id("seawall-warm-up")) == 1  # the one sent above, none from start-up
