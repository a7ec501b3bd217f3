"""Sources and Seawall-to-Seawall feeds between two engines in this process, each served over real HTTP
on loopback: the publisher on SQLite and on PostgreSQL, the subscriber on its own SQLite file.

Hashes are random or computed from made-up text; nothing real is ever fetched.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select

from seawall.api.app import create_app
from seawall.composition import build_engine
from seawall.config import Settings
from seawall.engine import Engine
from seawall.rules.facts import FactsIn
from seawall.sharing.feedback_signing import signed_feedback
from seawall.sharing.feeds import Cursor
from seawall.sharing.signing import canonical, public_key_from, public_text, verify
from seawall.store.tables import BankEntryRow, BankEntrySourceRow, SourceRow
from tests import loopback_http
from tests.conftest import auth, fresh_sqlite_store
from tests.sharing_support import Proxy, served

SLOGAN = "a generated slogan for a made-up movement that does not exist, shared between two test platforms"


@dataclass
class Pair:
    a: Engine
    b: Engine
    a_url: str
    a_admin: str
    b_url: str
    b_admin: str

    def a_api(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return loopback_http.request(method, self.a_url + path, headers=auth(self.a_admin), timeout=30, **kw)

    def b_api(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return loopback_http.request(method, self.b_url + path, headers=auth(self.b_admin), timeout=30, **kw)


@contextmanager
def _pair(a_settings: Settings, tmp_path: Path) -> Iterator[Pair]:
    """A (publisher) and B (subscriber, SQLite); background syncing off so the tests decide when B pulls.

    SQLite stores start as copies of this process's migrated template, not by running every migration.
    """
    if not a_settings.database_url:
        fresh_sqlite_store(a_settings.data_dir)
    a = build_engine(a_settings.model_copy(update={"source_sync": False}))
    b = build_engine(Settings(data_dir=fresh_sqlite_store(tmp_path / "b"), webhook_allow_hosts="127.0.0.1",
                              source_sync=False))
    with serve_pair(a, b) as pair:
        yield pair


@contextmanager
def serve_pair(a: Engine, b: Engine) -> Iterator[Pair]:
    """Serve two built engines on loopback, each with an admin key; both are closed afterwards."""
    try:
        with served(create_app(engine=a, follow_writes=False)) as a_url, \
                served(create_app(engine=b, follow_writes=False)) as b_url:
            yield Pair(a, b, a_url, a.api_keys.create("admin", "a")[0], b_url, b.api_keys.create("admin", "b")[0])
    finally:
        a.close()
        b.close()


@pytest.fixture
def pair(settings: Settings, tmp_path: Path) -> Iterator[Pair]:
    """The publisher on SQLite and on PostgreSQL (its feed cursor differs: commit horizon)."""
    with _pair(settings, tmp_path) as p:
        yield p


@pytest.fixture
def pair1(tmp_path: Path) -> Iterator[Pair]:
    """Both on SQLite: for behaviour that does not depend on the publisher's database."""
    with _pair(Settings(data_dir=tmp_path / "a"), tmp_path) as p:
        yield p


def _md5() -> str:
    return secrets.token_hex(16)


def _publish(p: Pair, *, labels: list[str] | None = None) -> dict[str, Any]:
    made = p.a_api("POST", "/v1/banks", json={"name": "a-known", "labels": ["behaviour:recruitment"]})
    assert made.status_code == 201
    r = p.a_api("POST", "/v1/feeds", json={"name": "tvec", "banks": ["a-known"], "partners": ["platform-b"],
                                            "labels": labels or []})
    assert r.status_code == 201, r.text
    feed: dict[str, Any] = r.json()
    assert feed["partners"][0]["name"] == "platform-b" and feed["partners"][0]["token"].startswith("swf_")
    return feed


def _subscribe(p: Pair, feed: dict[str, Any], url: str | None = None, **extra: Any) -> dict[str, Any]:
    body = {"name": "from-a", "kind": "seawall", "url": url or p.a_url, "feed": "tvec",
            "public_key": feed["public_key"], "token": feed["partners"][0]["token"], "bank": "partner-a",
            "action": "block", **extra}
    r = p.b_api("POST", "/v1/sources", json=body)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    assert out["config"]["token"] == "***"
    return out


def _add(p: Pair, value: str, signal_type: str = "md5", labels: list[str] | None = None) -> int:
    r = p.a_api("POST", "/v1/banks/a-known/entries", json={"signal_type": signal_type, "value": value,
                                                          "labels": labels or []})
    assert r.status_code in (200, 201), r.text
    return int(r.json()["id"])


def _bank_values(e: Engine, bank: str) -> list[str]:
    return sorted(x.value for x in e.banks.list_entries(bank, limit=1000))


def test_publish_subscribe_tombstone_and_idempotent_resync(pair: Pair) -> None:
    p = pair
    feed = _publish(p)
    values = [_md5() for _ in range(5)]
    ids = [_add(p, v) for v in values]
    _subscribe(p, feed)

    first = p.b_api("POST", "/v1/sources/from-a/sync").json()
    assert first["error"] is None and first["added"] == 5 and first["refused"] is False
    assert _bank_values(p.b, "partner-a") == sorted(values)
    assert [m.bank_name for m in p.b.lookup("md5", values[0])] == ["partner-a"]
    assert p.b.banks.get("partner-a").default_action == "block"

    # nothing new: nothing added; re-sync from scratch: every entry seen again, none added
    assert p.b_api("POST", "/v1/sources/from-a/sync").json()["added"] == 0
    assert p.b_api("PATCH", "/v1/sources/from-a", json={"checkpoint": None}).status_code == 200
    again = p.b_api("POST", "/v1/sources/from-a/sync").json()
    assert (again["added"], again["seen"]) == (0, 5)
    with p.b.db.session() as s:
        assert s.scalar(select(func.count()).select_from(BankEntryRow)) == 5
        assert s.scalar(select(func.count()).select_from(BankEntrySourceRow)) == 5

    # removal on the publisher propagates as a tombstone
    assert p.a_api("DELETE", f"/v1/banks/a-known/entries/{ids[1]}").status_code == 204
    gone = p.b_api("POST", "/v1/sources/from-a/sync").json()
    assert gone["tombstones"] == 1
    assert _bank_values(p.b, "partner-a") == sorted(v for v in values if v != values[1])
    assert p.b.lookup("md5", values[1]) == []

    status = p.b_api("GET", "/v1/sources/from-a").json()
    assert status["counts"]["added"] == 5 and status["counts"]["tombstones"] == 1
    assert status["last_success_at"] is not None and status["failing"] is False and status["stale"] is False
    assert status["checkpoint"]

    # provenance: the entry remembers the source; the rules see it
    entry = p.b.banks.list_entries("partner-a", limit=1)[0]
    facts = p.b.facts_for(p.b.items.get(p.b.submit(p.b.content("text", text="unrelated"), content_id="x").id),
                          p.b.lookup("md5", entry.value))
    assert facts.matches[0].sources == ["from-a"] and facts.matches[0].source_count == 1


def test_every_target_bank_receives_entries_and_tombstones(pair: Pair) -> None:
    p = pair
    feed = _publish(p)
    values = [_md5() for _ in range(3)]
    ids = [_add(p, v) for v in values]
    assert p.b_api("POST", "/v1/banks", json={"name": "mine", "default_action": "review"}).status_code == 201
    # a person already put one of the hashes into the second bank
    assert p.b_api("POST", "/v1/banks/mine/entries",
                   json={"signal_type": "md5", "value": values[2]}).status_code in (200, 201)
    _subscribe(p, feed, banks=["partner-a", "mine"])
    out = p.b_api("POST", "/v1/sources/from-a/sync").json()
    assert out["error"] is None and (out["added"], out["seen"]) == (5, 3)
    assert _bank_values(p.b, "partner-a") == _bank_values(p.b, "mine") == sorted(values)
    assert sorted(m.bank_name for m in p.b.lookup("md5", values[0])) == ["mine", "partner-a"]
    assert p.b.banks.get("mine").default_action == "review"  # only the first bank takes the source's action
    with p.b.db.session() as s:
        assert s.scalar(select(func.count()).select_from(BankEntrySourceRow)) == 6

    # the person's entry outlives the source's withdrawal of the same hash; the source's own copies go
    assert p.a_api("DELETE", f"/v1/banks/a-known/entries/{ids[0]}").status_code == 204
    assert p.a_api("DELETE", f"/v1/banks/a-known/entries/{ids[2]}").status_code == 204
    gone = p.b_api("POST", "/v1/sources/from-a/sync").json()
    assert gone["tombstones"] == 2
    assert _bank_values(p.b, "partner-a") == [values[1]]
    assert _bank_values(p.b, "mine") == sorted([values[1], values[2]])


def test_label_limited_feed_and_label_mapping(pair1: Pair) -> None:
    p = pair1
    assert p.a_api("POST", "/v1/banks", json={"name": "a-known"}).status_code == 201
    r = p.a_api("POST", "/v1/feeds", json={"name": "tvec", "banks": ["a-known"], "partners": ["platform-b"],
                                            "labels": ["behaviour:recruitment"]})
    feed = r.json()
    shared, private = _md5(), _md5()
    _add(p, shared, labels=["behaviour:recruitment"])
    _add(p, private, labels=["behaviour:glorification"])
    _subscribe(p, feed, label_map={"behaviour:recruitment": "group:mapped-here"})
    assert p.b_api("POST", "/v1/sources/from-a/sync").json()["added"] == 1
    entries = p.b.banks.list_entries("partner-a")
    assert [e.value for e in entries] == [shared]
    assert entries[0].labels == ["group:mapped-here"]


def test_retro_match_of_an_entry_arriving_from_a_source(pair1: Pair) -> None:
    p = pair1
    feed = _publish(p)
    earlier = p.b.submit(p.b.content("text", text=SLOGAN), content_id="old-post")
    assert earlier.verdict.verdict == "allow"
    p.a.add_entries_from_content("a-known", p.a.content("text", text=SLOGAN), labels=[], note="", source="",
                                 added_by="test")
    _subscribe(p, feed)
    assert p.b_api("POST", "/v1/sources/from-a/sync").json()["added"] >= 1
    # the sync wakes retro-matching (in the background here); a pass run now finds whatever is left
    p.b.retro.run()
    deadline = time.monotonic() + 20
    while not p.b.items.get(earlier.id).verdict.matches and time.monotonic() < deadline:
        time.sleep(0.1)
    assert p.b.items.get(earlier.id).verdict.matches[0].bank_name == "partner-a"


def _forged(p: Pair, body: dict[str, Any], key: Ed25519PrivateKey | None = None) -> bytes:
    signer_key = key or p.a.feeds.signer.key()
    sig = __import__("base64").b64encode(signer_key.sign(canonical(body))).decode()
    return json.dumps({"page": body, "signature": sig}).encode()


def test_bad_pages_are_refused_whole_and_bad_entries_alone(pair1: Pair) -> None:
    p = pair1
    feed = _publish(p)
    good = [_md5() for _ in range(3)]
    for v in good:
        _add(p, v)
    proxy = Proxy(p.a_url)
    try:
        _subscribe(p, feed, url=proxy.url)

        def count() -> int:
            with p.b.db.session() as s:
                return int(s.scalar(select(func.count()).select_from(BankEntryRow)) or 0)

        def source() -> dict[str, Any]:
            return p.b_api("GET", "/v1/sources/from-a").json()

        def upstream_page(path: str, headers: dict[str, str]) -> dict[str, Any]:
            page: dict[str, Any] = loopback_http.get(
                p.a_url + path, headers={"authorization": headers["authorization"]}, timeout=30).json()
            return page

        # 1. a tampered page (value changed in transit): bad signature
        def tamper(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
            env = upstream_page(path, headers)
            env["page"]["entries"][0]["value"] = _md5()
            return 200, {"content-type": "application/json"}, json.dumps(env).encode()

        proxy.answer = tamper
        r = p.b_api("POST", "/v1/sources/from-a/sync").json()
        assert r["refused"] and "bad signature" in r["error"]
        assert count() == 0 and source()["checkpoint"] is None
        assert source()["counts"]["pages_refused"] == 1 and "bad signature" in source()["last_error"]

        # 2. signed by another key (publisher key changed)
        other = Ed25519PrivateKey.generate()

        def rekeyed(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
            env = upstream_page(path, headers)
            env["page"]["public_key"] = public_text(other.public_key())
            return 200, {"content-type": "application/json"}, _forged(p, env["page"], other)

        proxy.answer = rekeyed
        r = p.b_api("POST", "/v1/sources/from-a/sync").json()
        assert r["refused"] and "key changed" in r["error"] and count() == 0

        # 3. the honest first sync, recorded by the proxy
        proxy.answer = None
        honest = len(proxy.seen)
        assert p.b_api("PATCH", "/v1/sources/from-a", json={"enabled": True}).status_code == 200
        assert p.b_api("POST", "/v1/sources/from-a/sync").json()["added"] == 3
        first_page = next(out for m, path, st, out in proxy.seen[honest:] if "/entries" in path and st == 200
                          and json.loads(out)["page"]["entries"])
        checkpoint = source()["checkpoint"]
        _add(p, _md5())

        # 4. replaying the recorded first page: it continues from another checkpoint
        proxy.answer = lambda *a: (200, {"content-type": "application/json"}, first_page)
        r = p.b_api("POST", "/v1/sources/from-a/sync").json()
        assert r["refused"] and "replayed" in r["error"]
        assert source()["checkpoint"] == checkpoint and count() == 3

        # 5. a correctly signed page that moves the checkpoint back (a publisher restored from an old backup)
        def rolled_back(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
            env = upstream_page(path, headers)
            env["page"]["checkpoint"] = json.loads(first_page)["page"]["after"] or "0.0.-.-.0.0"
            return 200, {"content-type": "application/json"}, _forged(p, env["page"])

        proxy.answer = rolled_back
        r = p.b_api("POST", "/v1/sources/from-a/sync").json()
        assert r["refused"] and "rolled-back" in r["error"] and count() == 3

        # 6. malformed entries are rejected with their position; the rest of the page applies
        fresh = _md5()

        def malformed(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
            env = upstream_page(path, headers)
            env["page"]["entries"] = [{"id": 900, "signal_type": "md5", "value": "not-a-hash", "labels": []},
                                      {"id": 901, "signal_type": "md5", "value": fresh, "labels": []},
                                      {"id": 902, "signal_type": "no-such-type", "value": "x", "labels": []},
                                      "junk"]
            return 200, {"content-type": "application/json"}, _forged(p, env["page"])

        proxy.answer = malformed
        r = p.b_api("POST", "/v1/sources/from-a/sync").json()
        assert not r["refused"] and r["added"] == 1
        assert sorted(x["position"] for x in r["rejects"]) == [0, 2, 3]
        assert fresh in _bank_values(p.b, "partner-a")
        assert sorted(x["position"] for x in source()["last_rejects"]) == [0, 2, 3]
    finally:
        proxy.stop()


def test_outages_back_off_and_show_in_health_and_metrics(pair1: Pair) -> None:
    p = pair1
    feed = _publish(p)
    proxy = Proxy(p.a_url)
    try:
        _subscribe(p, feed, url=proxy.url)
        proxy.answer = lambda *a: (429, {"retry-after": "120"}, b"slow down")
        r = p.b_api("POST", "/v1/sources/from-a/sync").json()
        assert "429" in r["error"] and not r["refused"]
        with p.b.db.session() as s:
            row = s.scalar(select(SourceRow).where(SourceRow.name == "from-a"))
            assert row is not None and row.failures == 1 and row.next_attempt_at is not None
        assert p.b.sources.due() == []  # backing off: the runner leaves it alone
        health = loopback_http.get(p.b_url + "/healthz", timeout=10).json()
        assert health["status"] == "degraded"
        assert "source_failing" in [x["code"] for x in health["reasons"]]
        metrics = loopback_http.get(p.b_url + "/metrics", timeout=10).text
        assert 'seawall_source_failing{source="from-a"} 1.0' in metrics
        assert 'seawall_degraded{reason="source_failing"} 1.0' in metrics
        # uploads are not held up by a failing exchange
        item = loopback_http.post(p.b_url + "/v1/items", headers=auth(p.b_admin), json={
            "content_id": "c1", "text": "hello"}, timeout=10)
        assert item.status_code in (200, 201), item.text

        proxy.answer = None
        assert p.b_api("POST", "/v1/sources/from-a/sync").json()["error"] is None
        assert loopback_http.get(p.b_url + "/healthz", timeout=10).json()["status"] == "ok"
    finally:
        proxy.stop()


def test_partner_tokens_and_bad_requests(pair1: Pair) -> None:
    p = pair1
    feed = _publish(p)
    token = feed["partners"][0]["token"]
    assert loopback_http.get(p.a_url + "/v1/feeds/tvec/entries", timeout=10).status_code == 401
    wrong = loopback_http.get(p.a_url + "/v1/feeds/tvec/entries", headers=auth("swf_wrong"), timeout=10)
    assert wrong.status_code == 401
    # an admin API key is not a partner token
    assert loopback_http.get(p.a_url + "/v1/feeds/tvec/entries", headers=auth(p.a_admin), timeout=10).status_code == 401
    r = loopback_http.get(p.a_url + "/v1/feeds/tvec/entries?after=nonsense", headers=auth(token), timeout=10)
    assert r.status_code == 422 and r.json()["code"] == "invalid_checkpoint"
    assert p.a_api("POST", "/v1/feeds", json={"name": "tvec", "banks": ["a-known"]}).status_code == 409
    assert p.a_api("POST", "/v1/feeds", json={"name": "x", "banks": ["nope"]}).json()["code"] == "bank_not_found"
    bad = p.b_api("POST", "/v1/sources", json={"name": "s", "kind": "seawall", "url": "ftp://x", "feed": "f",
                                               "public_key": feed["public_key"], "token": "t"})
    assert bad.status_code == 422
    bad = p.b_api("POST", "/v1/sources", json={"name": "s", "kind": "seawall", "url": p.a_url, "feed": "f",
                                               "public_key": "short", "token": "t"})
    assert bad.json()["code"] == "invalid_public_key"
    assert p.b_api("POST", "/v1/sources", json={"name": "s", "kind": "nope"}).json()["code"] == "unknown_exchange"
    _subscribe(p, feed)
    assert p.b_api("POST", "/v1/sources", json={
        "name": "from-a", "kind": "seawall", "url": p.a_url, "feed": "tvec", "public_key": feed["public_key"],
        "token": token}).status_code == 409
    assert p.b_api("PATCH", "/v1/sources/from-a", json={"action": "explode"}).json()["code"] == "invalid_action"
    assert p.b_api("DELETE", "/v1/sources/from-a").status_code == 204
    assert p.b_api("GET", "/v1/sources/from-a").status_code == 404


def test_rules_can_require_two_sources(tmp_path: Path) -> None:
    rules = """\
rules:
  - id: two-partners-agree
    when: {match: {bank_kind: block, min_sources: 2, source: ["partner-*"]}}
    then: [block]
  - id: one-partner
    when: {match: {bank_kind: block, source: ["partner-*"]}}
    then: [queue]
"""
    engine = build_engine(Settings(data_dir=fresh_sqlite_store(tmp_path)))
    parsed = engine.rules.parse(rules)
    two = FactsIn.model_validate({"matches": [{"bank": "b", "sources": ["partner-a", "partner-b"],
                                               "source_count": 2}]}).to_facts()
    one = FactsIn.model_validate({"matches": [{"bank": "b", "sources": ["partner-a"], "source_count": 1}]}).to_facts()
    assert engine.rules.evaluate(two, parsed).verdict == "block"
    assert engine.rules.evaluate(one, parsed).verdict == "review"
    engine.close()


def test_publisher_key_is_stable_and_checkpoint_parse(pair1: Pair) -> None:
    key = pair1.a.feeds.signer.public()
    assert pair1.a.feeds.signer.public() == key
    from seawall.sharing.feeds import Cursor

    c = Cursor.parse("5.2.-.-.0.0")
    assert c.format() == "5.2.-.-.0.0" and c.not_behind(Cursor()) and not Cursor().not_behind(c)


def test_reviewer_decisions_go_back_to_the_publisher_as_signed_feedback(pair: Pair) -> None:
    from seawall.composition import review_service
    from seawall.review.users import ConsoleUsers
    from seawall.sharing.runner import FeedbackSender

    p = pair
    feed = _publish(p)
    blobs = [secrets.token_bytes(1024) for _ in range(2)]
    ids = [_add(p, hashlib.md5(b).hexdigest()) for b in blobs]
    source = _subscribe(p, feed, action="review")
    assert p.b_api("POST", "/v1/sources/from-a/sync").json()["added"] == 2
    # the publisher registers the subscriber's instance key on the partner, which feedback is signed with
    b_key = source["feedback_public_key"]
    assert b_key == p.b.feeds.signer.public()
    assert p.a_api("PATCH", "/v1/feeds/tvec/partners/nobody", json={"public_key": b_key}).status_code == 404
    bad = p.a_api("PATCH", "/v1/feeds/tvec/partners/platform-b", json={"public_key": "not a key"})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_public_key"
    r = p.a_api("PATCH", "/v1/feeds/tvec/partners/platform-b", json={"public_key": b_key})
    assert r.status_code == 200 and r.json()["public_key"] == b_key
    reviewer = ConsoleUsers(p.b.db).create("rev", "correct horse battery", "reviewer")
    review = review_service(p.b)
    for blob, outcome in zip(blobs, ("violating", "not_violating"), strict=True):
        item = p.b.submit(p.b.content("file", data=blob), content_id=f"post-{outcome}")
        assert item.verdict.verdict == "review"
        [case] = [c for c in review.waiting() if c.item_id == item.id]
        review.take(case.id, reviewer)
        review.decide(case.id, reviewer, outcome=outcome,
                      labels=["behaviour:recruitment"] if outcome == "violating" else [])
    sender = FeedbackSender(p.b.db, p.b.sources)
    assert sender.run_once() == {"decisions": 2, "sent": 2}
    assert sender.run_once() == {"decisions": 0, "sent": 0}  # the cursor moved: nothing is sent twice

    summary = p.a_api("GET", "/v1/feeds/tvec/feedback").json()
    assert summary["partners"]["platform-b"]["true_positive"] == 1
    assert summary["partners"]["platform-b"]["false_positive"] == 1
    assert summary["partners"]["platform-b"]["precision"] == 0.5
    opinions = {e["entry_id"]: e["opinions"][0]["opinion"] for e in summary["entries"]}
    assert opinions == {ids[0]: "true_positive", ids[1]: "false_positive"}

    # refused, recording nothing: a stranger's key, another feed, a tampered body, a replay, an old call
    token = feed["partners"][0]["token"]
    b_priv = p.b.feeds.signer.key()
    flip = [{"entry_id": ids[1], "opinion": "true_positive"}]

    def send(raw: bytes) -> httpx.Response:
        return loopback_http.post(p.a_url + "/v1/feeds/tvec/feedback", headers=auth(token), content=raw, timeout=10)

    def refused(raw: bytes, status: int, code: str) -> None:
        r = send(raw)
        assert (r.status_code, r.json()["code"]) == (status, code), r.text
        assert p.a_api("GET", "/v1/feeds/tvec/feedback").json()["partners"]["platform-b"]["precision"] == 0.5

    refused(signed_feedback(Ed25519PrivateKey.generate(), "tvec", flip), 401, "bad_feedback_signature")
    refused(signed_feedback(b_priv, "other-feed", flip), 401, "bad_feedback_signature")
    tampered = json.loads(signed_feedback(b_priv, "tvec", [{"entry_id": ids[0], "opinion": "seen"}]))
    tampered["feedback"]["opinions"] = flip
    refused(json.dumps(tampered).encode(), 401, "bad_feedback_signature")
    refused(signed_feedback(b_priv, "tvec", flip, sent_at=datetime.now(UTC) - timedelta(hours=1)), 401,
            "stale_feedback")
    refused(b"not json", 422, "invalid_body")
    once = signed_feedback(b_priv, "tvec", [{"entry_id": ids[0], "opinion": "seen"}])
    assert send(once).status_code == 200
    refused(once, 409, "replayed_feedback")

    # without a registered key nothing is accepted; a removed partner's token opens nothing
    assert p.a_api("PATCH", "/v1/feeds/tvec/partners/platform-b", json={"public_key": None}).status_code == 200
    refused(signed_feedback(b_priv, "tvec", flip), 403, "partner_key_missing")
    assert p.a_api("DELETE", "/v1/feeds/tvec/partners/platform-b").status_code == 204
    assert p.a_api("DELETE", "/v1/feeds/tvec/partners/platform-b").status_code == 404
    assert send(signed_feedback(b_priv, "tvec", flip)).status_code == 401
    assert p.a_api("GET", "/v1/feeds/tvec/feedback").json()["partners"] == {}


@pytest.mark.postgres
def test_feed_never_skips_an_entry_committed_after_a_newer_one(pg_url: str, tmp_path: Path) -> None:
    """PostgreSQL hands out ids at insert: a slow transaction can commit an id below the feed's cursor."""
    from sqlalchemy import insert

    from seawall.store.tables import utcnow, value_digest
    from tests.conftest import _truncate

    _truncate(pg_url)
    eng = build_engine(Settings(data_dir=tmp_path, database_url=pg_url, source_sync=False))
    try:
        bank = eng.banks.create("k")
        feed = eng.feeds.create("f", ["k"], ["p"])
        partner = eng.feeds.authenticate("f", "Bearer " + feed["partners"][0]["token"])
        slow_value, fast_value = _md5(), _md5()
        with eng.db.engine.connect() as conn:
            tx = conn.begin()
            conn.execute(insert(BankEntryRow).values(
                bank_id=bank.id, signal_type="md5", value=slow_value, value_digest=value_digest(slow_value),
                labels=[], source="", added_by="t", note="", meta={}, created_at=utcnow()))
            from seawall.banks.service import EntryInput

            eng.banks.add_entry("k", EntryInput("md5", fast_value, []), added_by="t")
            first = eng.feeds.page(partner, None)["page"]
            slow_xid = int(conn.exec_driver_sql("SELECT pg_current_xact_id()::text").scalar() or 0)
            assert [e["value"] for e in first["entries"]] == [fast_value]  # the slow one is not visible yet
            tx.commit()
        # the horizon is cluster-wide: it passes the slow transaction once every older one (any database's)
        # has finished; until then the cursor must stay at or below it, so the entry is still owed
        seen: list[str] = []
        after = first["checkpoint"]
        deadline = time.monotonic() + 20
        while slow_value not in seen and time.monotonic() < deadline:
            page = eng.feeds.page(partner, after)["page"]
            seen += [e["value"] for e in page["entries"]]
            assert Cursor.parse(page["checkpoint"]).not_behind(Cursor.parse(after))
            after = page["checkpoint"]
            time.sleep(0.2)
        if slow_value not in seen:
            horizon = Cursor.parse(after).h
            assert horizon is not None and horizon <= slow_xid, "the cursor moved past an uncommitted entry"
    finally:
        eng.close()


@pytest.mark.postgres
def test_resync_into_postgres_adds_nothing_and_keeps_one_provenance_row(pg_url: str, tmp_path: Path) -> None:
    from tests.conftest import _truncate

    _truncate(pg_url)
    values = [_md5() for _ in range(2500)]
    feed = tmp_path / "list.txt"
    feed.write_text("".join(f"md5 {v}\n" for v in values))
    eng = build_engine(Settings(data_dir=tmp_path, database_url=pg_url, source_sync=False))
    try:
        eng.sources.create({"name": "f", "kind": "file", "path": str(feed), "bank": "b"}, created_by="t")
        assert eng.sources.sync("f").added == len(values)
        eng.sources.update("f", {"checkpoint": None})
        again = eng.sources.sync("f")
        assert (again.added, again.seen) == (0, len(values))
        with eng.db.session() as s:
            assert s.scalar(select(func.count()).select_from(BankEntrySourceRow)) == len(values)
        assert eng.banks.get("b").entry_count == len(values)
    finally:
        eng.close()


def _events(url: str, token: str, headers: dict[str, str] | None = None, seconds: float = 10,
            until: int = 1) -> list[tuple[str, dict[str, Any]]]:
    """Read ``page`` events (id, envelope) from a feed's event stream until ``until`` arrived or it ends."""
    got: list[tuple[str, dict[str, Any]]] = []
    with httpx.stream("GET", url + f"/v1/feeds/tvec/events?seconds={seconds}",
                      headers={**auth(token), **(headers or {})}, timeout=30) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        event: dict[str, str] = {}
        for line in r.iter_lines():
            if line.startswith(("event:", "id:", "data:")):
                key, _, value = line.partition(":")
                event[key] = value.strip()
            elif line == "" and event:
                if event.get("event") == "page":
                    got.append((event["id"], json.loads(event["data"])))
                    if len(got) >= until:
                        break
                event = {}
    return got


def test_feed_events_push_signed_pages_live_and_resume_from_last_event_id(pair1: Pair) -> None:
    import threading

    p = pair1
    feed = _publish(p)
    token = feed["partners"][0]["token"]
    first = _md5()
    _add(p, first)
    [(cp1, env1)] = _events(p.a_url, token)
    pub = public_key_from(feed["public_key"])
    assert verify(pub, env1["signature"], env1["page"]) and env1["page"]["checkpoint"] == cp1
    assert [e["value"] for e in env1["page"]["entries"]] == [first]

    # live: an entry added while the stream is open arrives while it is open, long before its 120 s end
    later = _md5()
    got: list[tuple[str, dict[str, Any]]] = []
    reader = threading.Thread(target=lambda: got.extend(_events(p.a_url, token, {"last-event-id": cp1},
                                                                seconds=120)))
    reader.start()
    time.sleep(0.5)
    _add(p, later)
    reader.join(timeout=60)
    assert not reader.is_alive() and got, "the new entry did not arrive on the open stream"
    [(cp2, env2)] = got
    assert env2["page"]["after"] == cp1 and [e["value"] for e in env2["page"]["entries"]] == [later]
    assert verify(pub, env2["signature"], env2["page"])

    # nothing new: the stream ends when asked, with no page; a stranger's token opens nothing
    assert _events(p.a_url, token, {"last-event-id": cp2}, seconds=1) == []
    assert loopback_http.get(p.a_url + "/v1/feeds/tvec/events?seconds=1", headers=auth("swf_nope"), timeout=10
                     ).status_code == 401


def test_revoking_a_partner_ends_its_open_event_stream_and_long_poll_within_seconds(pair1: Pair) -> None:
    import threading

    p = pair1
    feed = _publish(p)
    token = feed["partners"][0]["token"]
    _add(p, _md5())
    [(cp, _)] = _events(p.a_url, token)
    ended: dict[str, float] = {}
    kinds: list[str] = []

    def stream() -> None:
        with httpx.stream("GET", p.a_url + "/v1/feeds/tvec/events?seconds=300",
                          headers={**auth(token), "last-event-id": cp}, timeout=30) as r:
            assert r.status_code == 200
            kinds.extend(line.partition(":")[2].strip() for line in r.iter_lines() if line.startswith("event:"))
        ended["stream"] = time.monotonic()

    def poll() -> None:
        r = loopback_http.get(p.a_url + f"/v1/feeds/tvec/entries?after={cp}&wait=30", headers=auth(token), timeout=40)
        ended["poll"] = time.monotonic()
        ended["poll_status"] = r.status_code
        assert r.json()["code"] == "invalid_token"

    readers = [threading.Thread(target=stream), threading.Thread(target=poll)]
    for t in readers:
        t.start()
    time.sleep(1.5)
    assert not ended  # both are held open while nothing is new
    assert p.a_api("PATCH", "/v1/feeds/tvec/partners/platform-b", json={"revoked": True}).status_code == 200
    for t in readers:
        t.join(timeout=20)
    # both ended before their own ends (a 300 s stream, a 30 s poll opened 1.5 s before): the revocation ended them
    assert not any(t.is_alive() for t in readers) and {"stream", "poll"} <= set(ended)
    assert ended["poll_status"] == 401 and kinds == ["revoked"]


def test_partner_pushes_entries_into_the_publishers_review_only_bank(pair1: Pair) -> None:
    from seawall.sharing.exchanges.base import RemoteEntry

    p = pair1
    feed = _publish(p)  # takes no contributions
    _subscribe(p, feed)
    with p.b.db.session() as s:
        row = s.scalars(select(SourceRow).where(SourceRow.name == "from-a")).one()
    exchange = p.b.sources.exchange_for(row)
    blob = secrets.token_bytes(1024)
    value = hashlib.md5(blob).hexdigest()
    with pytest.raises(Exception) as refused:
        exchange.push([RemoteEntry("md5", value, ["behaviour:recruitment"])])
    assert "contributions_closed" in str(refused.value)

    # a feed may only take contributions into a review-only bank that it does not itself publish
    assert p.a_api("POST", "/v1/banks", json={"name": "a-block"}).status_code == 201
    assert p.a_api("POST", "/v1/banks", json={"name": "a-inbox", "default_action": "review"}).status_code == 201
    for bank, code in (("a-block", "contributions_bank_not_review"), ("a-known", "contributions_bank_not_review"),
                       ("nowhere", "bank_not_found")):
        r = p.a_api("POST", "/v1/feeds", json={"name": "open", "banks": ["a-known"], "partners": ["platform-b"],
                                                "contributions_bank": bank})
        assert r.json()["code"] == code, r.text
    r = p.a_api("POST", "/v1/feeds", json={"name": "open", "banks": ["a-known"], "partners": ["platform-b"],
                                            "contributions_bank": "a-inbox"})
    assert r.status_code == 201 and r.json()["contributions_bank"] == "a-inbox"
    opened = r.json()
    assert p.b_api("POST", "/v1/sources", json={
        "name": "to-open", "kind": "seawall", "url": p.a_url, "feed": "open", "public_key": opened["public_key"],
        "token": opened["partners"][0]["token"], "bank": "from-open", "action": "review"}).status_code == 201
    with p.b.db.session() as s:
        row = s.scalars(select(SourceRow).where(SourceRow.name == "to-open")).one()
    p.b.sources.exchange_for(row).push([RemoteEntry("md5", value, ["behaviour:recruitment"])])
    p.b.sources.exchange_for(row).push([RemoteEntry("md5", value, ["behaviour:recruitment"])])  # retry: once
    [entry] = p.a.banks.list_entries("a-inbox", limit=10)
    assert entry.value == value and entry.source == "partner:open/platform-b"
    assert _bank_values(p.a, "a-known") == []  # nothing relayed into the published bank

    # malformed entries are rejected by position, the rest apply; a stranger's token pushes nothing
    token = r.json()["partners"][0]["token"]
    other = _md5()
    got = loopback_http.post(p.a_url + "/v1/feeds/open/contributions", headers=auth(token), timeout=10, json={
        "entries": [{"signal_type": "md5", "value": other}, {"value": 3}, {"signal_type": "md5", "value": "zz"}]})
    assert got.status_code == 200, got.text
    assert got.json()["added"] == 1 and [x["position"] for x in got.json()["rejected"]] == [1, 2]
    assert loopback_http.post(p.a_url + "/v1/feeds/open/contributions", headers=auth("swf_nope"), timeout=10,
                      json={"entries": [{"signal_type": "md5", "value": _md5()}]}).status_code == 401
    bad = loopback_http.post(p.a_url + "/v1/feeds/open/contributions", headers=auth(token), timeout=10, content=b"{")
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_body"
    assert _bank_values(p.a, "a-inbox") == sorted([value, other])
    # a match on a contributed entry goes to review, not a block
    item = p.a.submit(p.a.content("file", data=blob), content_id="c-1")
    assert item.verdict.verdict == "review"


def test_an_older_publisher_is_asked_again_for_its_largest_page(pair1: Pair) -> None:
    """A publisher from before 50,000-entry pages answers 422 to a larger ``limit``: the subscriber asks
    again for 5,000 and syncs everything."""
    p = pair1
    feed = _publish(p)
    values = [_md5() for _ in range(3)]
    for v in values:
        _add(p, v)
    proxy = Proxy(p.a_url)
    limits: list[int] = []

    def older(method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes] | None:
        if "/entries" not in path:
            return None
        limit = int(parse_qs(urlsplit(path).query).get("limit", ["0"])[0])
        limits.append(limit)
        if limit > 5000:
            refusal = {"error": {"code": "invalid_input", "message": "limit: at most 5000 entries"}}
            return 422, {"content-type": "application/json"}, json.dumps(refusal).encode()
        return None

    proxy.answer = older
    try:
        _subscribe(p, feed, url=proxy.url)
        result = p.b_api("POST", "/v1/sources/from-a/sync").json()
    finally:
        proxy.stop()
    assert result["error"] is None and result["added"] == 3, result
    assert limits[0] == 20_000 and limits[1:] and set(limits[1:]) == {5000}
    assert _bank_values(p.b, "partner-a") == sorted(values)


def _source_exchange(p: Pair) -> Any:
    with p.b.db.session() as s:
        row = s.scalar(select(SourceRow).where(SourceRow.name == "from-a"))
    return p.b.sources.exchange_for(row)


def _entry_requests(proxy: Proxy) -> list[str]:
    return [parse_qs(urlsplit(path).query).get("after", [""])[0] for m, path, st, out in proxy.seen
            if "/entries" in path]


def test_the_next_page_is_asked_for_while_the_current_one_is_still_held(pair1: Pair) -> None:
    """The publisher's hint headers let the subscriber request page k+1 before page k is handed on; the
    pages still come in order, each once, and no request is sent after the last page."""
    p = pair1
    feed = _publish(p)
    values = [_md5() for _ in range(25)]
    for v in values:
        _add(p, v)
    proxy = Proxy(p.a_url)
    try:
        _subscribe(p, feed, url=proxy.url, page_size=10)
        pages = _source_exchange(p).pull(None)
        first = next(pages)
        deadline = time.monotonic() + 30
        while len(_entry_requests(proxy)) < 2:  # page 2 is asked for while page 1 is still held here
            assert time.monotonic() < deadline, "the next page was not asked for ahead"
            time.sleep(0.02)
        assert _entry_requests(proxy) == ["", first.checkpoint]
        rest = list(pages)
    finally:
        proxy.stop()
    got = [first, *rest]
    assert [len(pg.entries) for pg in got] == [10, 10, 5] and [pg.more for pg in got] == [True, True, False]
    assert sorted(e.value for pg in got for e in pg.entries) == sorted(values)
    assert _entry_requests(proxy) == ["", got[0].checkpoint, got[1].checkpoint]


def test_a_false_read_ahead_hint_is_never_applied(pair1: Pair) -> None:
    """Hints are unsigned: a page fetched on a hint that the verified checkpoint does not confirm is
    dropped and the right page asked for; the sync stores every entry once and refuses nothing."""
    p = pair1
    feed = _publish(p)
    values = [_md5() for _ in range(25)]
    for v in values:
        _add(p, v)
    proxy = Proxy(p.a_url)
    false_hint = "0.0.-.-.0.0"

    def lying(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        if "/entries" not in path:
            return None
        r = loopback_http.get(p.a_url + path, headers={"authorization": headers["authorization"]}, timeout=30)
        return r.status_code, {"content-type": "application/json", "seawall-checkpoint": false_hint,
                               "seawall-more": "1"}, r.content

    proxy.answer = lying
    try:
        _subscribe(p, feed, url=proxy.url, page_size=10)
        result = p.b_api("POST", "/v1/sources/from-a/sync").json()
    finally:
        proxy.stop()
    assert result["error"] is None and not result["refused"] and result["added"] == 25, result
    assert result["pages"] == 3
    assert _bank_values(p.b, "partner-a") == sorted(values)
    asked = _entry_requests(proxy)
    assert false_hint in asked  # fetched ahead on the hint, then not used
    honest = [a for a in asked if a != false_hint]
    assert honest[0] == "" and len(honest) == 3 and honest[-1] != result["checkpoint"]
    assert p.b_api("GET", "/v1/sources/from-a").json()["counts"]["pages_refused"] == 0


def test_a_tampered_page_fetched_ahead_is_refused_whole_after_the_pages_before_it(pair1: Pair) -> None:
    p = pair1
    feed = _publish(p)
    values = [_md5() for _ in range(25)]
    for v in values:
        _add(p, v)
    proxy = Proxy(p.a_url)

    def tamper_after_first(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        if "/entries" not in path:
            return None
        r = loopback_http.get(p.a_url + path, headers={"authorization": headers["authorization"]}, timeout=30)
        hints = {k: v for k, v in r.headers.items() if k.startswith("seawall-")}
        if not parse_qs(urlsplit(path).query).get("after", [""])[0]:
            return r.status_code, {"content-type": "application/json", **hints}, r.content
        env = r.json()
        env["page"]["entries"][0]["value"] = _md5()
        return 200, {"content-type": "application/json", **hints}, json.dumps(env).encode()

    proxy.answer = tamper_after_first
    try:
        _subscribe(p, feed, url=proxy.url, page_size=10)
        result = p.b_api("POST", "/v1/sources/from-a/sync").json()
        assert result["refused"] and "bad signature" in result["error"] and result["added"] == 10, result
        stored = _bank_values(p.b, "partner-a")
        assert len(stored) == 10 and set(stored) < set(values)
        source = p.b_api("GET", "/v1/sources/from-a").json()
        assert source["checkpoint"] == result["checkpoint"] and source["counts"]["pages_refused"] == 1
        proxy.answer = None
        assert p.b_api("PATCH", "/v1/sources/from-a", json={"enabled": True}).status_code == 200
        again = p.b_api("POST", "/v1/sources/from-a/sync").json()
    finally:
        proxy.stop()
    assert again["error"] is None and again["added"] == 15, again
    assert _bank_values(p.b, "partner-a") == sorted(values)
