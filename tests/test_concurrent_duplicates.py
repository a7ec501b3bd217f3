"""The same create request sent many times at once makes one row, and nobody gets a server error.

A platform that retries, a partner that re-delivers or an operator who double-clicks sends one request
several times at the same moment. For every call that creates something with a natural identity (a
bank, a bank entry, a source, a feed, a partner, a removal order, a user report, an appeal, a partner's
opinion, a console user, a webhook subscription) the store must hold exactly one row afterwards, and
every copy of the request must be answered either with that row (200/201, same id; the console's
redirect) or with a 409 that carries a code, never a 500. Uniqueness lives in database constraints, so
these hold on SQLite and on PostgreSQL alike.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select

from seawall.api.app import create_app
from seawall.banks.service import EntryInput
from seawall.composition import build_engine
from seawall.config import Settings
from seawall.engine import Engine
from seawall.review.users import ConsoleUsers
from seawall.sharing.feedback_signing import signed_feedback
from seawall.sharing.signing import public_text
from seawall.store.db import upgrade
from seawall.store.tables import (
    AppealRow,
    BankEntryRow,
    BankRow,
    CaseRow,
    ConsoleUserRow,
    FeedFeedbackRow,
    FeedPartnerRow,
    FeedRow,
    ItemContentRow,
    RemovalOrderRow,
    ReportRow,
    SourceRow,
    WebhookRow,
    value_digest,
)

from .conftest import auth, encode, textured_image
from .console_support import PASSWORD, csrf_of
from .legal_support import order_body
from .live_server import all_at_once, serving

DUPLICATES = 20
BANNED = "generated stand-in for a banned slogan, number 71"
RULES = """\
rules:
  - id: threat
    when: {match: {bank_kind: block}}
    then: [block]
"""


@dataclass
class Live:
    eng: Engine
    base: str
    admin: str
    submitter: str
    tmp: Path

    def count(self, table: Any, *where: Any) -> int:
        with self.eng.db.session() as s:
            return int(s.scalar(select(func.count()).select_from(table).where(*where)) or 0)


@pytest.fixture
def live(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Live]:
    monkeypatch.setenv("SEAWALL_LEGAL_TICK_SECONDS", "3600")
    eng = build_engine(settings.model_copy(update={"webhook_allow_hosts": "127.0.0.1"}))
    try:
        eng.banks.create("tvec")
        eng.add_entry("tvec", EntryInput("sha256", hashlib.sha256(BANNED.encode()).hexdigest(), []), added_by="t")
        eng.rules.save(RULES, created_by="test")
        admin = eng.api_keys.create("admin", "ops")[0]
        submitter = eng.api_keys.create("submitter", "platform")[0]
        with serving(create_app(engine=eng, follow_writes=False)) as base:
            yield Live(eng, base, admin, submitter, tmp_path)
    finally:
        eng.close()


def no_server_errors(responses: list[httpx.Response]) -> None:
    errors = [f"{r.status_code} {r.text[:300]}" for r in responses if r.status_code >= 500]
    assert not errors, errors


def same_row(responses: list[httpx.Response], ident: Callable[[dict[str, Any]], Any]) -> Any:
    """Every copy answered 200/201 with the same row; exactly one of them created it."""
    no_server_errors(responses)
    assert {r.status_code for r in responses} <= {200, 201}, [r.text for r in responses]
    assert [r.status_code for r in responses].count(201) == 1, [r.status_code for r in responses]
    ids = {json.dumps(ident(r.json()), sort_keys=True) for r in responses}
    assert len(ids) == 1, ids
    return ident(responses[0].json())


def same_entries(responses: list[httpx.Response]) -> list[int]:
    """Banked content: every copy lists the same entries, and each entry was created by exactly one copy
    (copies may split the work: one creates the PDQ entry while another creates the MD5 one)."""
    no_server_errors(responses)
    assert {r.status_code for r in responses} <= {200, 201}, [r.text for r in responses]
    ids = {json.dumps(sorted(e["id"] for e in r.json()["entries"])) for r in responses}
    assert len(ids) == 1, ids
    created: dict[int, int] = {}
    for r in responses:
        for e in r.json()["entries"]:
            created[e["id"]] = created.get(e["id"], 0) + int(e["created"])
    assert set(created.values()) == {1}, created
    return sorted(created)


def one_created_rest_conflict(responses: list[httpx.Response], code: str) -> dict[str, Any]:
    """One copy created the row (201); every other copy got a 409 with ``code`` that names it."""
    no_server_errors(responses)
    created = [r for r in responses if r.status_code == 201]
    assert len(created) == 1, [f"{r.status_code} {r.text[:200]}" for r in responses]
    others = [r for r in responses if r.status_code != 201]
    assert {r.status_code for r in others} <= {409}, [r.text for r in others]
    assert {r.json()["code"] for r in others} <= {code}, [r.text for r in others]
    body: dict[str, Any] = created[0].json()
    return body


# --- banks and bank entries ----------------------------------------------------------------------

def test_concurrent_identical_hash_entries_are_one_entry(live: Live) -> None:
    value = hashlib.sha256(b"generated entry 1").hexdigest()
    body = {"signal_type": "sha256", "value": value, "labels": []}
    responses = all_at_once(DUPLICATES, lambda c: c.post(f"{live.base}/v1/banks/tvec/entries", json=body,
                                             headers=auth(live.admin)))
    entry_id = same_row(responses, lambda b: b["id"])
    assert all(r.json()["created"] is (r.status_code == 201) for r in responses)
    assert live.count(BankEntryRow, BankEntryRow.value_digest == value_digest(value)) == 1
    assert live.eng.banks.get_entry("tvec", entry_id).value == value


def test_concurrent_identical_text_entries_are_one_set_of_entries(live: Live) -> None:
    body = {"text": "generated text to bank, number 2", "labels": []}
    before = live.count(BankEntryRow)
    responses = all_at_once(DUPLICATES, lambda c: c.post(f"{live.base}/v1/banks/tvec/entries", json=body,
                                             headers=auth(live.admin)))
    ids = same_entries(responses)
    assert ids and live.count(BankEntryRow) == before + len(ids)


def test_concurrent_identical_file_entries_are_one_set_of_entries(live: Live) -> None:
    image = encode(textured_image(71))
    before = live.count(BankEntryRow)
    responses = all_at_once(DUPLICATES, lambda c: c.post(f"{live.base}/v1/banks/tvec/entries", headers=auth(live.admin),
                                             files={"file": ("a.jpg", image, "image/jpeg")}))
    ids = same_entries(responses)
    assert len(ids) >= 2 and live.count(BankEntryRow) == before + len(ids)


def test_concurrent_identical_bank_creations_make_one_bank(live: Live) -> None:
    responses = all_at_once(DUPLICATES, lambda c: c.post(f"{live.base}/v1/banks", json={"name": "twice"},
                                             headers=auth(live.admin)))
    created = one_created_rest_conflict(responses, "bank_exists")
    assert created["name"] == "twice" and live.count(BankRow, BankRow.name == "twice") == 1


# --- sharing ------------------------------------------------------------------------------------

def test_concurrent_identical_sources_make_one_source(live: Live) -> None:
    path = live.tmp / "list.txt"
    path.write_text(hashlib.sha256(b"listed").hexdigest() + "\n", encoding="utf-8")
    body = {"name": "local", "kind": "file", "path": str(path), "bank": "local"}
    responses = all_at_once(DUPLICATES, lambda c:
                            c.post(f"{live.base}/v1/sources", json=body, headers=auth(live.admin)))
    one_created_rest_conflict(responses, "source_exists")
    assert live.count(SourceRow, SourceRow.name == "local") == 1
    assert live.count(BankRow, BankRow.name == "local") == 1


def test_concurrent_identical_feeds_and_partners_are_one_each(live: Live) -> None:
    body = {"name": "outbound", "banks": ["tvec"], "partners": ["platform-b"]}
    responses = all_at_once(DUPLICATES, lambda c: c.post(f"{live.base}/v1/feeds", json=body, headers=auth(live.admin)))
    one_created_rest_conflict(responses, "feed_exists")
    assert live.count(FeedRow, FeedRow.name == "outbound") == 1
    assert live.count(FeedPartnerRow) == 1
    responses = all_at_once(DUPLICATES, lambda c:
                            c.post(f"{live.base}/v1/feeds/outbound/partners", json={"name": "platform-c"},
                                   headers=auth(live.admin)))
    one_created_rest_conflict(responses, "partner_exists")
    assert live.count(FeedPartnerRow, FeedPartnerRow.name == "platform-c") == 1


def test_concurrent_copies_of_one_signed_feedback_are_one_call(live: Live) -> None:
    made = httpx.post(f"{live.base}/v1/feeds", json={"name": "outbound", "banks": ["tvec"],
                                                      "partners": ["platform-b"]}, headers=auth(live.admin), timeout=60)
    token = made.json()["partners"][0]["token"]
    key = Ed25519PrivateKey.generate()
    registered = httpx.patch(f"{live.base}/v1/feeds/outbound/partners/platform-b",
                             json={"public_key": public_text(key.public_key())}, headers=auth(live.admin), timeout=60)
    assert registered.status_code == 200, registered.text
    entry_id = live.eng.banks.list_entries("tvec")[0].id
    raw = signed_feedback(key, "outbound", [{"entry_id": entry_id, "opinion": "true_positive"}])
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    responses = all_at_once(DUPLICATES, lambda c: c.post(f"{live.base}/v1/feeds/outbound/feedback", content=raw,
                                             headers=headers))
    no_server_errors(responses)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [409] * (len(responses) - 1), [r.text for r in responses]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"replayed_feedback"}
    assert live.count(FeedFeedbackRow, FeedFeedbackRow.entry_id == entry_id) == 1


# --- legal --------------------------------------------------------------------------------------

def test_concurrent_identical_removal_orders_are_one_order(live: Live) -> None:
    body = order_body()
    responses = all_at_once(DUPLICATES, lambda c: c.post(f"{live.base}/v1/removal-orders", json=body,
                                             headers=auth(live.submitter)))
    one_created_rest_conflict(responses, "order_exists")
    assert live.count(RemovalOrderRow, RemovalOrderRow.reference == body["reference"]) == 1


# --- reports and appeals ------------------------------------------------------------------------

def _item(live: Live, text: str, account: str = "@poster:hs") -> str:
    r = httpx.post(f"{live.base}/v1/items", json={"content_id": f"$ev-{account}-{len(text)}", "account_id": account,
                                                  "text": text}, headers=auth(live.submitter), timeout=60)
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def test_concurrent_identical_reports_are_one_report_in_one_case(live: Live) -> None:
    item_id = _item(live, "an ordinary generated post")
    body = {"item_id": item_id, "category": "other", "reporter_account": "@reporter:hs", "text": "looks bad"}
    responses = all_at_once(DUPLICATES, lambda c:
                            c.post(f"{live.base}/v1/reports", json=body, headers=auth(live.submitter)))
    same_row(responses, lambda b: [b["id"], b["case_id"]])
    assert {r.json()["report_count"] for r in responses} == {1}
    assert live.count(ReportRow, ReportRow.item_id == item_id) == 1
    assert live.count(CaseRow, CaseRow.item_id == item_id) == 1
    other = httpx.post(f"{live.base}/v1/reports", json={**body, "reporter_account": "@another:hs"},
                       headers=auth(live.submitter), timeout=60)
    assert other.status_code == 201 and other.json()["report_count"] == 2, "another reporter still counts"


def test_concurrent_reports_bringing_the_content_keep_it_once(live: Live) -> None:
    text = "an ordinary generated post, reported by many at once"
    item_id = _item(live, text)
    body = {"item_id": item_id, "category": "other", "content_text": text}  # anonymous: each one counts
    responses = all_at_once(DUPLICATES, lambda c:
                            c.post(f"{live.base}/v1/reports", json=body, headers=auth(live.submitter)))
    no_server_errors(responses)
    assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
    assert sorted(r.json()["report_count"] for r in responses) == list(range(1, DUPLICATES + 1))
    assert live.count(ReportRow, ReportRow.item_id == item_id) == DUPLICATES
    assert live.count(CaseRow, CaseRow.item_id == item_id) == 1
    assert live.count(ItemContentRow, ItemContentRow.item_id == item_id) == 1


def test_concurrent_identical_appeals_are_one_appeal(live: Live) -> None:
    item_id = _item(live, BANNED)
    body = {"item_id": item_id, "statement": "this was satire, generated for the test"}
    responses = all_at_once(DUPLICATES, lambda c:
                            c.post(f"{live.base}/v1/appeals", json=body, headers=auth(live.submitter)))
    created = one_created_rest_conflict(responses, "appeal_exists")
    assert {r.json()["detail"]["appeal_id"] for r in responses if r.status_code == 409} <= {created["id"]}
    assert live.count(AppealRow, AppealRow.item_id == item_id) == 1
    assert live.count(CaseRow, CaseRow.item_id == item_id, CaseRow.kind == "appeal") == 1


def test_concurrent_identical_account_appeals_are_one_appeal(live: Live) -> None:
    item_id = _item(live, BANNED, account="@other:hs")
    with_item = {"text": "generated appeal against one decision", "item_id": item_id}
    responses = all_at_once(DUPLICATES, lambda c: c.post(f"{live.base}/v1/accounts/@other:hs/appeal", json=with_item,
                                             headers=auth(live.submitter)))
    one_created_rest_conflict(responses, "appeal_exists")
    assert live.count(AppealRow, AppealRow.item_id == item_id) == 1
    plain = {"text": "generated appeal against the suspension as such"}
    responses = all_at_once(DUPLICATES, lambda c: c.post(f"{live.base}/v1/accounts/@other:hs/appeal", json=plain,
                                             headers=auth(live.submitter)))
    one_created_rest_conflict(responses, "appeal_exists")
    assert live.count(AppealRow, AppealRow.account_id == "@other:hs", AppealRow.item_id.is_(None)) == 1


# --- console users and webhook subscriptions ----------------------------------------------------

def test_concurrent_identical_console_user_creations_make_one_user(live: Live) -> None:
    ConsoleUsers(live.eng.db).create("lead", PASSWORD, "admin")
    with httpx.Client(base_url=live.base, timeout=60) as browser:
        page = browser.get("/console/login")
        signed_in = browser.post("/console/login", data={"username": "lead", "password": PASSWORD,
                                                         "csrf_token": csrf_of(page.text)})
        assert signed_in.status_code == 303, signed_in.text
        csrf = csrf_of(browser.get("/console/queue").text)
        cookies = dict(browser.cookies.items())
    form = {"username": "newcomer", "password": PASSWORD, "role": "reviewer", "csrf_token": csrf}

    def create(c: httpx.Client) -> httpx.Response:
        c.cookies.update(cookies)
        return c.post(f"{live.base}/console/admin/users", data=form)

    responses = all_at_once(DUPLICATES, create)
    no_server_errors(responses)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [303] + [409] * (DUPLICATES - 1), statuses  # the console answers a creation with a redirect
    assert all('data-code="user_exists"' in r.text for r in responses if r.status_code == 409)
    assert live.count(ConsoleUserRow, ConsoleUserRow.username == "newcomer") == 1


def test_concurrent_identical_webhook_creations_make_one_subscription(live: Live) -> None:
    url = "http://127.0.0.1:9/concurrent"
    body = {"url": url, "event_types": ["item.verdict", "case.decided"]}
    responses = all_at_once(DUPLICATES, lambda c: c.post(f"{live.base}/v1/webhooks", json=body,
                                                         headers=auth(live.admin)))
    created = one_created_rest_conflict(responses, "webhook_exists")
    assert {r.json()["detail"]["webhook_id"] for r in responses if r.status_code == 409} == {created["id"]}
    assert live.count(WebhookRow, WebhookRow.url == url) == 1
    again = httpx.post(f"{live.base}/v1/webhooks", headers=auth(live.admin), timeout=60,
                       json={"url": url, "event_types": ["case.decided", "item.verdict", "case.decided"]})
    assert again.status_code == 409 and again.json()["code"] == "webhook_exists", "the same set in another order"
    other = httpx.post(f"{live.base}/v1/webhooks", headers=auth(live.admin), timeout=60,
                       json={"url": url, "event_types": ["item.verdict"]})
    assert other.status_code == 201, other.text
    clash = httpx.patch(f"{live.base}/v1/webhooks/{other.json()['id']}", headers=auth(live.admin), timeout=60,
                        json={"event_types": ["item.verdict", "case.decided"]})
    assert clash.status_code == 409 and clash.json()["detail"]["webhook_id"] == created["id"], clash.text
    assert live.count(WebhookRow, WebhookRow.url == url) == 2


def test_upgrade_stops_on_duplicate_webhooks_and_deletes_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0018")
    engine = sa.create_engine(url)
    insert = sa.text("INSERT INTO webhooks (url, event_types, secret, description, enabled, created_by, created_at, "
                     "updated_at) VALUES (:u, :e, 'whsec_x', '', 1, 't', '2026-01-01', '2026-01-01')")
    with engine.begin() as conn:
        for events in ('["item.verdict", "case.decided"]', '["case.decided", "item.verdict"]', '["item.verdict"]'):
            conn.execute(insert, {"u": "https://hooks.example/a", "e": events})
    with pytest.raises(RuntimeError, match=r"ids 1, 2\b"):
        upgrade(url)
    with engine.begin() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM webhooks")).scalar() == 3
        conn.execute(sa.text("DELETE FROM webhooks WHERE id = 2"))
    upgrade(url)
    with engine.begin() as conn:
        keys = conn.execute(sa.text("SELECT dedupe_key FROM webhooks ORDER BY id")).scalars().all()
    engine.dispose()
    assert len(keys) == 2 and all(k and len(k) == 64 for k in keys) and keys[0] != keys[1]
