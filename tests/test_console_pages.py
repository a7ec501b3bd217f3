"""Console pages: priority by reach, side-by-side case view, shield preferences, dashboard, admin pages.

Page tests run on SQLite and PostgreSQL; the SVG chart and percentile checks are plain unit tests.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from seawall.composition import review_service
from seawall.config import Settings
from seawall.engine import Engine
from seawall.review.dashboard import percentile
from seawall.review.priority import score
from seawall.review.users import ConsoleUsers
from seawall.store.tables import CaseRow
from seawall.web.charts import bar_chart, line_chart
from tests.conftest import encode, textured_image
from tests.console_support import HELD_IMAGE_SIZE, PASSWORD, auth, engine_for, held_image, make_users, sign_in


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    yield from engine_for(settings)


@pytest.fixture
def users(engine: Engine) -> ConsoleUsers:
    return make_users(engine)


def test_bar_chart_scales_and_escapes() -> None:
    svg = str(bar_chart([("behaviour:glorification", 4), ("<script>", 2), ("zero", 0)], title="Per label & day"))
    assert svg.startswith("<svg") and svg.endswith("</svg>") and "<script>" not in svg and "&lt;script&gt;" in svg
    widths = [float(w) for w in re.findall(r'<rect [^>]*width="([0-9.]+)"', svg)]
    assert len(widths) == 3 and widths[0] == pytest.approx(2 * widths[1]) and widths[2] == 0
    assert "Per label &amp; day" in svg and "<title>behaviour:glorification: 4</title>" in svg
    assert "no data yet" in str(bar_chart([], title="empty"))


def test_line_chart_plots_every_point() -> None:
    svg = str(line_chart([("2026-11-01", 0), ("2026-11-02", 5), ("2026-11-03", 10)], title="per day", height=124))
    ys = [float(y) for y in re.findall(r'<circle class="point" cx="[0-9.]+" cy="([0-9.]+)"', svg)]
    assert len(ys) == 3 and ys[0] > ys[1] > ys[2] and ys[0] - ys[1] == pytest.approx(ys[1] - ys[2])
    assert "<polyline" in svg and "2026-11-01" in svg and "2026-11-03" in svg


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([5.0], 90) == 5.0
    values = [float(v) for v in range(1, 11)]
    assert percentile(values, 50) == 5.0 and percentile(values, 90) == 9.0 and percentile(values, 100) == 10.0


def test_priority_grows_with_severity_reach_reports_and_age() -> None:
    now = datetime(2026, 11, 28, tzinfo=UTC)
    sla = timedelta(hours=24)

    def val(base: int = 13, reach: int | None = None, reports: int = 0, age: float = 0) -> float:
        return score(base, reach=reach, reports=reports, created_at=now - timedelta(hours=age), sla=sla, now=now).value

    assert val() < val(base=15) and val() < val(reach=1000) < val(reach=1_000_000)
    assert val(reports=1) == val() < val(reports=3) and val(reports=100) == val(reports=7)
    assert val() < val(age=12) < val(age=24) == val(age=48) == pytest.approx(2 * val(), abs=0.2)


def test_reach_on_submit_orders_the_queue(client: TestClient, engine: Engine, keys: dict[str, str],
                                          users: ConsoleUsers) -> None:
    quiet, _ = held_image(engine, 41, content_id="quiet")
    viral, viral_item = held_image(engine, 42, content_id="viral", reach=2_000_000)
    assert [c.id for c in review_service(engine).waiting()] == [viral, quiet]
    sign_in(client, "reviewer")
    page = client.get("/console/queue").text
    assert page.index(f"#{viral}<") < page.index(f"#{quiet}<") and "reach 2,000,000" in page
    h = auth(keys["submitter"])
    body = client.post("/v1/items", headers=h, json={"content_id": "c", "text": "hello there", "reach": 12}).json()
    assert body["reach"] == 12
    for bad in ({"reach": -1}, {"reach": "many"}):
        r = client.post("/v1/items", headers=h, json={"content_id": "c", "text": "x", **bad})
        assert r.status_code == 422 and r.json()["code"] == "invalid_request"
    r = client.post("/v1/items", headers=h, data={"content_id": "c", "text": "x", "reach": "ten"})
    assert r.status_code == 422 and "reach" in r.json()["message"]
    r = client.post("/v1/items", headers=h, data={"content_id": "c", "text": "x", "reach": "99"})
    assert r.status_code == 200 and r.json()["reach"] == 99
    assert client.get(f"/v1/items/{viral_item}", headers=h).json()["reach"] == 2_000_000


def test_case_view_shows_the_matched_entry_account_and_related_items(client: TestClient, engine: Engine,
                                                                     users: ConsoleUsers) -> None:
    first, first_item = held_image(engine, 51, account="acct-5")
    engine.banks.create("watch-reviewed", default_action="review")
    csrf = sign_in(client, "senior")
    r = client.post(f"/console/cases/{first}/decide", data={
        "csrf_token": csrf, "outcome": "violating", "labels": ["behaviour:glorification"], "strike": "1",
        "group": "example-group", "block_bank": "watch-reviewed"})
    assert r.status_code == 200, r.text
    copy = encode(textured_image(51, HELD_IMAGE_SIZE).resize((300, 225)), quality=70)
    item = engine.submit(engine.content("image", data=copy), content_id="copy", account_id="acct-5")
    assert item.verdict.verdict == "review"
    [case] = review_service(engine).waiting()
    page = client.get(f"/console/cases/{case.id}").text
    assert page.count('data-testid="entry"') == len({m.entry_id for m in item.verdict.matches}) >= 2
    assert "watch-reviewed" in page and "group:example-group" in page and "test list" in page
    assert "senior (console)" in page and 'class="distance"' in page
    thumbs = re.findall(r'src="(/console/entries/\d+/thumbnail)" alt="bank entry image \(shielded\)" '
                        r'data-testid="entry-thumb" class="shielded"', page)
    assert thumbs, page
    got = client.get(thumbs[0])
    assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg" and got.content[:3] == b"\xff\xd8\xff"
    assert client.get("/console/entries/999999/thumbnail").status_code == 404
    assert '<strong id="active-strikes">1</strong>' in page and "review:senior" in page
    related = page.split('id="related-hash"')[1].split("</ul>")[0]
    assert "post-51" in related and first_item[:12] not in related
    assert "post-51" in page.split('id="related-account"')[1].split("</ul>")[0]
    client.post(f"/console/cases/{case.id}/reveal", data={"csrf_token": csrf})
    page = client.get(f"/console/cases/{case.id}").text
    assert re.search(r'src="/console/reveals/[A-Za-z0-9_-]{40,}/entries/\d+" alt="bank entry image \(revealed\)" '
                     r'data-testid="entry-thumb" class="revealed"', page), page


def test_shield_preference_never_off(client: TestClient, engine: Engine, users: ConsoleUsers) -> None:
    case_id, _ = held_image(engine, 61)
    csrf = sign_in(client, "reviewer")
    assert 'class="console shield-blur"' in client.get(f"/console/cases/{case_id}").text
    r = client.post("/console/preferences", data={"csrf_token": csrf, "shield": "heavy"}, follow_redirects=False)
    assert r.status_code == 303
    assert 'class="console shield-heavy"' in client.get(f"/console/cases/{case_id}").text
    for refused, status in (("grey", 403), ("off", 422), ("none", 422)):
        r = client.post("/console/preferences", data={"csrf_token": csrf, "shield": refused})
        assert r.status_code == status, refused
    admin_csrf = sign_in(client, "admin")
    r = client.post("/console/admin/users/reviewer", data={"csrf_token": admin_csrf, "light_shield": "1"},
                    follow_redirects=False)
    assert r.status_code == 303
    csrf = sign_in(client, "reviewer")
    assert client.post("/console/preferences", data={"csrf_token": csrf, "shield": "grey"}).status_code == 200
    page = client.get(f"/console/cases/{case_id}").text
    assert 'class="console shield-grey"' in page and 'class="shielded"' in page
    client.post(f"/console/cases/{case_id}/reveal", data={"csrf_token": csrf})
    admin_csrf = sign_in(client, "admin")
    client.post("/console/admin/users/reviewer", data={"csrf_token": admin_csrf, "light_shield": "0"})
    users_page = client.get("/console/admin/users").text
    row = users_page.split('data-user="reviewer"')[1].split("</tr>")[0]
    assert '<td class="exposure-count">1</td>' in row
    sign_in(client, "reviewer")
    assert 'class="console shield-blur"' in client.get("/console/queue").text  # consent withdrawn: back to blur


def test_dashboard_figures_and_charts(client: TestClient, engine: Engine, users: ConsoleUsers) -> None:
    first, _ = held_image(engine, 71)
    held_image(engine, 72)
    held_image(engine, 73, labels=("behaviour:imminent-credible-threat",))
    csrf = sign_in(client, "reviewer")
    client.post(f"/console/cases/{first}/decide", data={"csrf_token": csrf, "outcome": "violating",
                                                        "labels": ["behaviour:recruitment"], "remove": "1"})
    with engine.db.session() as s:  # the case waited 2m 05s for its decision, however fast this test ran
        case = s.get(CaseRow, first)
        assert case is not None and case.decided_at is not None
        case.created_at = case.decided_at - timedelta(seconds=125)
    page = client.get("/console/dashboard")
    assert page.status_code == 200
    text = page.text
    assert '<strong id="open-total">2</strong>' in text and '<strong id="decided-total">1</strong>' in text
    assert '<strong id="breaches">0</strong>' in text and 'id="median">2m 05s<' in text
    assert text.count("<svg") == 3 and "<title>behaviour:recruitment: 1</title>" in text
    assert "<title>normal: 2</title>" in text and "<title>urgent: 0</title>" in text
    assert text.count('<circle class="point"') == 14


def test_admin_pages_are_for_admins(client: TestClient, engine: Engine, users: ConsoleUsers,
                                    keys: dict[str, str]) -> None:
    engine.banks.create("known")
    for name in ("reviewer", "senior"):
        sign_in(client, name)
        for path in ("/console/admin/users", "/console/admin/keys", "/console/admin/banks"):
            assert client.get(path).status_code == 403, (name, path)
        assert "/console/admin/users" not in client.get("/console/queue").text
    csrf = sign_in(client, "admin")
    keys_page = client.get("/console/admin/keys").text
    assert all(k["key_id"] in keys_page for k in engine.api_keys.list_keys()) and "test-submitter" in keys_page
    assert "sw_" not in keys_page
    assert "known" in client.get("/console/admin/banks").text
    r = client.post("/console/admin/users", data={"csrf_token": csrf, "username": "newbie", "password": PASSWORD,
                                                  "role": "reviewer"}, follow_redirects=False)
    assert r.status_code == 303
    bad = client.post("/console/admin/users", data={"csrf_token": csrf, "username": "x", "password": "short",
                                                    "role": "reviewer"})
    assert bad.status_code == 422 and "at least 10" in bad.text
    assert client.post("/console/admin/users/nobody", data={"csrf_token": csrf, "role": "senior"}).status_code == 404
    assert client.post("/console/admin/users/admin", data={"csrf_token": csrf, "disabled": "1"}).status_code == 422
    client.post("/console/admin/users/newbie", data={"csrf_token": csrf, "role": "senior"})
    assert {u["username"]: u["role"] for u in users.list_users()}["newbie"] == "senior"
    newbie = TestClient(client.app)
    sign_in(newbie, "newbie")
    assert newbie.get("/console/queue").status_code == 200
    client.post("/console/admin/users/newbie", data={"csrf_token": csrf, "disabled": "1"})
    assert newbie.get("/console/queue", follow_redirects=False).headers["location"] == "/console/login"
    page = newbie.get("/console/login")
    from tests.console_support import csrf_of

    r = newbie.post("/console/login", data={"username": "newbie", "password": PASSWORD,
                                            "csrf_token": csrf_of(page.text)})
    assert r.status_code == 401 and "disabled" in r.text
    csv = client.get("/console/audit.csv").text
    assert ",user.create," in csv and ",user.update," in csv
