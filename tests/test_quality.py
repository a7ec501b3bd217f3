"""Quality: a share of decisions sampled for a blind second review, agreement per reviewer and per label.

The sampler is injected (or its share set to 0 or 1), so which decision is sampled is known in advance;
the second reviewer never sees the first decision, is never the first reviewer, and agreement is counted
the same on the dashboard and at ``GET /v1/quality/agreement``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from seawall.composition import review_service
from seawall.config import Settings
from seawall.engine import Engine
from seawall.review.quality import share_sampler
from seawall.review.users import ConsoleUsers
from seawall.store.tables import SecondReviewRow
from tests.console_support import auth, csrf_of, engine_for, held_image, make_users, sign_in


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    yield from engine_for(settings, second_review_share=1.0)


@pytest.fixture
def users(engine: Engine) -> ConsoleUsers:
    return make_users(engine)


def _waiting(engine: Engine) -> list[SecondReviewRow]:
    with engine.db.session() as s:
        return list(s.scalars(select(SecondReviewRow).where(SecondReviewRow.status == "waiting")
                              .order_by(SecondReviewRow.id)))


def test_share_sampler_is_deterministic_and_keeps_its_share() -> None:
    assert not any(share_sampler(0.0)(i) for i in range(1, 2000))
    assert all(share_sampler(1.0)(i) for i in range(1, 2000))
    picked = [i for i in range(1, 20_001) if share_sampler(0.05)(i)]
    assert 800 <= len(picked) <= 1200, len(picked)
    assert picked == [i for i in range(1, 20_001) if share_sampler(0.05)(i)]  # same ids every time
    assert picked != [i for i in range(1, 20_001) if share_sampler(0.05, seed="other")(i)]


def test_injected_sampler_decides_which_decisions_get_a_second_review(engine: Engine, users: ConsoleUsers) -> None:
    review = review_service(engine)
    seen: list[int] = []
    review.sampler = lambda decision_id: seen.append(decision_id) or len(seen) == 2
    reviewer = users.by_name("reviewer")
    assert reviewer is not None
    cases = [held_image(engine, 701 + n, content_id=f"q-{n}")[0] for n in range(3)]
    for c in cases:
        review.decide(c, reviewer, outcome="violating", labels=["behaviour:glorification"])
    [sampled] = _waiting(engine)
    assert len(seen) == 3 and sampled.case_id == cases[1] and sampled.case_decision_id == seen[1]
    assert (sampled.first_username, sampled.first_outcome, sampled.first_labels) == (
        "reviewer", "violating", ["behaviour:glorification"])


def test_blind_second_review_then_agreement_on_dashboard_and_api(client: TestClient, engine: Engine,
                                                                   users: ConsoleUsers, keys: dict[str, str]) -> None:
    agreed_case, _ = held_image(engine, 711, content_id="agree")
    disputed_case, _ = held_image(engine, 712, content_id="dispute")
    csrf = sign_in(client, "reviewer")
    for case_id in (agreed_case, disputed_case):
        r = client.post(f"/console/cases/{case_id}/decide", data={
            "csrf_token": csrf, "outcome": "violating", "labels": ["behaviour:glorification"], "remove": "1"})
        assert r.status_code == 200, r.text
    first, second = _waiting(engine)
    # the first reviewer neither sees nor may judge their own decisions
    assert "/console/second-reviews/" not in client.get("/console/second-reviews").text
    assert client.get(f"/console/second-reviews/{first.id}").status_code == 403
    r = client.post(f"/console/second-reviews/{first.id}", data={"csrf_token": csrf, "outcome": "violating",
                                                                  "labels": ["behaviour:glorification"]})
    assert r.status_code == 403
    csrf2 = sign_in(client, "reviewer2")
    listing = client.get("/console/second-reviews").text
    assert f"/console/second-reviews/{first.id}" in listing and f"/console/second-reviews/{second.id}" in listing
    case_page = client.get(f"/console/cases/{agreed_case}").text
    assert 'id="decisions"' not in case_page  # the case page does not give the first decision away
    blind = client.get(f"/console/second-reviews/{first.id}").text
    assert "blind" in blind and f"/console/cases/{agreed_case}/media" in blind
    assert " checked" not in blind and "Violating decision" not in blind
    assert '"reviewer"' not in blind and ">reviewer<" not in blind and "remove" not in blind
    r = client.post(f"/console/second-reviews/{first.id}", data={"csrf_token": csrf2, "outcome": "violating",
                                                                  "labels": ["behaviour:glorification"]})
    assert r.status_code == 200 and "You agreed" in r.text, r.text
    r = client.post(f"/console/second-reviews/{second.id}", data={"csrf_token": csrf2, "outcome": "violating",
                                                                   "labels": ["behaviour:recruitment"]})
    assert r.status_code == 200 and "You agreed" in r.text  # same outcome, other label
    again = client.post(f"/console/second-reviews/{second.id}", data={"csrf_token": csrf2,
                                                                       "outcome": "not_violating"})
    assert again.status_code == 409
    bad = client.post(f"/console/second-reviews/{second.id}", data={"csrf_token": csrf2, "outcome": "maybe"})
    assert bad.status_code == 422

    assert 'id="decisions"' in client.get(f"/console/cases/{agreed_case}").text  # done: shown again
    got = client.get("/v1/quality/agreement", headers=auth(keys["reviewer"]))
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["share"] == 1.0 and body["waiting"] == 0
    assert body["reviewers"] == [{"name": "reviewer", "reviewed": 2, "agreed": 2, "rate": 1.0}]
    assert body["labels"] == [{"name": "behaviour:glorification", "reviewed": 2, "agreed": 1, "rate": 0.5},
                              {"name": "behaviour:recruitment", "reviewed": 1, "agreed": 0, "rate": 0.0}]
    assert client.get("/v1/quality/agreement", headers=auth(keys["submitter"])).status_code == 403
    assert client.get("/v1/quality/agreement?days=0", headers=auth(keys["reviewer"])).status_code == 422

    page = client.get("/console/dashboard").text
    row = page.split('data-label="behaviour:glorification"')[1].split("</tr>")[0]
    assert "50%" in row and "<td>2</td>" in row
    assert 'data-reviewer="reviewer"' in page
    assert "<title>Dashboard · Seawall console</title>" in page
    assert page.count('id="agreement"') == 1  # shown once, in the page body, not inside the title
    assert csrf_of(page)


def test_disagreement_on_outcome_counts_against_the_first_reviewer(client: TestClient, engine: Engine,
                                                                    users: ConsoleUsers) -> None:
    case_id, _ = held_image(engine, 721)
    csrf = sign_in(client, "senior")
    r = client.post(f"/console/cases/{case_id}/decide", data={"csrf_token": csrf, "outcome": "not_violating"})
    assert r.status_code == 200, r.text
    [row] = _waiting(engine)
    csrf = sign_in(client, "reviewer")
    r = client.post(f"/console/second-reviews/{row.id}", data={"csrf_token": csrf, "outcome": "violating",
                                                                "labels": ["behaviour:glorification"]})
    assert r.status_code == 200 and "You disagreed" in r.text and "not violating" in r.text
    from seawall.review.quality import SecondReviews

    found = SecondReviews(engine.db).agreement()
    assert [(a.name, a.reviewed, a.agreed, a.rate) for a in found["reviewers"]] == [("senior", 1, 0, 0.0)]
    assert [(a.name, a.reviewed, a.agreed) for a in found["labels"]] == [("behaviour:glorification", 1, 0)]


def test_case_api_hides_the_decision_while_its_blind_second_review_waits(client: TestClient, engine: Engine,
                                                                           users: ConsoleUsers,
                                                                           keys: dict[str, str]) -> None:
    case_id, _ = held_image(engine, 731, content_id="api-blind")
    csrf = sign_in(client, "reviewer")
    r = client.post(f"/console/cases/{case_id}/decide", data={
        "csrf_token": csrf, "outcome": "violating", "labels": ["behaviour:glorification"], "remove": "1"})
    assert r.status_code == 200, r.text
    [waiting] = _waiting(engine)
    url = f"/v1/cases/{case_id}"
    hidden = client.get(url, headers=auth(keys["reviewer"]))
    assert hidden.status_code == 200, hidden.text
    assert hidden.json()["status"] == "decided" and hidden.json()["decisions"] == []
    as_second = client.get(url, headers={**auth(keys["reviewer"]), "X-Seawall-Reviewer": "reviewer2"}).json()
    assert as_second["decisions"] == []
    as_first = client.get(url, headers={**auth(keys["reviewer"]), "X-Seawall-Reviewer": "reviewer"}).json()
    assert [d["username"] for d in as_first["decisions"]] == ["reviewer"]
    assert [d["outcome"] for d in client.get(url, headers=auth(keys["admin"])).json()["decisions"]] == ["violating"]
    csrf2 = sign_in(client, "reviewer2")
    r = client.post(f"/console/second-reviews/{waiting.id}", data={"csrf_token": csrf2, "outcome": "violating",
                                                                    "labels": ["behaviour:glorification"]})
    assert r.status_code == 200, r.text
    shown = client.get(url, headers=auth(keys["reviewer"])).json()
    assert [d["username"] for d in shown["decisions"]] == ["reviewer"]  # done: no longer blind
