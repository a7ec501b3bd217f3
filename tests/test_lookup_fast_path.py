"""The fast path for ``GET /v1/lookup`` answers exactly as the app without it.

Two apps share one engine: one with :class:`seawall.api.lookuppath.LookupFastPath`, one without (its
lookups pass the middlewares and the router). Every request here goes to both, and the status, headers
and body must be the same. The fast app's counter shows the path was taken, so a test cannot pass by both
apps quietly using the same route.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from seawall.api.app import create_app
from seawall.api.lookuppath import LookupFastPath
from seawall.engine import Engine

from .conftest import auth


def fast_layer(app: FastAPI) -> LookupFastPath:
    layer: Any = app.middleware_stack
    while layer is not None and not isinstance(layer, LookupFastPath):
        layer = getattr(layer, "app", None)
    assert isinstance(layer, LookupFastPath), "the lookup fast path is not in the app's stack"
    return layer


class Pair:
    """The same engine behind two apps: ``fast`` (with the fast path) and ``twin`` (without)."""

    def __init__(self, engine: Engine, **settings: Any) -> None:
        s = engine.settings.model_copy(update=settings) if settings else None
        self.fast_app = create_app(s, engine=engine, follow_writes=False)
        self.twin_app = create_app(s, engine=engine, follow_writes=False, lookup_fast_path=False)
        self.fast = TestClient(self.fast_app)
        self.twin = TestClient(self.twin_app)

    def served(self) -> int:
        return fast_layer(self.fast_app).served

    def both(self, url: str, *, headers: dict[str, str] | None = None, params: Any = None,
             method: str = "GET") -> tuple[httpx.Response, httpx.Response]:
        fast = self.fast.request(method, url, headers=headers or {}, params=params, follow_redirects=False)
        twin = self.twin.request(method, url, headers=headers or {}, params=params, follow_redirects=False)
        return fast, twin


@pytest.fixture
def pair(engine: Engine) -> Iterator[Pair]:
    p = Pair(engine)
    with p.fast:  # one lifespan is enough: both apps share the engine it starts
        yield p


def assert_same(fast: httpx.Response, twin: httpx.Response) -> None:
    assert fast.status_code == twin.status_code, (fast.text, twin.text)
    assert fast.content == twin.content
    assert sorted(fast.headers.items()) == sorted(twin.headers.items())


def flip_bits(hex_hash: str, n: int) -> str:
    value = int(hex_hash, 16)
    for bit in range(n):
        value ^= 1 << (bit * 7 % 256)
    return f"{value:064x}"


@pytest.fixture
def banked(pair: Pair, keys: dict[str, str]) -> dict[str, str]:
    """A block bank with a PDQ and an MD5 entry (labelled), an allow bank sharing the PDQ, a disabled bank."""
    h = auth(keys["admin"])
    pdq, md5 = secrets.token_hex(32), secrets.token_hex(16)
    for bank in ({"name": "tvec", "labels": ["group:demo"], "thresholds": {"pdq": 40}},
                 {"name": "fine", "kind": "allow"}, {"name": "off"}):
        assert pair.fast.post("/v1/banks", json=bank, headers=h).status_code == 201
    for bank, entry in (("tvec", {"signal_type": "pdq", "value": pdq, "labels": ["behaviour:glorification"]}),
                        ("tvec", {"signal_type": "md5", "value": md5}),
                        ("fine", {"signal_type": "pdq", "value": flip_bits(pdq, 3)}),
                        ("off", {"signal_type": "md5", "value": md5})):
        assert pair.fast.post(f"/v1/banks/{bank}/entries", json=entry, headers=h).status_code == 201
    assert pair.fast.patch("/v1/banks/off", json={"enabled": False}, headers=h).status_code == 200
    return {"pdq": pdq, "md5": md5}


def test_hits_and_misses_are_answered_alike(pair: Pair, keys: dict[str, str], banked: dict[str, str]) -> None:
    before = pair.served()
    queries = [("pdq", banked["pdq"].upper()), ("pdq", flip_bits(banked["pdq"], 20)), ("pdq", secrets.token_hex(32)),
               ("md5", f"  {banked['md5']} "), ("md5", secrets.token_hex(16)), ("url", "https://example.test/a?b=c")]
    for role in ("submitter", "reviewer", "admin"):
        for signal_type, value in queries:
            fast, twin = pair.both("/v1/lookup", headers=auth(keys[role]),
                                   params={"signal_type": signal_type, "value": value})
            assert fast.status_code == 200, fast.text
            assert_same(fast, twin)
    assert pair.served() == before + 3 * len(queries)
    got = pair.fast.get("/v1/lookup", params={"signal_type": "pdq", "value": banked["pdq"]},
                        headers=auth(keys["submitter"])).json()
    assert sorted((m["bank"], m["distance"]) for m in got["matches"]) == [("fine", 3), ("tvec", 0)]
    assert got["value"] == banked["pdq"]
    md5 = pair.fast.get("/v1/lookup", params={"signal_type": "md5", "value": banked["md5"]},
                        headers=auth(keys["submitter"])).json()
    assert [m["bank"] for m in md5["matches"]] == ["tvec"]  # the disabled bank's entry is not a match


@pytest.mark.parametrize("who", ["none", "bad", "malformed", "scheme", "empty"])
def test_callers_are_refused_alike(pair: Pair, keys: dict[str, str], who: str) -> None:
    headers = {"none": {}, "bad": auth("sw_abc_notakey"), "malformed": auth("not-a-key"),
               "scheme": {"Authorization": f"Basic {keys['submitter']}"}, "empty": {"Authorization": "Bearer "}}[who]
    before = pair.served()
    fast, twin = pair.both("/v1/lookup", headers=headers, params={"signal_type": "md5", "value": "0" * 32})
    assert fast.status_code == 401, fast.text
    assert fast.json()["code"] and fast.json()["message"]
    assert_same(fast, twin)
    assert pair.served() == before + 1


INVALID: dict[str, Any] = {
    "no query": None,
    "no value": {"signal_type": "pdq"},
    "no signal_type": {"value": "0" * 64},
    "blank value": {"signal_type": "pdq", "value": ""},
    "short pdq": {"signal_type": "pdq", "value": "12"},
    "unknown type": {"signal_type": "sha999", "value": "ab"},
    "long signal_type": {"signal_type": "x" * 33, "value": "ab"},
    "long value": {"signal_type": "md5", "value": "a" * 10_001},
    "NUL": {"signal_type": "md5", "value": "\x00"},
    "repeated": [("signal_type", "pdq"), ("value", "0" * 64), ("value", "zz")],
    "not hex": {"signal_type": "md5", "value": "é" * 32},
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_queries_are_refused_alike(pair: Pair, keys: dict[str, str], case: str) -> None:
    before = pair.served()
    fast, twin = pair.both("/v1/lookup", headers=auth(keys["submitter"]), params=INVALID[case])
    assert 400 <= fast.status_code < 500, fast.text
    body = fast.json()
    assert body["code"] and body["message"], body
    assert_same(fast, twin)
    assert pair.served() == before + 1


def test_repeated_parameters_take_the_last_value_alike(pair: Pair, keys: dict[str, str],
                                                      banked: dict[str, str]) -> None:
    params = [("signal_type", "md5"), ("value", "zz"), ("value", banked["md5"]), ("extra", "1")]
    fast, twin = pair.both("/v1/lookup", headers=auth(keys["submitter"]), params=params)
    assert fast.status_code == 200 and len(fast.json()["matches"]) == 1
    assert_same(fast, twin)


@pytest.mark.parametrize("limit", ["address", "key"])
def test_rate_limits_refuse_alike(engine: Engine, keys: dict[str, str], limit: str) -> None:
    name = "rate_limit_address" if limit == "address" else "rate_limit_key"
    p = Pair(engine, **{f"{name}_per_second": 0.01, f"{name}_burst": 2})
    with p.fast:
        answers = [p.both("/v1/lookup", headers=auth(keys["submitter"]),
                          params={"signal_type": "md5", "value": "0" * 32}) for _ in range(3)]
    assert [f.status_code for f, _ in answers] == [200, 200, 429]
    for fast, twin in answers:
        assert_same(fast, twin)
    assert answers[-1][0].json()["code"] == "rate_limited" and answers[-1][0].headers["retry-after"]


def test_other_requests_take_the_stack(pair: Pair, keys: dict[str, str]) -> None:
    h = auth(keys["submitter"])
    before = pair.served()
    q = {"signal_type": "md5", "value": "0" * 32}
    for method, url in (("HEAD", "/v1/lookup"), ("POST", "/v1/lookup"), ("GET", "/v1/lookup/"),
                        ("GET", "/v1/lookups")):
        fast, twin = pair.both(url, headers=h, params=q, method=method)
        assert_same(fast, twin)
    assert pair.served() == before


def test_openapi_still_documents_the_lookup(pair: Pair) -> None:
    doc = pair.fast.get("/openapi.json").json()
    op = doc["paths"]["/v1/lookup"]["get"]
    assert {p["name"] for p in op["parameters"]} >= {"signal_type", "value"}
    assert {"200", "401", "403", "422"} <= set(op["responses"])
    assert doc == pair.twin.get("/openapi.json").json()


def test_lookup_without_the_fast_path_needs_no_layer(engine: Engine, keys: dict[str, str]) -> None:
    app = create_app(engine=engine, follow_writes=False, lookup_fast_path=False)
    with TestClient(app) as c:
        with pytest.raises(AssertionError):
            fast_layer(app)
        r = c.get("/v1/lookup", params={"signal_type": "md5", "value": "0" * 32}, headers=auth(keys["reviewer"]))
    assert r.status_code == 200 and r.json() == {"signal_type": "md5", "value": "0" * 32, "matches": []}
