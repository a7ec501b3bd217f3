"""Case tags: the queue's bank and label filters read indexed tags, kept in step with the cases.

The tags replace a scan of every match's JSON labels; these tests pin what the filters mean (a bank and
a label together are one match's bank and label), that a decision or a raised priority reaches the
tags, and that the backfill a migration or bulk load runs gives the same tags as opening cases does.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import delete, select

from seawall.composition import report_service, review_service
from seawall.config import Settings
from seawall.engine import Engine
from seawall.review.cases import ReviewService
from seawall.review.search import CaseFilter
from seawall.review.users import ConsoleUsers
from seawall.store.case_tags import backfill_case_tags
from seawall.store.tables import CaseRow, CaseTagRow
from tests.conftest import encode, textured_image
from tests.console_support import engine_for, held_image, make_users


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    yield from engine_for(settings)


@pytest.fixture
def users(engine: Engine) -> ConsoleUsers:
    return make_users(engine)


def _two_bank_case(engine: Engine, seed: int) -> int:
    """An item matching bank ``watch`` (glorification) and bank ``other`` (recruitment) at once."""
    engine.banks.create("watch", default_action="review")
    engine.banks.create("other", default_action="review")
    data = encode(textured_image(seed))
    for bank, label in (("watch", "behaviour:glorification"), ("other", "behaviour:recruitment")):
        engine.add_entries_from_content(bank, engine.content("image", data=data), labels=[label], note="",
                                        source="test list", added_by="test")
    item = engine.submit(engine.content("image", data=data), content_id=f"post-{seed}", account_id="acct-1")
    [case] = [c for c in review_service(engine).waiting() if c.item_id == item.id]
    return case.id


def _ids(review: ReviewService, **f: str) -> list[int]:
    return [c.id for c in review.search(CaseFilter(**f))]  # type: ignore[arg-type]


def test_bank_and_label_together_mean_one_match(engine: Engine) -> None:
    case_id = _two_bank_case(engine, 811)
    review = review_service(engine)
    assert _ids(review, bank="watch") == [case_id] and _ids(review, bank="other") == [case_id]
    assert _ids(review, label="behaviour:recruitment") == [case_id]
    assert _ids(review, label="Behaviour:Recruitment ") == [case_id]
    assert _ids(review, bank="other", label="behaviour:recruitment") == [case_id]
    assert _ids(review, bank="watch", label="behaviour:recruitment") == []  # no watch match carries it
    assert _ids(review, bank="elsewhere") == [] and _ids(review, label="behaviour:other") == []


def test_decision_and_raised_priority_reach_the_tags(engine: Engine, users: ConsoleUsers) -> None:
    first, _ = held_image(engine, 812, labels=("behaviour:glorification",))
    second, second_item = held_image(engine, 813, labels=("behaviour:glorification",))
    review = review_service(engine)
    assert set(_ids(review, label="behaviour:glorification")) == {first, second}
    reviewer = users.by_name("reviewer")
    assert reviewer is not None
    review.decide(first, reviewer, outcome="not_violating", labels=[])
    assert _ids(review, label="behaviour:glorification") == [second]
    assert _ids(review, label="behaviour:glorification", status="decided") == [first]
    assert set(_ids(review, label="behaviour:glorification", status="any")) == {first, second}
    report_service(engine).report(item_id=second_item, category="imminent-credible-threat")
    with engine.db.session() as s:
        case = s.get(CaseRow, second)
        assert case is not None
        tagged = set(s.scalars(select(CaseTagRow.priority).where(CaseTagRow.case_id == second)))
        assert tagged == {case.priority}, (tagged, case.priority)


def test_backfill_gives_the_tags_opening_gave(engine: Engine) -> None:
    case_id = _two_bank_case(engine, 814)
    held_image(engine, 815, labels=())

    def tags() -> set[tuple[int, str, str, int, bool]]:
        with engine.db.session() as s:
            return {(t.case_id, t.kind, t.value, t.priority, t.undecided) for t in s.scalars(select(CaseTagRow))}

    opened = tags()
    assert {(k, v) for c, k, v, _, _ in opened if c == case_id} >= {
        ("bank", "watch"), ("bank", "other"), ("label", "behaviour:recruitment"),
        ("pair", "other\x1fbehaviour:recruitment"), ("pair", "watch\x1fbehaviour:glorification")}
    with engine.db.session() as s:
        s.execute(delete(CaseTagRow))
    assert tags() == set()
    with engine.db.engine.begin() as conn:
        backfill_case_tags(conn)
    assert tags() == opened
