"""Outbound webhooks: outbox, signed delivery with retries to a real receiver, crash recovery, SSRF."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from seawall.api.app import create_app
from seawall.composition import build_engine
from seawall.config import Settings
from seawall.engine import Engine
from seawall.store.tables import WebhookDeliveryRow, WebhookEventRow
from seawall.webhooks import DeliveryConfig, TargetPolicy, UnsafeTarget, WebhookSender
from seawall.webhooks.delivery import sign_headers

from .clocks import eventually
from .conftest import auth
from .webhook_receiver import Receiver

RULES = """\
rules:
  - id: allow-bank
    when: {match: {bank_kind: allow}}
    then: [allow]
  - id: threat
    when: {match: {bank_kind: block}}
    then: [block, escalate, strike]
"""
EVENTS = ["item.verdict", "item.escalated", "account.strike", "account.suspended", "account.appealed"]


def fast(settings: Settings, **extra: object) -> Settings:
    """Loopback targets allow-listed explicitly; short timeouts and retries so failures resolve quickly."""
    return settings.model_copy(update={
        "webhook_allow_hosts": "127.0.0.1", "webhook_timeout_seconds": 0.5, "webhook_retry_base_seconds": 0.05,
        "webhook_retry_max_seconds": 0.2, "webhook_poll_seconds": 0.05, "webhook_max_attempts": 6,
        "strikes_for_temporary_suspension": 2, **extra})


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(slow_seconds=0.8)
    try:
        yield r
    finally:
        r.stop()


def wait_for(check: Callable[[], bool], seconds: float = 25.0) -> None:
    eventually(check, seconds)


def statuses(eng: Engine) -> list[str]:
    with eng.db.session() as s:
        return list(s.scalars(select(WebhookDeliveryRow.status)))


def message_ids(eng: Engine) -> set[str]:
    with eng.db.session() as s:
        return set(s.scalars(select(WebhookEventRow.message_id)))


def seed(eng: Engine, texts: list[str]) -> None:
    eng.banks.create("tvec", labels=["behaviour:imminent-credible-threat"])
    from seawall.banks.service import EntryInput

    for t in texts:
        eng.add_entry("tvec", EntryInput("md5", hashlib.md5(t.encode()).hexdigest(), []), added_by="test")
    eng.rules.save(RULES, created_by="test")


def submit(eng: Engine, text: str, n: int, account: str = "acct") -> None:
    eng.submit(eng.content("file", data=text.encode()), content_id=f"c{n}", account_id=account)


# --- delivery ----------------------------------------------------------------------------------


def test_every_event_delivered_once_through_failures_timeouts_and_recovery(settings: Settings,
                                                                           receiver: Receiver) -> None:
    eng = build_engine(fast(settings))
    try:
        keys = eng.api_keys.create("admin", "a")[0]
        with TestClient(create_app(engine=eng, follow_writes=False)) as c:
            r = c.post("/v1/webhooks", json={"url": receiver.url(), "event_types": EVENTS}, headers=auth(keys))
            assert r.status_code == 201, r.text
            receiver.secret = r.json()["secret"]
            assert r.json()["secret"].startswith("whsec_")
            assert "secret" not in c.get(f"/v1/webhooks/{r.json()['id']}", headers=auth(keys)).json()
            hook_id = r.json()["id"]
            receiver.plan = ["fail", "slow", "fail", "hang", "ok", "slow", "fail", "fail"]
            seed(eng, ["bad-1", "bad-2"])
            for n, text in enumerate(["fine", "bad-1", "fine", "bad-2", "bad-1", "fine"]):
                submit(eng, text, n)
            r = c.post("/v1/accounts/acct/appeal", json={"text": "not mine"}, headers=auth(keys))
            assert r.status_code == 201
            wait_for(lambda: set(statuses(eng)) == {"delivered"})
            sent = message_ids(eng)
            # 6 verdicts, 3 escalations, 3 strikes, 1 suspension (2nd strike), 1 appeal
            assert len(sent) == 14
            assert set(receiver.processed) == sent
            kinds = sorted(p["type"] for p in receiver.processed.values())
            assert kinds.count("item.verdict") == 6 and kinds.count("account.strike") == 3
            assert kinds.count("item.escalated") == 3 and kinds.count("account.suspended") == 1
            assert receiver.bad_signatures == 0
            assert sum(receiver.arrivals.values()) > len(sent)  # retries and timeouts happened …
            assert max(receiver.arrivals.values()) >= 2  # … and a repeat was recognised by its webhook-id
            verdict = next(p for p in receiver.processed.values() if p["type"] == "item.verdict"
                           and p["data"]["item"]["verdict"] == "block")
            assert verdict["data"]["item"]["actions"][0] == {"type": "block", "rule": "threat"}
            log = c.get(f"/v1/webhooks/{hook_id}/deliveries", headers=auth(keys)).json()
            assert len(log) == 14 and all(d["status"] == "delivered" for d in log)
            retried = [d for d in log if d["attempts"] > 1]
            assert retried and any(a["error"] and "timed out" in a["error"] for d in retried for a in d["log"])
            assert any(a["status_code"] == 500 for d in retried for a in d["log"])
    finally:
        eng.close()


def test_sender_killed_mid_delivery_and_restarted_loses_nothing(settings: Settings, receiver: Receiver) -> None:
    s = fast(settings)
    first = build_engine(s)
    try:
        hook = first.webhooks.create(url=receiver.url(), event_types=["item.verdict"])
        receiver.secret = hook["secret"]
        for n in range(8):
            submit(first, f"upload {n}", n)
        assert statuses(first) == ["pending"] * 8
        # a sender that crashes right after claiming: its leases must run out, not its deliveries
        crashed = WebhookSender(first.db, first.webhooks.policy, DeliveryConfig(timeout=0.5))
        assert len(crashed.claim(3)) == 3
        # another sender is stopped while an attempt hangs at the receiver
        receiver.plan = ["hang"]
        first.start_webhook_delivery()
        wait_for(lambda: sum(receiver.arrivals.values()) >= 1)
    finally:
        first.close()
    assert "pending" in statuses_after(s)
    second = build_engine(s)
    try:
        second.start_webhook_delivery()
        wait_for(lambda: set(statuses(second)) == {"delivered"})
        assert set(receiver.processed) == message_ids(second) and len(receiver.processed) == 8
        assert receiver.bad_signatures == 0
    finally:
        second.close()


def statuses_after(s: Settings) -> list[str]:
    from seawall.store.db import Database

    db = Database(s.effective_database_url)
    try:
        with db.session() as ses:
            return list(ses.scalars(select(WebhookDeliveryRow.status)))
    finally:
        db.dispose()


def test_dead_letter_then_manual_redelivery(settings: Settings, receiver: Receiver) -> None:
    eng = build_engine(fast(settings, webhook_max_attempts=3))
    try:
        key = eng.api_keys.create("admin", "a")[0]
        with TestClient(create_app(engine=eng, follow_writes=False)) as c:
            hook = c.post("/v1/webhooks", json={"url": receiver.url(), "event_types": ["item.verdict"]},
                          headers=auth(key)).json()
            receiver.secret = hook["secret"]
            receiver.default = "fail"
            submit(eng, "x", 1)
            wait_for(lambda: statuses(eng) == ["dead"])
            log = c.get(f"/v1/webhooks/{hook['id']}/deliveries?status=dead", headers=auth(key)).json()
            assert len(log) == 1 and log[0]["attempts"] == 3
            assert [a["status_code"] for a in log[0]["log"]] == [500, 500, 500]
            assert receiver.processed == {}
            receiver.default = "ok"
            r = c.post(f"/v1/webhooks/{hook['id']}/deliveries/{log[0]['id']}/redeliver", headers=auth(key))
            assert r.status_code == 202 and r.json()["status"] == "pending"
            wait_for(lambda: statuses(eng) == ["delivered"])
            assert list(receiver.processed) == [log[0]["message_id"]]
            after = c.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=auth(key)).json()
            assert len(after[0]["log"]) == 4 and after[0]["delivered_at"]
            for path in (f"/v1/webhooks/{hook['id']}/deliveries/999999/redeliver",
                         "/v1/webhooks/999999/deliveries/1/redeliver"):
                assert c.post(path, headers=auth(key)).status_code == 404
    finally:
        eng.close()


def test_signature_is_standard_webhooks() -> None:
    from standardwebhooks import Webhook

    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    headers = sign_headers(secret, "msg_1", '{"a":1}')
    assert Webhook(secret).verify('{"a":1}', headers) == {"a": 1}
    with pytest.raises(Exception, match="signature"):
        Webhook(secret).verify('{"a":2}', headers)


# --- SSRF ----------------------------------------------------------------------------------------


def resolver_for(table: dict[str, list[str]]) -> Callable[[str, int], list[str]]:
    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError("name does not resolve")
        return table[host]
    return resolve


DNS = {"public.example": ["93.184.216.34"], "internal.example": ["192.168.1.5"],
       "mixed.example": ["93.184.216.34", "10.0.0.7"], "meta.example": ["169.254.169.254"],
       "hooks.corp": ["10.1.2.3"], "v6.example": ["2606:2800:220:1::1"], "v6local.example": ["fd00::1"]}


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/hook", "http://127.1.2.3:8080/", "http://10.0.0.1/", "http://172.16.5.4/", "http://192.168.0.1/",
    "http://169.254.169.254/latest/meta-data", "http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/",
    "http://224.0.0.1/", "http://100.64.0.1/", "http://240.0.0.1/", "http://[fe80::1]/", "http://[fd00::1]/",
    "http://localhost/", "http://LOCALHOST:9/", "http://api.localhost/", "http://internal.example/",
    "http://mixed.example/", "http://meta.example/", "http://v6local.example/", "http://nowhere.invalid/",
    "ftp://public.example/", "http://user:pw@public.example/", "http:///nohost", "javascript:alert(1)",
])
def test_unsafe_targets_refused(url: str) -> None:
    with pytest.raises(UnsafeTarget) as exc:
        TargetPolicy([], resolver_for(DNS)).check(url)
    assert exc.value.status == 422


@pytest.mark.parametrize("url", ["https://public.example/hooks?x=1", "http://93.184.216.34:8080/",
                                 "https://v6.example/"])
def test_public_targets_accepted(url: str) -> None:
    target, addresses = TargetPolicy([], resolver_for(DNS)).check(url)
    assert addresses and target.host in url


def test_allow_list_by_address_cidr_and_name() -> None:
    policy = TargetPolicy(["127.0.0.1", "10.0.0.0/8", "hooks.corp", "not a host!"], resolver_for(DNS))
    assert policy.check("http://127.0.0.1:9/")[1] == ["127.0.0.1"]
    assert policy.check("http://10.200.0.1/")[1] == ["10.200.0.1"]
    assert policy.check("http://hooks.corp/")[1] == ["10.1.2.3"]
    assert policy.check("http://mixed.example/")[1] == ["93.184.216.34", "10.0.0.7"]
    for url in ("http://127.0.0.2/", "http://192.168.1.1/", "http://internal.example/", "http://localhost/"):
        with pytest.raises(UnsafeTarget):
            policy.check(url)


def test_webhook_api_refuses_private_targets_and_bad_input(client: TestClient, keys: dict[str, str]) -> None:
    admin = auth(keys["admin"])
    for url, code in [("http://127.0.0.1:9/hook", "webhook_url_forbidden"),
                      ("http://10.0.0.1/hook", "webhook_url_forbidden"),
                      ("http://169.254.169.254/", "webhook_url_forbidden"),
                      ("http://localhost:8080/", "webhook_url_forbidden"),
                      ("file:///etc/passwd", "invalid_webhook_url"),
                      ("http://seawall-test-nonexistent.invalid/", "webhook_url_unresolvable")]:
        r = client.post("/v1/webhooks", json={"url": url, "event_types": ["item.verdict"]}, headers=admin)
        assert (r.status_code, r.json()["code"]) == (422, code), (url, r.text)
    engine: Engine = client.app.state.engine  # type: ignore[attr-defined]
    engine.webhooks.policy.resolver = resolver_for(DNS)
    ok = {"url": "https://public.example/hook", "event_types": ["item.verdict"]}
    r = client.post("/v1/webhooks", json=ok, headers=admin)
    assert r.status_code == 201, r.text
    hook_id = r.json()["id"]
    cases = [
        ("post", "/v1/webhooks", {**ok, "event_types": ["item.exploded"]}, 422, "unknown_event_type"),
        ("post", "/v1/webhooks", {**ok, "event_types": []}, 422, "invalid_request"),
        ("post", "/v1/webhooks", {**ok, "secret": "nope"}, 422, "invalid_field"),
        ("patch", f"/v1/webhooks/{hook_id}", {"url": "http://internal.example/"}, 422, "webhook_url_forbidden"),
        ("patch", "/v1/webhooks/424242", {"enabled": False}, 404, "webhook_not_found"),
        ("get", "/v1/webhooks/424242", None, 404, "webhook_not_found"),
        ("delete", "/v1/webhooks/424242", None, 404, "webhook_not_found"),
    ]
    for method, path, body, status, code in cases:
        r = client.request(method, path, json=body, headers=admin)
        assert (r.status_code, r.json()["code"]) == (status, code), (method, path, r.text)
    assert client.post("/v1/webhooks", json=ok, headers=auth(keys["reviewer"])).status_code == 403
    assert client.patch(f"/v1/webhooks/{hook_id}", json={"enabled": False}, headers=admin).json()["enabled"] is False
    assert next(e["type"] for e in client.get("/v1/webhooks/event-types", headers=admin).json()) == "item.verdict"
    assert client.delete(f"/v1/webhooks/{hook_id}", headers=admin).status_code == 204
    assert client.get("/v1/webhooks", headers=admin).json() == []


def test_delivery_rechecks_dns_pins_the_address_and_never_follows_redirects(settings: Settings,
                                                                            receiver: Receiver) -> None:
    trap = Receiver()
    eng = build_engine(fast(settings, webhook_max_attempts=1))
    try:
        dns = {"receiver.test": ["127.0.0.1"], "rebind.test": ["93.184.216.34"]}
        eng.webhooks.policy.resolver = resolver_for(dns)
        pinned = eng.webhooks.create(url=f"http://receiver.test:{receiver.port}/hook", event_types=["item.verdict"])
        rebind = eng.webhooks.create(url=f"http://rebind.test:{trap.port}/hook", event_types=["item.verdict"])
        receiver.secret = trap.secret = pinned["secret"]
        # after the check at creation, the name now points at a private address
        dns["rebind.test"] = ["10.9.9.9"]
        receiver.plan = [f"redirect:{trap.url()}"]
        submit(eng, "a", 1)
        eng.start_webhook_delivery()
        wait_for(lambda: sorted(statuses(eng)) == ["dead", "dead"])
        log = eng.webhooks.deliveries(rebind["id"])[0]["log"]
        assert "refused" in log[0]["error"] and "10.9.9.9" in log[0]["error"]
        log = eng.webhooks.deliveries(pinned["id"])[0]["log"]
        assert log[0]["status_code"] == 302 and "redirects are not followed" in log[0]["error"]
        assert receiver.hosts == [f"receiver.test:{receiver.port}"]  # connected to the checked address
        assert sum(trap.arrivals.values()) == 0 and trap.hosts == []
    finally:
        eng.close()
        trap.stop()


def test_deferred_item_block_becomes_remove_with_item_removed_event(settings: Settings, receiver: Receiver) -> None:
    from typing import ClassVar

    from seawall.builtin import register
    from seawall.plugins import Registry
    from seawall.signals.digest import DigestSignal

    class DeferredDigest(DigestSignal):
        name = "deferred_sha1"
        algorithm = "sha1"
        hex_length = 40
        content_types: ClassVar[tuple[str, ...]] = ("video",)
        deferred = True

    reg = Registry()
    register(reg)
    reg.signal_types.pop("vpdq", None)  # the stand-in bytes are not a real video
    reg.add_signal_type(DeferredDigest())
    eng = build_engine(fast(settings), reg=reg)
    try:
        from seawall.banks.service import EntryInput

        data = b"generated video stand-in " * 100
        eng.banks.create("vids")
        eng.add_entry("vids", EntryInput("deferred_sha1", hashlib.sha1(data).hexdigest(), []), added_by="t")
        hook = eng.webhooks.create(url=receiver.url(), event_types=["item.removed", "item.verdict"])
        receiver.secret = hook["secret"]
        eng.start_workers()
        eng.start_webhook_delivery()
        item = eng.submit(eng.content("video", data=data), content_id="v1", account_id="uploader")
        assert item.status == "pending"
        wait_for(lambda: len(receiver.processed) == 2)
        removed = next(p for p in receiver.processed.values() if p["type"] == "item.removed")
        assert removed["data"]["item_id"] == item.id and removed["data"]["rule"] == "bank-block"
        done = eng.items.get(item.id)
        assert done.verdict.verdict == "block" and [a.type for a in done.verdict.actions] == ["remove"]
        assert any("becomes remove" in r for r in done.verdict.reasons)
    finally:
        eng.close()


def test_concurrent_senders_never_claim_the_same_delivery(settings: Settings) -> None:
    eng = build_engine(fast(settings))
    try:
        eng.webhooks.policy.resolver = resolver_for(DNS)
        eng.webhooks.create(url="https://public.example/hook", event_types=["item.verdict"])
        for n in range(20):
            submit(eng, f"u{n}", n)
        a, b = (WebhookSender(eng.db, eng.webhooks.policy, DeliveryConfig()) for _ in range(2))
        first, second = a.claim(12), b.claim(12)
        ids_a, ids_b = {c.delivery_id for c in first}, {c.delivery_id for c in second}
        assert len(ids_a) == 12 and len(ids_b) == 8 and not ids_a & ids_b
        assert b.claim(5) == []  # everything is leased
    finally:
        eng.close()
