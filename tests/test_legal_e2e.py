"""A removal order walked through the console in a real headless Chromium against a real ``seawall serve``:
the authority's e-mail text is read into the intake form, the order is recorded (receipt time from the
server), the located item is removed at once through the remove action, and the Annex II feedback is
downloaded — all within the hour, with the clock log on the page."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.legal_support import pdf_text
from tests.processes import cli, running_server, seawall_env

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "correct horse battery"
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run"]

if not shutil.which(CHROMIUM):  # a browser test without a browser proves nothing
    raise RuntimeError("Debian chromium is not installed: apt-get install -y chromium")
from playwright import sync_api  # noqa: E402

EMAIL = """Issuing Member State: DE
Order reference number: BKA-E2E-1
Date and time of issuing: 2026-12-01 08:00 UTC
Name of the issuing authority: Bundeskriminalamt
URL: https://social.example/posts/post-e2e-777
[x] Article 2(7)(e): threat to commit a terrorist offence
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    env = seawall_env(tmp_path / "data", SEAWALL_LEGAL_PROVIDER_NAME="Example Hosting Ltd")
    cli(["db", "upgrade"], env)
    cli(["user", "create", "rita", "--role", "reviewer"], env, stdin=PASSWORD + "\n")
    with running_server(env) as base:
        yield base, env


def test_order_from_email_text_to_removal_to_annex_ii_in_chromium(server: tuple[str, dict[str, str]]) -> None:
    base, env = server
    key = cli(["apikey", "create", "--role", "admin"], env).strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {key}"}
    api = httpx.Client(timeout=60)
    up = api.post(f"{base}/v1/items", headers=headers, json={"content_id": "post-e2e-777", "account_id": "acct-e",
                                                             "text": "a generated post", "keep": True})
    assert up.status_code == 200, up.text
    item_id = up.json()["id"]
    before = datetime.now(UTC)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page.goto(f"{base}/console/login")
            page.fill("input[name=username]", "rita")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url("**/console/queue")
            page.click("text=Removal orders")
            page.fill("textarea[name=text]", EMAIL)
            page.click("text=Read fields")
            assert page.input_value("input[name=reference]") == "BKA-E2E-1"
            assert page.input_value("textarea[name=urls]") == "https://social.example/posts/post-e2e-777"
            assert page.is_checked("input[name=reason_threat]")
            page.check("input[name=signed]")
            page.fill("input[name=redress_body]", "Verwaltungsgericht Wiesbaden")
            page.click("text=Record order and start the hour")
            page.wait_for_selector("#order-status")
            assert page.locator("#order-status").inner_text() == "removed"
            assert "within the hour" in page.locator(".stat").nth(4).inner_text()
            assert item_id in page.content()
            with page.expect_download() as dl:
                page.click("#annex-ii")
            pdf = Path(dl.value.path()).read_bytes()
            page.goto(f"{base}/console/removal-orders")
            assert page.locator("#orders td.status").first.inner_text() == "removed"
        finally:
            browser.close()
    assert "BKA-E2E-1" in pdf_text(pdf) and "Example Hosting Ltd" in pdf_text(pdf)
    [order] = api.get(f"{base}/v1/removal-orders", headers=headers).json()
    received = datetime.fromisoformat(order["received_at"])
    assert before <= received <= datetime.now(UTC) and order["received_via"] == "console"
    assert api.get(f"{base}/v1/items/{item_id}", headers=headers).json()["verdict"] == "block"
