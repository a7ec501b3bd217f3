"""What a new lead and reviewers found broken in the console, each pinned by a test that failed before.

Stored content on report and appeal cases, the contested automated decision, the bank's labels on a
matched entry, release/reassign/expiry of taken cases, report ranking, import line counts, chart
labels, error pages that keep input and navigation, human wording (reasons, age, who added an entry,
no hashes up front), allow banks, labelled admin selects; and media safety enforced by the server:
shielded renditions, originals only through a reviewer's own short-lived audited reveal, exposure
caps with break prompts, and a lead's view of exposure.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import update

from seawall.api.app import create_app
from seawall.composition import review_service
from seawall.config import Settings
from seawall.engine import Engine
from seawall.review import cases as cases_module
from seawall.review.users import ConsoleUsers
from seawall.store.tables import CaseRevealRow, CaseRow
from seawall.web.charts import bar_chart
from tests.conftest import encode, textured_image
from tests.console_support import PASSWORD, auth, csrf_of, engine_for, held_image, make_users, sign_in

HEX64 = re.compile(r"\b[0-9a-f]{64}\b")


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    yield from engine_for(settings)


@pytest.fixture
def users(engine: Engine) -> ConsoleUsers:
    return make_users(engine)


def _main(page: str) -> str:
    """The visible page above the collapsed technical details (form security tokens taken out)."""
    return re.sub(r'name="csrf_token" value="[^"]*"', "", page.split('<details class="raw"')[0])


def test_report_and_appeal_cases_show_the_stored_content(client: TestClient, engine: Engine, users: ConsoleUsers,
                                                         keys: dict[str, str]) -> None:
    long_text = "It is from a documentary, they said. " * 40 + "THE-END-OF-THE-POST"
    item = engine.submit(engine.content("text", text=long_text), content_id="doc-1", account_id="acct-r", keep=True)
    r = client.post("/v1/reports", headers=auth(keys["submitter"]), json={"item_id": item.id, "category": "other"})
    assert r.status_code == 201, r.text
    sign_in(client, "senior")
    page = client.get(f"/console/cases/{r.json()['case_id']}").text
    assert "THE-END-OF-THE-POST" in page and "did not keep this content" not in page

    engine.banks.create("hard", default_action="block", labels=["behaviour:glorification"])
    data = encode(textured_image(901))
    engine.add_entries_from_content("hard", engine.content("image", data=data), labels=[], note="",
                                    source="partner list", added_by="test")
    blocked = engine.submit(engine.content("image", data=data), content_id="blk-1", account_id="acct-a")
    assert blocked.verdict.verdict == "block"
    appeal = client.post("/v1/appeals", headers=auth(keys["submitter"]),
                         json={"item_id": blocked.id, "statement": "it is from a documentary"})
    assert appeal.status_code == 201, appeal.text
    page = client.get(f"/console/cases/{appeal.json()['case_id']}").text
    assert 'data-testid="media"' in page and "did not keep this content" not in page
    outcome = re.search(r'<strong id="contested-outcome">([^<]*)</strong>', page)
    assert outcome and outcome.group(1) == "verdict block", page
    assert "behaviour:glorification" in page.split('id="contested"')[1].split("</p>")[0]
    shielded = client.get(f"/console/cases/{appeal.json()['case_id']}/media")
    assert shielded.status_code == 200 and shielded.content != data


def test_matched_entry_shows_its_banks_labels_and_where_it_came_from(client: TestClient, engine: Engine,
                                                                    users: ConsoleUsers,
                                                                    keys: dict[str, str]) -> None:
    engine.banks.create("watch", default_action="review", labels=["ideology:jihadist"]
                        if "jihadist" in _ideologies() else [f"ideology:{_ideologies()[0]}"])
    data = encode(textured_image(902))
    r = client.post("/v1/banks/watch/entries", headers=auth(keys["admin"]), data={"source": "tcap"},
                    files={"file": ("a.jpg", data, "image/jpeg")})
    assert r.status_code in (200, 201), r.text
    item = engine.submit(engine.content("image", data=data), content_id="m-1")
    [case] = review_service(engine).waiting()
    sign_in(client, "reviewer")
    page = client.get(f"/console/cases/{case.id}").text
    labels = re.findall(r'<td class="entry-labels">([^<]*)</td>', page)
    assert labels and all("ideology:" in lb for lb in labels), labels
    origin = re.findall(r'<td class="entry-origin">([^<]*)</td>', page)
    assert origin and "API key “test-admin”" in origin[0], origin
    main = _main(page)
    assert item.id not in main and not HEX64.search(main), main[main.find(item.id) - 300:main.find(item.id) + 50]


def _ideologies() -> list[str]:
    from seawall.models.labels import taxonomy

    return sorted(taxonomy()["ideology"])


def test_taken_case_can_be_released_reassigned_and_expires(client: TestClient, engine: Engine,
                                                          users: ConsoleUsers) -> None:
    case_id, _ = held_image(engine, 903)
    review = review_service(engine)
    reviewer, reviewer2, senior = (users.login(n, PASSWORD)[0] for n in ("reviewer", "reviewer2", "senior"))
    review.take(case_id, reviewer)
    with pytest.raises(Exception, match="someone else"):
        review.take(case_id, reviewer2)
    csrf = sign_in(client, "reviewer2")
    assert client.post(f"/console/cases/{case_id}/release", data={"csrf_token": csrf}).status_code == 403
    assert client.post(f"/console/cases/{case_id}/reassign",
                       data={"csrf_token": csrf, "assignee": "reviewer2"}).status_code == 403
    csrf = sign_in(client, "reviewer")
    r = client.post(f"/console/cases/{case_id}/release", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and review.get(case_id).status == "open" and review.get(case_id).assignee is None
    csrf = sign_in(client, "senior")
    r = client.post(f"/console/cases/{case_id}/reassign", data={"csrf_token": csrf, "assignee": "reviewer2"},
                    follow_redirects=False)
    assert r.status_code == 303 and review.get(case_id).assignee == "reviewer2"
    bad = client.post(f"/console/cases/{case_id}/reassign", data={"csrf_token": csrf, "assignee": "nobody"})
    assert bad.status_code == 422 and "nobody" in bad.text
    # a take not decided within the window goes back to the queue, audited
    with engine.db.session() as s:
        s.execute(update(CaseRow).where(CaseRow.id == case_id)
                  .values(assigned_at=CaseRow.assigned_at - cases_module.TAKE_WINDOW - timedelta(minutes=1)))
    # reads return expired takes at most every few seconds, not on each page view: the pass is what frees it
    assert review.expire_taken() == 1
    assert review.waiting()[0].status == "open"
    assert review.audit.query(action="case.expire", object_id=str(case_id))
    review.take(case_id, senior)
    assert review.get(case_id).assignee == "senior"
    actions = {e.action for e in review.audit.query(object_id=str(case_id))}
    assert {"case.take", "case.release", "case.reassign", "case.expire"} <= actions


def test_reports_rank_by_severity_first_and_unknown_reach_does_not_sink(client: TestClient, engine: Engine,
                                                                        keys: dict[str, str]) -> None:
    h = auth(keys["submitter"])

    def reported(content_id: str, category: str, reach: int | None) -> str:
        body = {"content_id": content_id, "text": f"post {content_id}", **({"reach": reach} if reach else {})}
        item = client.post("/v1/items", headers=h, json=body).json()["id"]
        r = client.post("/v1/reports", headers=h, json={"item_id": item, "category": category})
        assert r.status_code == 201, r.text
        return item

    other = reported("o", "other", 5_000_000)
    glor = reported("g", "glorification", 2_000_000)
    threat = reported("t", "imminent-credible-threat", None)
    glor_known_low = reported("g2", "glorification", 3)
    glor_unknown = reported("g3", "glorification", None)
    order = [c.item_id for c in review_service(engine).waiting()]
    assert order.index(threat) < order.index(glor) < order.index(other)
    assert order.index(glor_unknown) < order.index(glor_known_low)


def test_import_counts_each_line_once(engine: Engine) -> None:
    engine.banks.create("imp")
    lines = [f"md5 {'ab' * 16}\n", "md5 not-a-hash\n", "garbage\n"]
    report = engine.import_entries("imp", "text", lines, added_by="test")
    assert report.lines_read == 3 and report.added == 1 and report.rejected == 2


def test_dashboard_chart_keeps_long_label_names_whole() -> None:
    long = "behaviour:graphic-violence-defenceless"
    svg = str(bar_chart([(long, 3), ("behaviour:glorification", 1)], title="labels"))
    label = re.search(r'<text x="([0-9.]+)"[^>]*text-anchor="end"[^>]*>([^<]*)</text>', svg)
    assert label and label.group(2) == long
    assert float(label.group(1)) >= len(long) * 6.5  # room for the whole name left of the bars


def test_refused_decision_keeps_input_and_navigation(client: TestClient, engine: Engine, users: ConsoleUsers) -> None:
    case_id, _ = held_image(engine, 904)
    csrf = sign_in(client, "reviewer")
    r = client.post(f"/console/cases/{case_id}/decide", data={
        "csrf_token": csrf, "outcome": "violating", "labels": [], "note": "looks like a logo only",
        "group": "example-group"})
    assert r.status_code == 422
    assert 'id="form-error"' in r.text and "behaviour label" in r.text
    assert 'value="looks like a logo only"' in r.text and 'value="example-group"' in r.text
    assert 'href="/console/dashboard"' in r.text  # navigation kept
    other = client.post("/console/cases/999999/take", data={"csrf_token": csrf})
    assert other.status_code == 404 and 'href="/console/dashboard"' in other.text


def test_unknown_console_addresses_answer_a_console_page_and_the_api_keeps_json(
        client: TestClient, engine: Engine, users: ConsoleUsers) -> None:
    sign_in(client, "reviewer")
    for path, status, code in (("/console/no-such-page", 404, "not_found"),
                               ("/console/cases/not-a-number", 422, "invalid_request"),
                               ("/console/cases/1/decide", 405, "method_not_allowed")):
        r = client.get(path)
        assert r.status_code == status and r.headers["content-type"].startswith("text/html"), (path, r.text)
        assert f'data-code="{code}"' in r.text and 'href="/console/dashboard"' in r.text, r.text  # navigation
        assert r.headers["x-frame-options"] == "DENY"
    client.cookies.clear()
    r = client.get("/console/no-such-page")
    assert r.status_code == 404 and "That did not work" in r.text and 'href="/console/dashboard"' not in r.text
    for path in ("/v1/no-such-endpoint", "/consoles", "/console"):
        r = client.get(path, follow_redirects=False)
        if r.status_code == 404:
            assert r.json()["code"] == "not_found", path


def test_queue_and_case_speak_in_banks_labels_and_ages(client: TestClient, engine: Engine,
                                                       users: ConsoleUsers) -> None:
    case_id, _ = held_image(engine, 905)
    sign_in(client, "reviewer")
    queue = client.get("/console/queue").text
    row = queue.split(f'data-case="{case_id}"')[1].split("</tr>")[0]
    assert "bank watch: Glorification" in row and "rule bank-" not in row
    age = re.search(r'<td class="age"[^>]*>([^<]*)</td>', row)
    assert age and re.fullmatch(r"just now|\d+ min", age.group(1)), row
    page = client.get(f"/console/cases/{case_id}").text
    assert "bank watch: Glorification" in page.split('id="case-reason"')[1].split("</strong>")[0]
    assert not HEX64.search(_main(page)) and "Technical details" in page


class _Selects(HTMLParser):
    """Every <select>, and whether a label names it (wrapping <label>, label[for], or aria-label)."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.for_ids: set[str] = set()
        self.selects: list[tuple[str | None, bool]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "label":
            self.depth += 1
            if a.get("for"):
                self.for_ids.add(str(a["for"]))
        elif tag == "select":
            self.selects.append((a.get("id"), bool(self.depth or a.get("aria-label"))))

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self.depth -= 1


def test_admin_pages_label_every_select_and_allow_banks_have_no_block_action(
        client: TestClient, engine: Engine, users: ConsoleUsers) -> None:
    engine.banks.create("fine", kind="allow")
    held_image(engine, 906)
    sign_in(client, "admin")
    for path in ("/console/admin/users", "/console/admin/keys", "/console/admin/banks", "/console/audit",
                 "/console/queue", "/console/preferences"):
        p = _Selects()
        p.feed(client.get(path).text)
        unlabelled = [sid for sid, ok in p.selects if not ok and sid not in p.for_ids]
        assert not unlabelled and (p.selects or path != "/console/admin/users"), (path, p.selects)
    banks = client.get("/console/admin/banks").text
    row = banks.split("<td>fine</td>")[1].split("</tr>")[0]
    assert "block" not in row and "allow" in row


def test_long_text_wraps() -> None:
    css = (Path(__file__).resolve().parent.parent / "src/seawall/web/static/console.css").read_text()
    rule = re.search(r"pre\.shielded-text\s*\{([^}]*)\}", css)
    assert rule and "white-space: pre-wrap" in rule.group(1) and "overflow-wrap: anywhere" in rule.group(1)


# --- media safety, enforced by the server -------------------------------------------------------------

def _reveal_url(page: str) -> str:
    m = re.search(r'src="(/console/reveals/[A-Za-z0-9_-]+)"', page)
    assert m, page
    return m.group(1)


def test_media_urls_never_serve_the_original_without_a_reveal(client: TestClient, engine: Engine,
                                                               users: ConsoleUsers) -> None:
    case_id, _ = held_image(engine, 907)
    original = review_service(engine).media(case_id)
    assert original is not None and original[0] == "image/jpeg"
    csrf = sign_in(client, "reviewer")
    page = client.get(f"/console/cases/{case_id}").text
    assert "/console/reveals/" not in page
    for path in [f"/console/cases/{case_id}/media", *re.findall(r'src="(/console/entries/\d+/thumbnail)"', page)]:
        got = client.get(path)
        assert got.status_code == 200 and got.content != original[1]
        with Image.open(io.BytesIO(got.content)) as img:
            assert img.mode == "L" and max(img.size) <= 480  # greyscale, small
    client.post(f"/console/cases/{case_id}/reveal", data={"csrf_token": csrf})
    url = _reveal_url(client.get(f"/console/cases/{case_id}").text)
    assert len(url.rsplit("/", 1)[1]) >= 40  # unguessable
    assert client.get(url).content == original[1]
    assert client.get(f"/console/cases/{case_id}/media").content != original[1]  # the plain URL stays shielded
    [entry] = review_service(engine).audit.query(action="media.reveal", object_id=str(case_id))
    assert entry.actor == "reviewer" and entry.detail["reveal_id"] and entry.detail["expires_at"]
    sign_in(client, "reviewer2")  # another reviewer cannot reuse it
    assert client.get(url).status_code == 404
    client.cookies.clear()
    assert client.get(url, follow_redirects=False).status_code == 303  # nor can a stranger
    sign_in(client, "reviewer")
    with engine.db.session() as s:
        s.execute(update(CaseRevealRow).values(expires_at=CaseRevealRow.created_at))
    assert client.get(url).status_code == 404  # and it expires
    assert "/console/reveals/" not in client.get(f"/console/cases/{case_id}").text


def test_video_is_shielded_as_a_keyframe_strip() -> None:
    from seawall.review.shield import shielded
    from tests.test_vpdq import encode_video, render

    video = encode_video(render(7, seconds=4))
    media_type, strip = shielded(video, "video/mp4")
    assert media_type == "image/jpeg" and strip != video
    with Image.open(io.BytesIO(strip)) as img:
        assert img.mode == "L" and img.width > 3 * img.height  # several frames side by side


def test_exposure_cap_break_prompt_and_leads_view(settings: Settings) -> None:
    """The cap and the break interval come from SEAWALL_REVEAL_DAILY_CAP and SEAWALL_REVEAL_BREAK_EVERY."""
    engines = engine_for(settings, reveal_daily_cap=3, reveal_break_every=2)
    engine = next(engines)
    try:
        make_users(engine)
        with TestClient(create_app(engine=engine, follow_writes=False)) as client:
            _capped_walk(client, engine)
    finally:
        engines.close()  # closes the engine even when the walk fails


def _capped_walk(client: TestClient, engine: Engine) -> None:
    ids = [held_image(engine, 910 + n)[0] for n in range(4)]
    csrf = sign_in(client, "reviewer")
    for case_id in ids[:2]:
        assert client.post(f"/console/cases/{case_id}/reveal", data={"csrf_token": csrf},
                           follow_redirects=False).status_code == 303
    prompt = client.post(f"/console/cases/{ids[2]}/reveal", data={"csrf_token": csrf})
    assert prompt.status_code == 200 and 'id="break-prompt"' in prompt.text
    assert "/console/reveals/" not in client.get(f"/console/cases/{ids[2]}").text  # nothing revealed yet
    r = client.post(f"/console/cases/{ids[2]}/reveal", data={"csrf_token": csrf, "after_break": "1"},
                    follow_redirects=False)
    assert r.status_code == 303
    capped = client.post(f"/console/cases/{ids[3]}/reveal", data={"csrf_token": csrf, "after_break": "1"})
    assert capped.status_code == 429 and "daily limit" in capped.text
    assert client.get("/console/exposure").status_code == 403  # reviewers do not see others' exposure
    sign_in(client, "senior")
    page = client.get("/console/exposure").text
    row = page.split('data-user="reviewer"')[1].split("</tr>")[0]
    assert re.search(r'class="exposure-today[^"]*">3<', row) and "<td>1</td>" in row
    assert "Daily limit 3; a break is suggested every 2 reveals" in page
    assert csrf_of(page)


def test_reveal_cap_and_break_interval_are_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    defaults = Settings(data_dir=tmp_path)
    assert (defaults.reveal_daily_cap, defaults.reveal_break_every) == (60, 15)
    monkeypatch.setenv("SEAWALL_REVEAL_DAILY_CAP", "25")
    monkeypatch.setenv("SEAWALL_REVEAL_BREAK_EVERY", "5")
    read = Settings(data_dir=tmp_path)
    assert (read.reveal_daily_cap, read.reveal_break_every) == (25, 5)
    for name in ("SEAWALL_REVEAL_DAILY_CAP", "SEAWALL_REVEAL_BREAK_EVERY"):
        monkeypatch.setenv(name, "0")
        with pytest.raises(ValueError, match=name.removeprefix("SEAWALL_").lower()):
            Settings(data_dir=tmp_path)
        monkeypatch.setenv(name, "5")


# --- speed and context ---------------------------------------------------------------------------------

def test_cluster_decision_decides_every_matching_case_each_audited(client: TestClient, engine: Engine,
                                                                   users: ConsoleUsers) -> None:
    ids = [held_image(engine, 920, content_id=f"copy-{n}", account=f"acct-{n}")[0] for n in range(3)]
    other, _ = held_image(engine, 921)  # different material: not in the cluster
    csrf = sign_in(client, "reviewer")
    page = client.get(f"/console/cases/{ids[0]}").text
    assert re.search(r'<strong id="cluster-count">2</strong>', page)
    assert 'name="labels" value="behaviour:glorification" checked' in page  # pre-filled from the bank entry
    r = client.post(f"/console/cases/{ids[0]}/decide", data={
        "csrf_token": csrf, "outcome": "violating", "labels": ["behaviour:glorification"], "remove": "1",
        "cluster": "1"})
    assert r.status_code == 200 and "for 3 cases" in r.text, r.text
    review = review_service(engine)
    for case_id in ids:
        assert review.get(case_id).status == "decided"
        assert review.audit.query(action="case.decide", object_id=str(case_id))
    assert review.get(other).status == "open"
    [summary] = review.audit.query(action="case.cluster_decide")
    assert sorted(summary.detail["decided"]) == sorted(ids)


def test_decision_opens_the_next_case_and_notes_and_account_timeline(client: TestClient, engine: Engine,
                                                                     users: ConsoleUsers) -> None:
    first, _ = held_image(engine, 930, account="acct-tl", content_id="tl-1")
    second, _ = held_image(engine, 931, account="acct-tl", content_id="tl-2")
    csrf = sign_in(client, "reviewer")
    r = client.post(f"/console/cases/{first}/notes", data={"csrf_token": csrf, "text": "seen this account before"},
                    follow_redirects=False)
    assert r.status_code == 303
    assert "seen this account before" in client.get(f"/console/cases/{first}").text
    r = client.post(f"/console/cases/{first}/decide", data={
        "csrf_token": csrf, "outcome": "violating", "labels": ["behaviour:glorification"], "strike": "1",
        "advance": "1"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/console/cases/{second}?decided={first}"
    timeline = client.get("/console/accounts/acct-tl").text
    events = timeline.split('id="timeline"')[1].split("</ol>")[0]
    assert "tl-1" in events and "tl-2" in events and "strike" in events
    assert f'href="/console/cases/{first}"' in events
    assert client.get("/console/accounts/nobody").status_code == 404
