"""The review console in a real headless Chromium against a real ``seawall serve`` process.

Sign in, see the case's media shielded, reveal it, decide violating into a block bank, then a
re-encoded copy uploaded through the API is blocked; a reviewer cannot open the audit log.
"""

from __future__ import annotations

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
    with running_server(env) as base:
        yield base, env


def test_review_flow_in_chromium(server: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    base, env = server
    key = cli(["apikey", "create", "--role", "admin"], env).strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {key}"}
    img = textured_image(4242)
    original = encode(img, quality=95)
    for bank in ({"name": "watch", "default_action": "review"}, {"name": "known"}):
        assert httpx.post(f"{base}/v1/banks", json=bank, headers=headers).status_code in (200, 201)
    r = httpx.post(f"{base}/v1/banks/watch/entries", headers=headers, data={"labels": "behaviour:glorification"},
                   files={"file": ("o.jpg", original, "image/jpeg")})
    assert r.status_code in (200, 201), r.text
    up = httpx.post(f"{base}/v1/items", headers=headers, data={"content_id": "post-1"},
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
            assert "blur" in media.evaluate("e => getComputedStyle(e).filter")
            assert "grayscale" in media.evaluate("e => getComputedStyle(e).filter")
            page.screenshot(path=str(SHOTS / "case-shielded.png"))
            page.click("#reveal")
            page.wait_for_load_state()
            assert page.locator("[data-testid=media]").evaluate("e => getComputedStyle(e).filter") == "none"
            assert page.locator("#exposure").inner_text() == "1"
            page.check("input[value='behaviour:glorification']")
            page.select_option("#block_bank", "known")
            page.screenshot(path=str(SHOTS / "case-revealed.png"), full_page=True)
            page.click("#decide-violating")
            page.wait_for_selector("#decided")
            assert "entr" in page.locator("#decided").inner_text()

            reencoded = encode(img.resize((600, 450)), quality=60)
            assert reencoded != original
            again = httpx.post(f"{base}/v1/items", headers=headers, data={"content_id": "post-2"},
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
