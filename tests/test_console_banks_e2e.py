"""Banks in a real headless Chromium against a real ``seawall serve`` process: an admin creates a bank,
adds an entry by text and one by hash, finds the hash by searching, and deletes it with a reason; the
API then no longer matches it, the audit log holds the reason, and axe finds nothing serious on the
pages. A senior browses the same bank read-only. Refreshes docs/screenshots/bank.png. Hashes are random.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.processes import cli, running_server, seawall_env
from tests.test_console_e2e import BROWSER_ARGS, CHROMIUM, SHOTS, _axe_serious, _sign_in, _user, sync_api


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    env = seawall_env(tmp_path / "data")
    cli(["db", "upgrade"], env)
    _user(env, "ada", "admin")
    _user(env, "sam", "senior")
    with running_server(env) as base:
        yield base, env


def test_admin_builds_a_bank_in_chromium(server: tuple[str, dict[str, str]]) -> None:
    base, env = server
    key = cli(["apikey", "create", "--role", "admin"], env).strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {key}"}
    value = hashlib.md5(secrets.token_bytes(64)).hexdigest()
    text = f"generated slogan {secrets.token_hex(4)} repeated for the bank walkthrough"
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as pw, httpx.Client(timeout=60) as api:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        try:
            ada = _sign_in(browser, base, "ada")
            ada.click("#nav-banks")
            ada.wait_for_url("**/console/admin/banks")
            assert _axe_serious(ada) == []
            ada.get_by_label("Name (letters, digits").fill("e2e-list")
            ada.get_by_label("Description").fill("generated entries for the walkthrough")
            ada.get_by_label("Action on a match (block banks)").select_option("review")
            ada.get_by_label("Labels (comma-separated, e.g.").fill("behaviour:glorification")
            ada.get_by_role("button", name="Create bank").click()
            ada.wait_for_url("**/console/banks/e2e-list?notice=created")
            assert ada.locator("#notice").inner_text() == "Bank created."

            ada.get_by_label("Text to bank").fill(text)
            ada.locator("#add-text-labels").fill("behaviour:glorification")
            ada.get_by_role("button", name="Add text").click()
            assert "Added" in ada.locator("#added").inner_text()
            text_rows = ada.locator("#entries tbody tr[data-entry]").count()
            assert text_rows >= 1

            ada.get_by_label("Signal type").select_option("md5")
            ada.locator("#add-hash-value").fill(value)
            ada.locator("#add-hash-source").fill("walkthrough")
            ada.get_by_role("button", name="Add hash").click()
            assert "(md5)" in ada.locator("#added").inner_text()
            assert ada.locator("#entries tbody tr[data-entry]").count() == text_rows + 1
            assert api.get(f"{base}/v1/lookup", params={"signal_type": "md5", "value": value},
                           headers=headers).json()["matches"][0]["bank"] == "e2e-list"
            assert _axe_serious(ada) == []
            ada.screenshot(path=str(SHOTS / "bank.png"), full_page=True)

            ada.get_by_label("Find by hash, value or label").fill(value[:10])
            ada.get_by_role("button", name="Search").click()
            ada.wait_for_url(f"**/console/banks/e2e-list?q={value[:10]}")
            rows = ada.locator("#entries tbody tr[data-entry]")
            assert rows.count() == 1 and value[:40] in rows.inner_text()
            rows.locator("a").click()
            ada.wait_for_url("**/console/banks/e2e-list/entries/*")
            assert ada.locator("#entry-value").inner_text() == value
            assert _axe_serious(ada) == []

            sam = _sign_in(browser, base, "sam")  # a lead sees the entry, without the forms
            sam.goto(ada.url)
            assert sam.locator("#entry-value").inner_text() == value and sam.locator("#delete-entry").count() == 0

            ada.get_by_label("Reason (required").fill("added to the wrong bank during the walkthrough")
            ada.get_by_role("button", name="Delete entry").click()
            ada.wait_for_url("**/console/banks/e2e-list?notice=deleted")
            assert ada.locator("#entries tbody tr[data-entry]").count() == text_rows
            ada.get_by_label("Find by hash, value or label").fill(value)
            ada.get_by_role("button", name="Search").click()
            assert "No entry matches" in ada.locator("#entries").inner_text()
            assert api.get(f"{base}/v1/lookup", params={"signal_type": "md5", "value": value},
                           headers=headers).json()["matches"] == []
            ada.goto(f"{base}/console/audit?action=bank.entry_delete")
            assert "added to the wrong bank during the walkthrough" in ada.content()
        finally:
            browser.close()
