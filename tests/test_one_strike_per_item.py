"""One violation, one strike: an item gives its account at most one strike, however often it is decided.

Twenty copies of a reviewer's ``strike`` sent at once, or a reviewer striking an item the rules already
struck, used to add a strike each, and enough strikes suspend the account: a wrongful suspension for one
post. Now a repeat answers with the strike the item already gave (the decision is recorded, its action
names that strike) and adds, suspends and announces nothing. A strike withdrawn by an upheld appeal stays
on record and no longer stands in the way. Each test runs on SQLite and PostgreSQL against a real server.
"""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy import select

from seawall.review.users import ConsoleUsers
from seawall.store.tables import ActionRow, StrikeRow, SuspensionRow, WebhookEventRow

from .conftest import auth
from .console_support import PASSWORD
from .live_server import all_at_once
from .test_concurrent_duplicates import BANNED, DUPLICATES, Live, no_server_errors
from .test_concurrent_duplicates import live as live  # the fixture, shared

#: The block bank's match blocks the item and strikes its uploader.
STRIKING = """\
rules:
  - id: threat
    when: {match: {bank_kind: block}}
    then: [block, strike]
"""


@pytest.fixture(autouse=True)
def subscribed(live: Live) -> None:
    """A subscription to the account events, so each announcement is stored once per copy that made it."""
    live.eng.webhooks.create(url="http://127.0.0.1:9/accounts", event_types=[
        "account.strike", "account.suspended", "account.strike_withdrawn"])


def _submit(live: Live, content_id: str, account: str, text: str) -> dict[str, object]:
    r = httpx.post(f"{live.base}/v1/items", json={"content_id": content_id, "account_id": account, "text": text},
                   headers=auth(live.submitter), timeout=60)
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


def _strike(live: Live, key: str, item_id: object) -> httpx.Response:
    return httpx.post(f"{live.base}/v1/items/{item_id}/actions", json={"actions": ["strike"]}, headers=auth(key),
                      timeout=60)


def _events(live: Live, event_type: str) -> int:
    return live.count(WebhookEventRow, WebhookEventRow.type == event_type)


def test_concurrent_strikes_for_one_item_are_one_strike(live: Live) -> None:
    reviewer = live.eng.api_keys.create("reviewer", "desk")[0]
    item = _submit(live, "plain-1", "@struck:hs", "a generated ordinary post, number 5")
    assert item["verdict"] == "allow"
    responses = all_at_once(DUPLICATES, lambda c: c.post(f"{live.base}/v1/items/{item['id']}/actions",
                                                         json={"actions": ["strike"]}, headers=auth(reviewer)))
    no_server_errors(responses)
    assert {r.status_code for r in responses} == {201}, [f"{r.status_code} {r.text[:200]}" for r in responses]
    assert live.count(StrikeRow, StrikeRow.account_id == "@struck:hs") == 1
    assert live.count(SuspensionRow, SuspensionRow.account_id == "@struck:hs") == 0
    assert _events(live, "account.strike") == 1 and _events(live, "account.suspended") == 0
    with live.eng.db.session() as s:
        results = [r for r, in s.execute(select(ActionRow.result).where(ActionRow.item_id == item["id"]))]
    assert len(results) == DUPLICATES and len({r["strike_id"] for r in results}) == 1  # each names the one strike
    assert sum(1 for r in results if r.get("already_given")) == DUPLICATES - 1


def test_a_reviewer_strike_after_the_rules_struck_adds_none(live: Live) -> None:
    live.eng.rules.save(STRIKING, created_by="test")
    reviewer = live.eng.api_keys.create("reviewer", "desk")[0]
    item = _submit(live, "banned-2", "@twice:hs", BANNED)
    assert item["verdict"] == "block"
    assert live.count(StrikeRow, StrikeRow.account_id == "@twice:hs") == 1
    r = _strike(live, reviewer, item["id"])
    assert r.status_code == 201, r.text
    assert live.count(StrikeRow, StrikeRow.account_id == "@twice:hs") == 1
    assert _events(live, "account.strike") == 1
    # another item of the account is another violation: its strike counts
    other = _submit(live, "banned-3", "@twice:hs", BANNED + " (again)")
    assert _strike(live, reviewer, other["id"]).status_code == 201
    assert live.count(StrikeRow, StrikeRow.account_id == "@twice:hs") == 2 and _events(live, "account.strike") == 2


def test_a_strike_withdrawn_by_an_appeal_does_not_stand_in_the_way(live: Live) -> None:
    live.eng.rules.save(STRIKING, created_by="test")
    ConsoleUsers(live.eng.db).create("desk-senior", PASSWORD, "senior")
    item = _submit(live, "banned-4", "@appealed:hs", BANNED)
    appeal = httpx.post(f"{live.base}/v1/appeals", json={"item_id": item["id"], "statement": "generated appeal"},
                        headers=auth(live.submitter), timeout=60)
    assert appeal.status_code == 201, appeal.text
    decided = httpx.post(f"{live.base}/v1/cases/{appeal.json()['case_id']}/decide", json={"outcome": "upheld"},
                         headers={**auth(live.admin), "X-Seawall-Reviewer": "desk-senior"}, timeout=60)
    assert decided.status_code == 200, decided.text
    assert _events(live, "account.strike_withdrawn") == 1
    with live.eng.db.session() as s:
        [withdrawn] = s.scalars(select(StrikeRow).where(StrikeRow.account_id == "@appealed:hs")).all()
        assert withdrawn.withdrawn_at is not None and "[withdrawn:" in withdrawn.reason
    # decided again later (say, on new evidence): the withdrawn strike is kept and a new one counts
    assert _strike(live, live.admin, item["id"]).status_code == 201
    assert live.count(StrikeRow, StrikeRow.account_id == "@appealed:hs") == 2
    assert live.count(StrikeRow, StrikeRow.account_id == "@appealed:hs", StrikeRow.withdrawn_at.is_(None)) == 1
    # and the database itself refuses a second standing strike for the item
    with pytest.raises(sa.exc.IntegrityError), live.eng.db.session() as s:
        s.add(StrikeRow(account_id="@appealed:hs", item_id=item["id"], reason="a copy"))
        s.flush()
