"""Near-same media with no bank entry: reported copies of one picture form a group decided at once.

Two accounts post the same generated picture (one re-encoded, one resized, so the hashes differ but lie
within the PDQ match threshold) and a third posts a different one; users report all three. No bank has
an entry for any of them. The case page offers to decide the group (2 cases) and doing so decides and
audits each case; the different picture stays open.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from seawall.composition import report_service, review_service
from seawall.config import Settings
from seawall.engine import Engine
from seawall.review.users import ConsoleUsers
from tests.conftest import encode, textured_image
from tests.console_support import engine_for, make_users, sign_in


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    yield from engine_for(settings, second_review_share=0.0)


@pytest.fixture
def users(engine: Engine) -> ConsoleUsers:
    return make_users(engine)


def _reported(engine: Engine, data: bytes, content_id: str, account: str) -> int:
    item = engine.submit(engine.content("image", data=data), content_id=content_id, account_id=account)
    assert not item.verdict.matches  # no bank entry involved
    return int(report_service(engine).report(item_id=item.id, category="glorification")["case_id"])


def test_near_same_reported_media_are_one_group_decided_together(client: TestClient, engine: Engine,
                                                                   users: ConsoleUsers) -> None:
    picture = textured_image(951)
    first = _reported(engine, encode(picture, "PNG"), "copy-a", "acct-a")
    second = _reported(engine, encode(picture.resize((600, 450)), "JPEG", quality=80), "copy-b", "acct-b")
    different = _reported(engine, encode(textured_image(952), "PNG"), "other", "acct-c")
    review = review_service(engine)
    reviewer = users.by_name("reviewer")
    assert reviewer is not None
    assert review.cluster(first, reviewer) == [second]
    assert review.cluster(different, reviewer) == []

    csrf = sign_in(client, "reviewer")
    page = client.get(f"/console/cases/{first}").text
    assert re.search(r'<strong id="cluster-count">1</strong>', page), page
    r = client.post(f"/console/cases/{first}/decide", data={
        "csrf_token": csrf, "outcome": "violating", "labels": ["behaviour:glorification"], "cluster": "1"})
    assert r.status_code == 200 and "for 2 cases" in r.text, r.text
    for case_id in (first, second):
        assert review.get(case_id).status == "decided"
        assert review.audit.query(action="case.decide", object_id=str(case_id))
    assert review.get(different).status == "open"
    [summary] = review.audit.query(action="case.cluster_decide")
    assert sorted(summary.detail["decided"]) == sorted([first, second])


def test_a_decided_copy_leaves_the_group_and_the_index_is_searched_in_batch(engine: Engine,
                                                                            users: ConsoleUsers) -> None:
    picture = textured_image(953)
    ids = [_reported(engine, encode(picture, "JPEG", quality=q), f"c-{q}", f"acct-{q}") for q in (95, 85, 75)]
    review = review_service(engine)
    reviewer = users.by_name("reviewer")
    assert reviewer is not None
    assert review.cluster(ids[0], reviewer) == ids[1:]
    review.decide(ids[1], reviewer, outcome="not_violating", labels=[])
    assert review.cluster(ids[0], reviewer) == [ids[2]]
    # a case opened after the index was built is found: the index tops itself up from the stored hashes
    later = _reported(engine, encode(picture, "PNG"), "c-later", "acct-later")
    assert review.cluster(ids[0], reviewer) == [ids[2], later]
