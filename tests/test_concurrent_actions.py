"""The same decision or state change sent many times at once acts once, and nobody gets a server error.

A reviewer who double-clicks, a desk tool that retries or a platform that re-sends an acknowledgement
sends one call several times at the same moment. For a case decision, an appeal decision and a removal
order's execution or confirmation exactly one copy may act (one decision row, one strike, one announced
event, one clock entry) and every other copy is answered with a 409 that carries a code and a sentence;
copies of a deletion delete once and answer 204 or 404. None gets a 500. Each test runs on SQLite and on
PostgreSQL against a real server (``tests/live_server.py``), the copies released together by a barrier.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from seawall.banks.service import EntryInput
from seawall.review.users import ConsoleUsers
from seawall.rules.defaults import DEFAULT_RULES
from seawall.store.tables import (
    ActionRow,
    AppealRow,
    AuditRow,
    BankEntryRow,
    BankEntryTombstoneRow,
    BankRow,
    CaseDecisionRow,
    FeedRow,
    PreservedContentRow,
    RemovalOrderEventRow,
    RuleSetRow,
    RuntimeFlagRow,
    SourceRow,
    StrikeRow,
    WebhookEventRow,
    WebhookRow,
    value_digest,
    webhook_key,
)

from .conftest import auth
from .console_support import PASSWORD, held_image
from .legal_support import order_body
from .live_server import all_at_once
from .test_concurrent_duplicates import BANNED, DUPLICATES, Live, no_server_errors
from .test_concurrent_duplicates import live as live  # the fixture, shared

ACTING = "X-Seawall-Reviewer"
MOVED = "another sync of this source moved its checkpoint; stopped"


def one_acted_rest_refused(responses: list[httpx.Response], ok: int, refused: int, code: str) -> httpx.Response:
    """Exactly one copy acted (``ok``); every other copy got ``refused`` with ``code`` and a message."""
    no_server_errors(responses)
    acted = [r for r in responses if r.status_code == ok]
    assert len(acted) == 1, [f"{r.status_code} {r.text[:200]}" for r in responses]
    others = [r for r in responses if r is not acted[0]]
    assert {r.status_code for r in others} <= {refused}, [f"{r.status_code} {r.text[:200]}" for r in others]
    for r in others:
        body = r.json()
        assert body["code"] == code and body["message"].strip(), r.text
    return acted[0]


@pytest.fixture(autouse=True)
def subscribed(live: Live) -> None:
    """A subscription to the events these calls announce, so each announcement is stored once per copy that made it."""
    live.eng.webhooks.create(url="http://127.0.0.1:9/announced", event_types=[
        "case.decided", "appeal.decided", "removal_order.removed"])


@pytest.fixture
def desk(live: Live) -> Iterator[dict[str, str]]:
    """A reviewer key and an admin key acting for console users ``desk-reviewer`` and ``desk-senior``."""
    users = ConsoleUsers(live.eng.db)
    users.create("desk-reviewer", PASSWORD, "reviewer")
    users.create("desk-senior", PASSWORD, "senior")
    reviewer = live.eng.api_keys.create("reviewer", "desk")[0]
    yield {"reviewer": reviewer, "senior": live.admin}


# --- decisions -------------------------------------------------------------------------------------

def test_concurrent_identical_case_decisions_are_one_decision(live: Live, desk: dict[str, str]) -> None:
    live.eng.rules.save(DEFAULT_RULES, created_by="test")  # the bank's own action (review) holds the image
    case_id, _ = held_image(live.eng, 81, account="@held:hs", content_id="held-81")
    body = {"outcome": "violating", "labels": ["behaviour:glorification"], "remove": True, "strike": True}
    headers = {**auth(desk["reviewer"]), ACTING: "desk-reviewer"}
    responses = all_at_once(DUPLICATES, lambda c: c.post(f"{live.base}/v1/cases/{case_id}/decide", json=body,
                                                         headers=headers))
    acted = one_acted_rest_refused(responses, 200, 409, "case_decided")
    assert acted.json()["case"]["status"] == "decided"
    assert live.count(CaseDecisionRow, CaseDecisionRow.case_id == case_id) == 1
    assert live.count(StrikeRow, StrikeRow.account_id == "@held:hs") == 1
    assert live.count(WebhookEventRow, WebhookEventRow.type == "case.decided") == 1
    assert live.count(AuditRow, AuditRow.action == "case.decide", AuditRow.object_id == str(case_id)) == 1


def test_concurrent_identical_appeal_decisions_are_one_decision(live: Live, desk: dict[str, str]) -> None:
    r = httpx.post(f"{live.base}/v1/items", json={"content_id": "banned-1", "account_id": "@appellant:hs",
                                                  "text": BANNED}, headers=auth(live.submitter), timeout=60)
    assert r.status_code == 200 and r.json()["verdict"] == "block", r.text
    item_id = r.json()["id"]
    appeal = httpx.post(f"{live.base}/v1/appeals", json={"item_id": item_id, "statement": "generated appeal"},
                        headers=auth(live.submitter), timeout=60)
    assert appeal.status_code == 201, appeal.text
    case_id = appeal.json()["case_id"]
    headers = {**auth(desk["senior"]), ACTING: "desk-senior"}
    responses = all_at_once(DUPLICATES, lambda c: c.post(f"{live.base}/v1/cases/{case_id}/decide",
                                                         json={"outcome": "upheld"}, headers=headers))
    one_acted_rest_refused(responses, 200, 409, "case_decided")
    assert live.count(CaseDecisionRow, CaseDecisionRow.case_id == case_id) == 1
    assert live.count(AppealRow, AppealRow.item_id == item_id, AppealRow.status == "decided") == 1
    assert live.count(WebhookEventRow, WebhookEventRow.type == "appeal.decided") == 1
    assert live.eng.items.get(item_id).verdict.verdict == "allow"


def test_two_reviewers_taking_one_case_at_once_get_it_for_one(live: Live, desk: dict[str, str]) -> None:
    """Not identical copies, but the race a take exists to settle: one reviewer's copies win, the other's get 409."""
    ConsoleUsers(live.eng.db).create("desk-other", PASSWORD, "reviewer")
    live.eng.rules.save(DEFAULT_RULES, created_by="test")
    case_id, _ = held_image(live.eng, 82, account="@held:hs", content_id="held-82")
    names = ["desk-reviewer", "desk-other"] * (DUPLICATES // 2)
    sent = iter(names)

    def take(c: httpx.Client) -> httpx.Response:
        return c.post(f"{live.base}/v1/cases/{case_id}/take",
                      headers={**auth(desk["reviewer"]), ACTING: next(sent)})

    responses = all_at_once(DUPLICATES, take)
    no_server_errors(responses)
    assert {r.status_code for r in responses} <= {200, 409}, [f"{r.status_code} {r.text[:200]}" for r in responses]
    winners = {r.json()["assignee"] for r in responses if r.status_code == 200}
    assert len(winners) == 1, winners
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"case_assigned"}
    assert [r.status_code for r in responses].count(200) == DUPLICATES // 2
    winner = winners.pop()
    assert live.count(AuditRow, AuditRow.action == "case.take", AuditRow.actor != winner) == 0
    assert live.count(AuditRow, AuditRow.action == "case.take", AuditRow.object_id == str(case_id)) == 1


def test_concurrent_identical_releases_release_once(live: Live, desk: dict[str, str]) -> None:
    live.eng.rules.save(DEFAULT_RULES, created_by="test")
    case_id, _ = held_image(live.eng, 83, account="@held:hs", content_id="held-83")
    headers = {**auth(desk["reviewer"]), ACTING: "desk-reviewer"}
    assert httpx.post(f"{live.base}/v1/cases/{case_id}/take", headers=headers, timeout=60).status_code == 200
    responses = all_at_once(DUPLICATES, lambda c: c.post(f"{live.base}/v1/cases/{case_id}/release", headers=headers))
    acted = one_acted_rest_refused(responses, 200, 409, "case_not_assigned")
    assert acted.json()["status"] == "open"
    assert live.count(AuditRow, AuditRow.action == "case.release", AuditRow.object_id == str(case_id)) == 1


def test_concurrent_identical_reassigns_assign_once(live: Live, desk: dict[str, str]) -> None:
    """Copies of one reassignment give the case once: every copy answers with it, one audit entry is written."""
    live.eng.rules.save(DEFAULT_RULES, created_by="test")
    case_id, _ = held_image(live.eng, 84, account="@held:hs", content_id="held-84")
    headers = {**auth(desk["senior"]), ACTING: "desk-senior"}
    responses = all_at_once(DUPLICATES, lambda c: c.post(f"{live.base}/v1/cases/{case_id}/reassign",
                                                         json={"assignee": "desk-reviewer"}, headers=headers))
    no_server_errors(responses)
    assert [r.status_code for r in responses] == [200] * DUPLICATES, [r.text[:200] for r in responses]
    assert {(r.json()["assignee"], r.json()["status"]) for r in responses} == {("desk-reviewer", "assigned")}
    assert live.count(AuditRow, AuditRow.action == "case.reassign", AuditRow.object_id == str(case_id)) == 1
    again = httpx.post(f"{live.base}/v1/cases/{case_id}/reassign", json={"assignee": "desk-senior"},
                       headers=headers, timeout=60)
    assert again.status_code == 200 and again.json()["assignee"] == "desk-senior", again.text
    assert live.count(AuditRow, AuditRow.action == "case.reassign", AuditRow.object_id == str(case_id)) == 2


def test_concurrent_identical_crisis_switches_store_one_flag(live: Live) -> None:
    """The first switch of a store writes its flag row: every copy must find the row one of them wrote."""
    responses = all_at_once(DUPLICATES, lambda c: c.put(f"{live.base}/v1/rules/crisis-mode", json={"enabled": True},
                                                         headers=auth(live.admin)))
    no_server_errors(responses)
    assert [r.status_code for r in responses] == [200] * DUPLICATES, [r.text[:200] for r in responses]
    assert {r.json()["enabled"] for r in responses} == {True}
    assert live.count(RuntimeFlagRow, RuntimeFlagRow.name == "crisis_mode") == 1
    assert httpx.get(f"{live.base}/v1/rules/crisis-mode", headers=auth(live.admin), timeout=60).json()["enabled"]


def test_concurrent_identical_rule_saves_store_one_version(live: Live) -> None:
    """A retried PUT of the rules sent many times at once: one new version, and every copy answers it."""
    before = live.count(RuleSetRow)
    source = DEFAULT_RULES + "\n# reviewed by the policy team\n"
    responses = all_at_once(DUPLICATES, lambda c: c.put(f"{live.base}/v1/rules", json={"source": source},
                                                         headers=auth(live.admin)))
    no_server_errors(responses)
    assert [r.status_code for r in responses] == [200] * DUPLICATES, [r.text[:200] for r in responses]
    assert len({r.json()["version"] for r in responses}) == 1
    assert live.count(RuleSetRow) == before + 1


# --- removal orders --------------------------------------------------------------------------------

def _order(live: Live, **over: Any) -> int:
    r = httpx.post(f"{live.base}/v1/removal-orders", json=order_body(**over), headers=auth(live.submitter),
                   timeout=60)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_concurrent_confirmations_of_one_removal_are_one_removal(live: Live) -> None:
    order_id = _order(live, url="https://social.example/posts/not-held-here", reference="CONF-1")
    responses = all_at_once(DUPLICATES, lambda c: c.post(f"{live.base}/v1/removal-orders/{order_id}/removed",
                                                         headers=auth(live.submitter)))
    acted = one_acted_rest_refused(responses, 200, 409, "order_removed")
    assert acted.json()["status"] == "removed"
    assert live.count(RemovalOrderEventRow, RemovalOrderEventRow.order_id == order_id,
                      RemovalOrderEventRow.kind == "removed") == 1
    assert live.count(AuditRow, AuditRow.action == "removal_order.confirm") == 1
    assert live.count(WebhookEventRow, WebhookEventRow.type == "removal_order.removed") == 1


def test_concurrent_executions_of_one_order_remove_once(live: Live) -> None:
    order_id = _order(live, url="https://social.example/posts/later-1", reference="EXEC-1")
    r = httpx.post(f"{live.base}/v1/items", json={"content_id": "later-1", "account_id": "@later:hs", "keep": True,
                                                  "text": "a generated post the order names by id"},
                   headers=auth(live.submitter), timeout=60)
    assert r.status_code == 200, r.text
    body = {"locators": [{"content_id": "later-1"}]}
    responses = all_at_once(DUPLICATES, lambda c: c.post(f"{live.base}/v1/removal-orders/{order_id}/execute",
                                                         json=body, headers=auth(live.submitter)))
    acted = one_acted_rest_refused(responses, 200, 409, "order_removed")
    assert [i["item_id"] for i in acted.json()["items"]] == [r.json()["id"]]
    assert live.count(RemovalOrderEventRow, RemovalOrderEventRow.order_id == order_id,
                      RemovalOrderEventRow.kind == "removed") == 1
    assert live.count(AuditRow, AuditRow.action == "removal_order.execute") == 1
    assert live.count(WebhookEventRow, WebhookEventRow.type == "removal_order.removed") == 1
    assert live.count(ActionRow, ActionRow.type == "remove") == 1


def test_concurrent_pauses_resumptions_and_reversals_of_one_order_act_once(live: Live) -> None:
    """Annex III, its resumption and a reversal on scrutiny: each sent many times at once is one event, one
    audit entry and one announcement; every other copy is told the order's state with a code."""
    order_id = _order(live, url="https://social.example/posts/paused-1", reference="PAUSE-1")
    live.eng.webhooks.create(url="http://127.0.0.1:9/order-states", event_types=[
        "removal_order.paused", "removal_order.resumed", "removal_order.reversed"])
    base = f"{live.base}/v1/removal-orders/{order_id}"
    steps = [("impossible", {"reason": "force_majeure", "explanation": "a generated outage"}, live.submitter,
              "order_not_running", "paused", "removal_order.impossible"),
             ("resume", {}, live.submitter, "order_not_paused", "resumed", "removal_order.resume"),
             ("reverse", {"decided_by": "a generated court"}, live.admin, "order_reversed", "reversed",
              "removal_order.reverse")]
    for step, body, key, code, kind, action in steps:
        responses = all_at_once(DUPLICATES, lambda c, step=step, body=body, key=key: c.post(
            f"{base}/{step}", json=body, headers=auth(key)))
        one_acted_rest_refused(responses, 200, 409, code)
        assert live.count(RemovalOrderEventRow, RemovalOrderEventRow.order_id == order_id,
                          RemovalOrderEventRow.kind == kind) == 1, step
        assert live.count(AuditRow, AuditRow.action == action, AuditRow.object_id == str(order_id)) == 1, step
        assert live.count(WebhookEventRow, WebhookEventRow.type == f"removal_order.{kind}") == 1, step


def test_concurrent_identical_preservation_extensions_extend_once(live: Live) -> None:
    """Copies of one extension asked by a court extend the stay once: one record, one audit entry; every copy is
    answered 200 with the vault as it stands, the one that extended it with ``extended: true``."""
    r = httpx.post(f"{live.base}/v1/items", json={"content_id": "kept-1", "account_id": "@kept:hs", "keep": True,
                                                  "text": "a generated post an order removes"},
                   headers=auth(live.submitter), timeout=60)
    assert r.status_code == 200, r.text
    item_id = r.json()["id"]
    _order(live, url="https://social.example/posts/kept-1", reference="KEEP-1")
    assert live.count(PreservedContentRow, PreservedContentRow.item_id == item_id) == 1
    until = (datetime.now(UTC) + timedelta(days=400)).isoformat()
    responses = all_at_once(DUPLICATES, lambda c: c.post(f"{live.base}/v1/preservation/{item_id}/extend",
                                                         json={"until": until, "requested_by": "a generated court"},
                                                         headers=auth(live.admin)))
    no_server_errors(responses)
    assert {r.status_code for r in responses} == {200}, [f"{r.status_code} {r.text[:200]}" for r in responses]
    assert [r.json()["extended"] for r in responses].count(True) == 1
    assert len({json.dumps(r.json()["extensions"], sort_keys=True) for r in responses}) == 1
    assert len(responses[0].json()["extensions"]) == 1 and responses[0].json()["preserve_until"] == until
    assert live.count(AuditRow, AuditRow.action == "preservation.extend", AuditRow.object_id == item_id) == 1
    with live.eng.db.session() as s:
        row = s.scalar(select(PreservedContentRow).where(PreservedContentRow.item_id == item_id))
        assert row is not None and len(row.extensions) == 1


def test_concurrent_changes_to_one_webhook_keep_its_key_true(live: Live) -> None:
    """One change moves a subscription to another URL while another changes its events: both stay, and the key
    that keeps subscriptions unique is that of the URL and events stored, not of a row read before the other
    change (else an identical subscription would no longer be refused). Many rounds of changes at once,
    through the service so that they overlap closely."""
    copies, rounds = 8, 30
    stale = []
    for n in range(rounds):
        hook = live.eng.webhooks.create(url=f"http://127.0.0.1:9/before-{n}", event_types=["item.verdict"])
        after: dict[str, Any] = {"url": f"http://127.0.0.1:9/after-{n}", "event_types": ["case.decided"]}
        barrier = threading.Barrier(copies)

        def change(i: int, hook_id: int = hook["id"], after: dict[str, Any] = after,
                   barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            live.eng.webhooks.update(hook_id, {"url": after["url"]} if i % 2 else {"event_types": after["event_types"]})

        with ThreadPoolExecutor(copies) as pool:
            list(pool.map(change, range(copies)))
        with live.eng.db.session() as s:
            row = s.get(WebhookRow, hook["id"])
            assert row is not None and (row.url, row.event_types) == (after["url"], after["event_types"])
            if row.dedupe_key != webhook_key(row.url, row.event_types):
                stale.append(n)
    assert stale == []
    again = httpx.post(f"{live.base}/v1/webhooks", json={"url": "http://127.0.0.1:9/after-0",
                                                         "event_types": ["case.decided"]},
                       headers=auth(live.admin), timeout=60)
    assert again.status_code == 409 and again.json()["code"] == "webhook_exists", again.text


# --- deletions -------------------------------------------------------------------------------------

def _deleted_once(responses: list[httpx.Response], code: str) -> None:
    """Copies of a deletion answer 204 (deleted, or gone by the time they looked: DELETE is idempotent) or 404
    with ``code`` once it is gone; none fails."""
    no_server_errors(responses)
    assert {r.status_code for r in responses} <= {204, 404}, [f"{r.status_code} {r.text[:200]}" for r in responses]
    assert any(r.status_code == 204 for r in responses)
    assert {r.json()["code"] for r in responses if r.status_code == 404} <= {code}


def test_concurrent_deletions_of_one_bank_entry_delete_it_once(live: Live) -> None:
    value = hashlib.sha256(b"generated entry to delete").hexdigest()
    entry = live.eng.add_entry("tvec", EntryInput("sha256", value, []), added_by="t")
    entry_id = entry.id if hasattr(entry, "id") else entry[0].id
    responses = all_at_once(DUPLICATES, lambda c: c.delete(f"{live.base}/v1/banks/tvec/entries/{entry_id}",
                                                           headers=auth(live.admin)))
    _deleted_once(responses, "entry_not_found")
    assert live.count(BankEntryRow, BankEntryRow.id == entry_id) == 0
    assert live.count(BankEntryTombstoneRow, BankEntryTombstoneRow.entry_id == entry_id) <= 1


def test_concurrent_deletions_of_one_webhook_delete_it_once(live: Live) -> None:
    hook = live.eng.webhooks.create(url="http://127.0.0.1:9/delete-me", event_types=["item.verdict"])
    responses = all_at_once(DUPLICATES, lambda c: c.delete(f"{live.base}/v1/webhooks/{hook['id']}",
                                                           headers=auth(live.admin)))
    _deleted_once(responses, "webhook_not_found")
    assert live.count(WebhookRow, WebhookRow.id == hook["id"]) == 0


def test_concurrent_deletions_of_one_source_and_one_feed_delete_each_once(live: Live) -> None:
    listed = live.tmp / "list.txt"
    listed.write_text("", encoding="utf-8")
    live.eng.sources.create({"name": "gone", "kind": "file", "path": str(listed), "bank": "gone"}, created_by="t")
    responses = all_at_once(DUPLICATES, lambda c: c.delete(f"{live.base}/v1/sources/gone", headers=auth(live.admin)))
    _deleted_once(responses, "source_not_found")
    assert live.count(SourceRow, SourceRow.name == "gone") == 0
    live.eng.feeds.create("leaving", banks=["tvec"], partners=[], created_by="t")
    responses = all_at_once(DUPLICATES, lambda c: c.delete(f"{live.base}/v1/feeds/leaving", headers=auth(live.admin)))
    _deleted_once(responses, "feed_not_found")
    assert live.count(FeedRow, FeedRow.name == "leaving") == 0


def test_concurrent_deletions_of_one_bank_delete_it_once(live: Live) -> None:
    live.eng.banks.create("short-lived")
    responses = all_at_once(DUPLICATES, lambda c: c.delete(f"{live.base}/v1/banks/short-lived",
                                                           headers=auth(live.admin)))
    _deleted_once(responses, "bank_not_found")
    assert live.count(BankRow, BankRow.name == "short-lived") == 0


# --- sharing ---------------------------------------------------------------------------------------

def test_concurrent_changes_to_one_sources_settings_are_all_kept(live: Live) -> None:
    """A change to a source's settings is merged into them: two changes at once (one moves the list, one
    changes its format) must both stay, neither merged into settings read before the other was stored."""
    first, moved = live.tmp / "first.txt", live.tmp / "moved.csv"
    for path in (first, moved):
        path.write_text("", encoding="utf-8")
    live.eng.sources.create({"name": "merged", "kind": "file", "path": str(first), "bank": "merged"}, created_by="t")
    bodies = iter([{"config": {"path": str(moved)}}, {"config": {"format": "tcap-csv"}}] * (DUPLICATES // 2))
    responses = all_at_once(DUPLICATES, lambda c: c.patch(f"{live.base}/v1/sources/merged", json=next(bodies),
                                                          headers=auth(live.admin)))
    no_server_errors(responses)
    assert [r.status_code for r in responses] == [200] * DUPLICATES, [r.text[:200] for r in responses]
    with live.eng.db.session() as s:
        row = s.scalar(select(SourceRow).where(SourceRow.name == "merged"))
        assert row is not None and row.config == {"path": str(moved), "format": "tcap-csv"}


def test_concurrent_syncs_of_one_source_add_each_entry_once(live: Live) -> None:
    values = [hashlib.sha256(f"listed {i}".encode()).hexdigest() for i in range(50)]
    listed = live.tmp / "list.txt"
    listed.write_text("".join(f"sha256 {v}\n" for v in values), encoding="utf-8")
    live.eng.sources.create({"name": "listed", "kind": "file", "path": str(listed), "bank": "listed"},
                            created_by="t")
    responses = all_at_once(DUPLICATES, lambda c: c.post(f"{live.base}/v1/sources/listed/sync",
                                                         headers=auth(live.admin)))
    no_server_errors(responses)
    assert {r.status_code for r in responses} <= {200, 409}, [f"{r.status_code} {r.text[:200]}" for r in responses]
    assert any(r.status_code == 200 for r in responses)
    assert all(r.json()["code"] and r.json()["message"] for r in responses if r.status_code == 409)
    # a copy that found another sync had moved the checkpoint says so and stops; none adds twice
    assert all(r.json()["error"] in (None, MOVED) for r in responses if r.status_code == 200)
    assert live.count(BankEntryRow, BankEntryRow.value_digest.in_([value_digest(v) for v in values])) == len(values)
    with live.eng.db.session() as s:
        row = s.scalar(select(SourceRow).where(SourceRow.name == "listed"))
        assert row is not None and row.entries_added == len(values)
