"""The review console in a real headless Chromium against a real ``seawall serve`` process.

Sign in, see the case's media shielded, reveal it, decide violating into a block bank, then a
re-encoded copy uploaded through the API is blocked; a reviewer cannot open the audit log.
Appeals: a senior decides violating (remove + strike), the user appeals through the API, the same
senior is refused, a second senior upholds it, and the API shows the item restored and the strike
withdrawn; the dashboard draws its charts; a reviewer cannot reach the admin pages.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import encode, textured_image
from tests.processes import cli, running_server, seawall_env

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
PASSWORD = "correct horse battery"

if not shutil.which(CHROMIUM):  # installed by .ci/run; a browser test without a browser proves nothing
    raise RuntimeError("Debian chromium is not installed: apt-get install -y chromium")
from playwright import sync_api  # noqa: E402


def _user(env: dict[str, str], name: str, role: str) -> None:
    cli(["user", "create", name, "--role", role], env, stdin=PASSWORD + "\n")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    env = seawall_env(tmp_path / "data")
    cli(["db", "upgrade"], env)
    _user(env, "sam", "senior")
    _user(env, "rita", "reviewer")
    _user(env, "bea", "senior")
    with running_server(env) as base:
        yield base, env


BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run"]


def _sign_in(browser: sync_api.Browser, base: str, name: str) -> sync_api.Page:
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(f"{base}/console/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/console/queue")
    return page


def test_appeal_flow_and_dashboard_in_chromium(server: tuple[str, dict[str, str]]) -> None:
    base, env = server
    key = cli(["apikey", "create", "--role", "admin"], env).strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {key}"}
    api = httpx.Client(timeout=60)  # a loaded machine can be slow on the first argon2 key check
    data = encode(textured_image(777), quality=90)
    assert api.post(f"{base}/v1/banks", json={"name": "watch", "default_action": "review"},
                      headers=headers).status_code == 201
    r = api.post(f"{base}/v1/banks/watch/entries", headers=headers, data={"labels": "behaviour:glorification"},
                   files={"file": ("o.jpg", data, "image/jpeg")})
    assert r.status_code in (200, 201), r.text
    up = api.post(f"{base}/v1/items", headers=headers, data={"content_id": "post-9", "account_id": "acct-e2e",
                                                               "reach": "25000"},
                    files={"file": ("o.jpg", data, "image/jpeg")})
    item_id = up.json()["id"]
    assert up.json()["verdict"] == "review", up.text

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        try:
            sam = _sign_in(browser, base, "sam")
            sam.click("table.queue a")
            sam.check("input[value='behaviour:glorification']")
            sam.check("#act-remove")
            sam.check("#act-strike")
            sam.click("#decide-violating")
            sam.wait_for_selector("#actions-done")
            assert "strike: done" in sam.locator("#actions-done").inner_text()
            account = api.get(f"{base}/v1/accounts/acct-e2e", headers=headers).json()
            assert account["active_strikes"] == 1
            assert api.get(f"{base}/v1/items/{item_id}", headers=headers).json()["verdict"] == "block"

            appeal = api.post(f"{base}/v1/appeals", headers=headers, json={
                "item_id": item_id, "statement": "This is footage from my own news report."})
            assert appeal.status_code == 201, appeal.text
            appeal_id, case_id = appeal.json()["id"], appeal.json()["case_id"]

            sam.goto(f"{base}/console/cases/{case_id}")
            assert "own news report" in sam.locator("#appeal-statement").inner_text()
            sam.click("#appeal-uphold")
            sam.wait_for_selector("p.error")
            assert "different reviewer" in sam.locator("p.error").inner_text()
            assert api.get(f"{base}/v1/appeals/{appeal_id}", headers=headers).json()["status"] == "received"

            bea = _sign_in(browser, base, "bea")
            bea.goto(f"{base}/console/queue?queue=senior")
            bea.click(f"a[href='/console/cases/{case_id}']")
            assert bea.locator("#case-kind").inner_text() == "appeal"
            assert bea.locator("#contested-by").inner_text() == "sam"
            media = bea.locator("[data-testid=media]")
            sync_api.expect(media).to_have_css("filter", re.compile("blur"))  # once the stylesheet applies
            bea.screenshot(path=str(SHOTS / "appeal-case.png"), full_page=True)
            bea.click("#appeal-uphold")
            bea.wait_for_selector("#decided")
            assert "reversed" in bea.locator("#decided").inner_text()

            out = api.get(f"{base}/v1/appeals/{appeal_id}", headers=headers).json()
            assert out["outcome"] == "upheld" and out["reversal"]["item_restored"]
            assert api.get(f"{base}/v1/items/{item_id}", headers=headers).json()["verdict"] == "allow"
            account = api.get(f"{base}/v1/accounts/acct-e2e", headers=headers).json()
            assert account["active_strikes"] == 0 and not account["strikes"][0]["active"]

            waiting = api.post(f"{base}/v1/items", headers=headers, data={"content_id": "post-10"},
                               files={"file": ("o.jpg", data, "image/jpeg")})
            assert waiting.json()["verdict"] == "review"
            bea.goto(f"{base}/console/dashboard")
            assert bea.locator("#open-total").inner_text() == "1"
            assert bea.locator("svg.chart").count() == 3
            assert bea.locator("#decided-total").inner_text() == "2"
            assert bea.locator("svg.bar-chart rect").count() >= 4
            bea.screenshot(path=str(SHOTS / "dashboard.png"), full_page=True)

            rita = _sign_in(browser, base, "rita")
            for path in ("/console/admin/users", "/console/admin/keys", "/console/admin/banks"):
                resp = rita.goto(f"{base}{path}")
                assert resp is not None and resp.status == 403
            assert rita.locator("#nav-users").count() == 0
        finally:
            browser.close()
            api.close()


def test_review_flow_in_chromium(server: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    base, env = server
    key = cli(["apikey", "create", "--role", "admin"], env).strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {key}"}
    api = httpx.Client(timeout=60)
    img = textured_image(4242)
    original = encode(img, quality=95)
    for bank in ({"name": "watch", "default_action": "review"}, {"name": "known"}):
        assert api.post(f"{base}/v1/banks", json=bank, headers=headers).status_code in (200, 201)
    r = api.post(f"{base}/v1/banks/watch/entries", headers=headers, data={"labels": "behaviour:glorification"},
                   files={"file": ("o.jpg", original, "image/jpeg")})
    assert r.status_code in (200, 201), r.text
    up = api.post(f"{base}/v1/items", headers=headers, data={"content_id": "post-1"},
                    files={"file": ("o.jpg", original, "image/jpeg")})
    assert up.json()["verdict"] == "review", up.text

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{base}/console/login")
            page.screenshot(path=str(SHOTS / "login.png"))
            page.fill("input[name=username]", "sam")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url("**/console/queue")
            page.screenshot(path=str(SHOTS / "queue.png"))
            page.click("table.queue a")
            media = page.locator("[data-testid=media]")
            sync_api.expect(media).to_have_css("filter", re.compile("blur.*grayscale|grayscale.*blur"))
            page.screenshot(path=str(SHOTS / "case-shielded.png"))
            page.click("#reveal")
            page.wait_for_load_state()
            sync_api.expect(page.locator("[data-testid=media]")).to_have_css("filter", "none")
            assert page.locator("#exposure").inner_text() == "1"
            page.check("input[value='behaviour:glorification']")
            page.select_option("#block_bank", "known")
            page.screenshot(path=str(SHOTS / "case-revealed.png"), full_page=True)
            page.click("#decide-violating")
            page.wait_for_selector("#decided")
            assert "entr" in page.locator("#decided").inner_text()

            reencoded = encode(img.resize((600, 450)), quality=60)
            assert reencoded != original
            again = api.post(f"{base}/v1/items", headers=headers, data={"content_id": "post-2"},
                               files={"file": ("c.jpg", reencoded, "image/jpeg")})
            assert again.json()["verdict"] == "block", again.text

            rita = browser.new_page(viewport={"width": 1280, "height": 900})
            rita.goto(f"{base}/console/login")
            rita.fill("input[name=username]", "rita")
            rita.fill("input[name=password]", PASSWORD)
            rita.click("button[type=submit]")
            rita.wait_for_url("**/console/queue")
            resp = rita.goto(f"{base}/console/audit")
            assert resp is not None and resp.status == 403
        finally:
            browser.close()
            api.close()
    # the audit page as an admin sees it, for the README
    _user(env, "ada", "admin")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu",
                                                                      "--disable-background-networking",
                                                                      "--disable-component-update", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{base}/console/login")
            page.fill("input[name=username]", "ada")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url("**/console/queue")
            page.goto(f"{base}/console/audit")
            assert "case.decide" in page.content()
            page.screenshot(path=str(SHOTS / "audit.png"))
        finally:
            browser.close()


AXE = Path(__file__).resolve().parent / "assets" / "axe-4.14.1.min.js"


def _axe_serious(page: sync_api.Page) -> list[str]:
    """axe-core (served from the test's own copy, never a CDN) run over the page: serious or worse.

    The script is answered by the test itself at a same-origin URL, so the console's Content-Security-
    Policy (scripts from 'self' only) stays in force while axe runs.
    """
    page.route("**/__axe__.js", lambda route: route.fulfill(path=str(AXE), content_type="application/javascript"))
    origin = page.evaluate("location.origin")
    page.add_script_tag(url=f"{origin}/__axe__.js")
    found = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
                          ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
                          ".map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).slice(0, 3).join(', '))")
    return list(found)


def test_keyboard_walkthrough_reports_cluster_reveal_and_accessibility(server: tuple[str, dict[str, str]]) -> None:
    """A reviewer works a user report and a cluster with the keyboard alone; axe finds nothing serious."""
    base, env = server
    key = cli(["apikey", "create", "--role", "admin"], env).strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {key}"}
    api = httpx.Client(timeout=60)
    data = encode(textured_image(4343), quality=90)
    assert api.post(f"{base}/v1/banks", json={"name": "watch", "default_action": "review",
                                             "labels": ["behaviour:glorification"]},
                    headers=headers).status_code == 201
    r = api.post(f"{base}/v1/banks/watch/entries", headers=headers, data={"source": "partner list"},
                 files={"file": ("o.jpg", data, "image/jpeg")})
    assert r.status_code in (200, 201), r.text
    items = []
    for n in range(3):
        up = api.post(f"{base}/v1/items", headers=headers, data={"content_id": f"copy-{n}", "account_id": f"a-{n}"},
                      files={"file": ("o.jpg", data, "image/jpeg")})
        assert up.json()["verdict"] == "review", up.text
        items.append(up.json()["id"])
    long_text = "A long post that must wrap. " * 120 + "END-OF-POST"
    text_item = api.post(f"{base}/v1/items", headers=headers, json={
        "content_id": "threat-1", "account_id": "acct-t", "text": long_text, "keep": True}).json()["id"]
    r = api.post(f"{base}/v1/reports", headers=headers, json={"item_id": text_item,
                                                              "category": "imminent-credible-threat"})
    assert r.status_code == 201, r.text

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        try:
            rita = _sign_in(browser, base, "rita")
            assert _axe_serious(rita) == []
            rita.screenshot(path=str(SHOTS / "queue.png"), full_page=True)
            rita.wait_for_selector("html[data-keys=on]")
            rita.keyboard.press("g")  # the most urgent case: the threat report, though it has no reach
            sync_api.expect(rita.locator("#case-kind")).to_have_text("report")
            post = rita.locator("[data-testid=media]")
            assert "END-OF-POST" in post.inner_text()
            # the console's stylesheet may still be loading when the case text is in the page: wait for its
            # wrapping rule to apply, then check that the long text wraps inside the box
            sync_api.expect(post).to_have_css("white-space", "pre-wrap")
            assert post.evaluate("e => e.scrollWidth <= e.clientWidth + 1")  # long text wraps
            assert _axe_serious(rita) == []
            rita.keyboard.press("t")
            rita.wait_for_selector("#release")
            rita.wait_for_selector("html[data-keys=on]")  # the shortcuts of the page that shows #release
            rita.keyboard.press("n")
            assert rita.evaluate("document.activeElement.id") == "decide-not-violating"
            rita.keyboard.press("Enter")  # two presses, and the next case opens by itself
            sync_api.expect(rita.locator("#case-kind")).to_have_text("review")
            rita.wait_for_selector("html[data-keys=on]")
            assert "decided" in rita.locator("p.ok").inner_text()
            media = rita.locator("[data-testid=media]")
            src = media.get_attribute("src") or ""
            assert src.endswith("/media")
            sync_api.expect(media).to_have_css("filter", re.compile("blur"))  # once the stylesheet applies
            shielded = api.get(f"{base}{src}", headers={"Cookie": _cookie(rita)}).content
            assert shielded != data  # the plain media URL is a rendition, even outside the page
            assert rita.locator(".entry-labels").first.inner_text() == "behaviour:glorification"
            assert "partner list" in rita.locator(".entry-origin").first.inner_text()
            assert rita.locator("#cluster-count").inner_text() == "2"
            rita.screenshot(path=str(SHOTS / "case-shielded.png"), full_page=True)
            rita.keyboard.press("r")
            rita.wait_for_selector("img.revealed[data-testid=media]")
            revealed = rita.locator("[data-testid=media]").get_attribute("src") or ""
            assert "/console/reveals/" in revealed
            assert rita.locator("#exposure").inner_text() == "1"
            assert _axe_serious(rita) == []
            rita.screenshot(path=str(SHOTS / "case-revealed.png"), full_page=True)
            rita.wait_for_selector("html[data-keys=on]")
            rita.check("#cluster")
            rita.keyboard.press("v")
            rita.keyboard.press("Enter")
            rita.wait_for_selector("#decided")
            assert "3 cases" in rita.locator("#decided").inner_text()
            for item in items:
                assert api.get(f"{base}/v1/items/{item}", headers=headers).json()["verdict"] == "block"

            sam = _sign_in(browser, base, "sam")
            sam.goto(f"{base}/console/exposure")
            assert sam.locator("tr[data-user=rita] .exposure-today").inner_text() == "1"
            assert _axe_serious(sam) == []
            sam.screenshot(path=str(SHOTS / "exposure.png"), full_page=True)
            sam.goto(f"{base}/console/accounts/a-0")
            assert "copy-0" in sam.locator("#timeline").inner_text()
            assert _axe_serious(sam) == []
            sam.screenshot(path=str(SHOTS / "account.png"), full_page=True)
            # a stranger with the reveal link gets nothing
            stranger = api.get(f"{base}{revealed}", follow_redirects=False)
            assert stranger.status_code == 303
        finally:
            browser.close()
            api.close()


def _cookie(page: sync_api.Page) -> str:
    return "; ".join(f"{c['name']}={c['value']}" for c in page.context.cookies())
