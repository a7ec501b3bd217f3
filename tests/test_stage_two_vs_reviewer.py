"""A person's decision made while an upload's stage 2 runs stands: stage 2's later re-decision neither undoes it
nor acts again.

Stage 2 (OCR, regions) may find a match stage 1 could not see and decide the item again. If a reviewer
decided about the item meanwhile (a case decision, ``POST /v1/items/{id}/actions``), the reviewer saw the
item after the upload and their decision is the newer one: stage 2 records what it found with it and
carries out nothing (no removal the reviewer did not choose, no second strike). Runs on SQLite and
PostgreSQL; stage 2's slow work is replaced by a task that returns the banned text's signals, so the
fresh match is certain and the moment of the reviewer's decision is chosen by the test.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
from sqlalchemy import func, select

from seawall.composition import build_engine, review_service
from seawall.config import Settings
from seawall.engine import Engine
from seawall.models.records import ComputedSignal
from seawall.plugins import Registry
from seawall.rules.defaults import DEFAULT_RULES
from seawall.store.tables import ActionRow, StrikeRow
from seawall.uploads.ingest import compute_signals
from seawall.uploads.stages import SlowTask

from .console_support import held_image, make_users
from .held_decision import HeldDecision
from .test_ocr_language import _bank_text, slogan, text_image

#: The banks' default actions, and a strike for every match in a block bank.
RULES = DEFAULT_RULES + """\

  - id: bank-block-strike
    description: A match in a block bank also counts against the uploader.
    when:
      match: {bank_kind: block, bank_action: block}
    then: [strike]
"""

@pytest.fixture
def eng(settings: Settings) -> Iterator[Engine]:
    """An engine whose stage-2 jobs wait in the store until the test runs them, with a banned slogan banked."""
    engine = build_engine(settings)
    try:
        engine.start_workers()
        assert engine.queue is not None
        engine.queue.close()
        engine.rules.save(RULES, created_by="test")
        _bank_text(engine, "slogans", slogan(31))
        yield engine
    finally:
        engine.close()


def _banned_text_found(engine: Engine) -> list[ComputedSignal]:
    """What OCR would find in an image showing the banned slogan."""
    return [s for s in compute_signals(engine.registry, engine.content("text", text=slogan(31)), for_query=True)
            if not s.transient]


def _stage_two(engine: Engine, ocr: SlowTask) -> None:
    engine.items.slow_tasks = [ocr, SlowTask("regions", lambda c: True, lambda *_: [])]


def _actions(engine: Engine, item_id: str) -> list[str]:
    with engine.db.session() as s:
        return list(s.scalars(select(ActionRow.type).where(ActionRow.item_id == item_id).order_by(ActionRow.id)))


def _strikes(engine: Engine, account: str) -> int:
    with engine.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(StrikeRow).where(StrikeRow.account_id == account)) or 0)


def test_a_reviewer_decision_that_keeps_the_verdict_still_stands(eng: Engine) -> None:
    """A violating decision with a strike only leaves the held item's verdict as it was; stage 2 must still see
    that a person decided, and neither remove the item nor strike the account a second time."""
    case_id, item_id = held_image(eng, 41, account="@held:hs")
    assert eng.items.get(item_id).pending == ["ocr", "regions"]
    senior = make_users(eng).login("senior", "correct horse battery")[0]

    def reviewer_decides_meanwhile(registry: Registry, content: object,
                                   earlier: Sequence[ComputedSignal]) -> list[ComputedSignal]:
        review_service(eng).decide(case_id, senior, outcome="violating", labels=["behaviour:glorification"],
                                   actions=eng.actions.parse(["strike"]))
        return _banned_text_found(eng)

    _stage_two(eng, SlowTask("ocr", lambda c: True, reviewer_decides_meanwhile))
    eng.items.process_stage_two(item_id)
    after = eng.items.get(item_id)
    assert after.final and after.verdict.verdict == "review", after.verdict
    assert {m.signal_type for m in after.verdict.matches} & {"text_sha256", "text_minhash"}  # recorded
    assert _actions(eng, item_id) == ["queue", "strike"]  # the upload's and the reviewer's, nothing after
    assert _strikes(eng, "@held:hs") == 1


def test_stage_two_waits_for_a_reviewer_decision_being_made_and_keeps_it(eng: Engine) -> None:
    """The reviewer's transaction is open (holding the item's row lock; on SQLite the write lock) when stage 2
    comes to decide again: stage 2 waits, then reads the reviewer's decision and keeps it. On SQLite stage 2
    read the row without the lock, so it put its own verdict back over the reviewer's label and removed the
    item and struck its uploader."""
    item = eng.submit(eng.content("image", data=text_image(slogan(31))), content_id="post-42", account_id="@up:hs")
    assert item.verdict.verdict == "allow" and item.pending == ["ocr", "regions"]
    desk = HeldDecision(eng, item.id, [{"label": "satire"}])

    def ocr_then_reviewer_starts(registry: Registry, content: object,
                                 earlier: Sequence[ComputedSignal]) -> list[ComputedSignal]:
        desk.start()
        return _banned_text_found(eng)

    _stage_two(eng, SlowTask("ocr", lambda c: True, ocr_then_reviewer_starts))
    eng.items.process_stage_two(item.id)
    assert desk.finish()  # stage 2 was still waiting when the reviewer's decision committed
    after = eng.items.get(item.id)
    assert after.final and after.verdict.verdict == "label", after.verdict
    assert {m.signal_type for m in after.verdict.matches} & {"text_sha256", "text_minhash"}
    assert _actions(eng, item.id) == ["label"]
    assert _strikes(eng, "@up:hs") == 0
