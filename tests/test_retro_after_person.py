"""Retro-matching does not overrule a person: an item a reviewer judged goes back to review, it is not acted on.

A reviewer who looked at an upload and found it not violating (news, research, counter-speech) judged it with
context a hash list lacks. When a bank entry added later matches that item, Seawall records the match, keeps
the reviewer's verdict, carries out nothing (no removal, no strike) and opens a high-priority review case
with the new match in its reason and the media the reviewer saw, so a person decides again. An item a
person already took down gets no new case and no strike the person did not give. Images are generated.
Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from seawall.api.app import create_app
from seawall.composition import report_service, review_service
from seawall.config import Settings
from seawall.engine import Engine
from seawall.models.records import Action
from seawall.rules.defaults import DEFAULT_RULES
from seawall.store.tables import ActionRow, CaseRow, WebhookEventRow
from tests.conftest import encode, textured_image

from .console_support import engine_for, held_image, make_users, sign_in, strikes
from .held_decision import HeldDecision

RULES = """\
rules:
  - id: known-material
    when: {match: {bank_kind: block}}
    then: [block, strike]
"""


@pytest.fixture
def eng(settings: Settings) -> Iterator[Engine]:
    yield from engine_for(settings)


def _reported(engine: Engine, seed: int, account: str) -> tuple[str, bytes, int]:
    """An upload allowed at upload time, reported by a user with its bytes: (item id, bytes, case id)."""
    engine.rules.save(RULES, created_by="test")
    data = encode(textured_image(seed, (320, 240)))
    item = engine.submit(engine.content("image", data=data), content_id=f"post-{seed}", account_id=account)
    assert item.verdict.verdict == "allow"
    out = report_service(engine).report(item_id=item.id, category="glorification", text="looks like propaganda",
                                        content=data)
    return item.id, data, int(out["case_id"])


def _bank_later(engine: Engine, data: bytes) -> None:
    if "late-list" not in {b.name for b in engine.banks.list_banks()}:
        engine.banks.create("late-list")
    engine.add_entries_from_content("late-list", engine.content("image", data=data), labels=[], note="",
                                    source="partner", added_by="test")


def _retro_events(engine: Engine) -> list[dict]:
    with engine.db.session() as s:
        return [r.payload["data"] for r in s.scalars(select(WebhookEventRow).where(
            WebhookEventRow.type == "item.retro_match").order_by(WebhookEventRow.id))]


def _action_types(engine: Engine, item_id: str) -> list[str]:
    with engine.db.session() as s:
        return list(s.scalars(select(ActionRow.type).where(ActionRow.item_id == item_id).order_by(ActionRow.id)))


def test_a_reviewer_allowed_item_goes_back_to_review_instead_of_being_removed(eng: Engine) -> None:
    users = make_users(eng)
    review = review_service(eng)
    item_id, data, case_id = _reported(eng, 41, "acct-cleared")
    review.decide(case_id, users.by_name("reviewer"), outcome="not_violating", labels=[])  # type: ignore[arg-type]
    assert eng.items.get(item_id).verdict.verdict == "allow"

    _bank_later(eng, data)
    report = eng.retro.run()
    assert report.items_matched == 1 and report.actions == 0

    item = eng.items.get(item_id)
    assert item.verdict.verdict == "allow"  # the reviewer's verdict stands
    assert any(m.bank_name == "late-list" for m in item.verdict.matches)  # the match is on record
    assert any("a person decided about this item before" in r for r in item.verdict.reasons)
    assert "remove" not in _action_types(eng, item_id) and strikes(eng, "acct-cleared") == 0
    with eng.db.session() as s:
        [again] = s.scalars(select(CaseRow).where(CaseRow.item_id == item_id, CaseRow.status != "decided")).all()
        assert again.id != case_id and again.source == "retro"
        assert "retro-match after a person's decision" in again.reason and "late-list" in again.reason
        assert again.priority >= 20  # the high tier
    shown = review.media(again.id)
    assert shown is not None and shown[1] == data  # what the first reviewer saw
    [event] = _retro_events(eng)
    assert event["decided_by_a_person"] is True and event["review_case_id"] == again.id
    assert event["actions"] == [] and event["verdict"] == "allow"

    # the reviewer finds it in the console: the case page says why it is back, with the media shielded
    with TestClient(create_app(engine=eng, follow_writes=False)) as client:
        sign_in(client, "reviewer2")
        queue = client.get("/console/queue")
        assert queue.status_code == 200 and f"/console/cases/{again.id}" in queue.text
        page = client.get(f"/console/cases/{again.id}")
        assert page.status_code == 200
        assert "retro-match after a person&#39;s decision" in page.text and "late-list" in page.text
        assert 'class="shielded' in page.text

    # the second look decides: now it comes down, with the strike the reviewer gives
    review.decide(again.id, users.by_name("reviewer2"), outcome="violating",  # type: ignore[arg-type]
                  labels=["behaviour:glorification"], actions=[Action("remove", {}), Action("strike", {})])
    assert eng.items.get(item_id).verdict.verdict == "block" and strikes(eng, "acct-cleared") == 1
    # a further pass finds nothing new to do
    assert eng.retro.run().items_matched == 0 and strikes(eng, "acct-cleared") == 1


def test_an_item_a_reviewer_took_down_gets_no_new_case_and_no_strike_they_did_not_give(eng: Engine) -> None:
    users = make_users(eng)
    item_id, data, case_id = _reported(eng, 42, "acct-removed")
    review_service(eng).decide(case_id, users.by_name("reviewer"), outcome="violating",  # type: ignore[arg-type]
                               labels=["behaviour:glorification"], actions=[Action("remove", {})])
    _bank_later(eng, data)
    assert eng.retro.run().items_matched == 1
    assert eng.items.get(item_id).verdict.verdict == "block"
    assert _action_types(eng, item_id).count("remove") == 1 and "strike" not in _action_types(eng, item_id)
    assert strikes(eng, "acct-removed") == 0
    with eng.db.session() as s:
        assert s.scalars(select(CaseRow.id).where(CaseRow.item_id == item_id, CaseRow.status != "decided")).all() == []
    [event] = _retro_events(eng)
    assert event["decided_by_a_person"] is True and event["review_case_id"] is None


def test_without_a_person_the_new_entry_still_acts(eng: Engine) -> None:
    eng.rules.save(RULES, created_by="test")
    data = encode(textured_image(43, (320, 240)))
    item = eng.submit(eng.content("image", data=data), content_id="post-43", account_id="acct-plain")
    _bank_later(eng, data)
    assert eng.retro.run().actions == 2
    assert eng.items.get(item.id).verdict.verdict == "block"
    assert sorted(_action_types(eng, item.id)) == ["remove", "strike"] and strikes(eng, "acct-plain") == 1
    [event] = _retro_events(eng)
    assert "decided_by_a_person" not in event


def test_a_held_upload_cleared_by_a_reviewer_comes_back_with_the_media_it_was_judged_on(eng: Engine) -> None:
    users = make_users(eng)
    review = review_service(eng)
    eng.rules.save(DEFAULT_RULES, created_by="test")
    case_id, item_id = held_image(eng, 44, account="acct-held")
    data = review.media(case_id)
    assert data is not None
    review.decide(case_id, users.by_name("reviewer"), outcome="not_violating", labels=[])  # type: ignore[arg-type]
    _bank_later(eng, data[1])
    assert eng.retro.run().items_matched == 1
    assert eng.items.get(item_id).verdict.verdict == "allow" and strikes(eng, "acct-held") == 0
    with eng.db.session() as s:
        [again] = s.scalars(select(CaseRow.id).where(CaseRow.item_id == item_id, CaseRow.status != "decided")).all()
    assert review.media(again) == data


def test_a_pass_waits_for_a_decision_being_made_and_keeps_it(eng: Engine) -> None:
    """The reviewer's transaction is open (the item's row locked; on SQLite the write lock) when the pass comes
    to act: the pass waits, then sees the decision and acts on nothing. Had the pass checked for a person's
    decision before waiting for the row, it would have found none, removed the labelled item and struck its
    uploader."""
    eng.rules.save(RULES, created_by="test")
    data = encode(textured_image(45, (320, 240)))
    item = eng.submit(eng.content("image", data=data), content_id="post-45", account_id="acct-racing")
    _bank_later(eng, data)
    desk = HeldDecision(eng, item.id, [{"label": "news"}])
    desk.start()
    report = eng.retro.run()
    assert desk.finish()  # the pass was still waiting when the decision committed
    assert report.items_matched == 1 and report.actions == 0
    after = eng.items.get(item.id)
    assert after.verdict.verdict == "label" and strikes(eng, "acct-racing") == 0
    assert _action_types(eng, item.id) == ["label"]
    [event] = _retro_events(eng)
    assert event["decided_by_a_person"] is True and event["review_case_id"] is not None  # labelled: still up
