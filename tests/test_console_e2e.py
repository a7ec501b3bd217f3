"""The review console in a real headless Chromium against a real ``seawall serve`` process.

Sign in, see the case's media shielded, reveal it, decide violating into a block bank, then a
re-encoded copy uploaded through the API is blocked; a reviewer cannot open the audit log.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import encode, textured_image
from tests.test_server import cli, free_port

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
PASSWORD = "correct horse battery"

sync_api = pytest.importorskip("playwright.sync_api")
if not shutil.which(CHROMIUM):
    pytest.skip("Debian chromium is not installed (apt-get install -y chromium)", allow_module_level=True)


def _user(env: dict[str, str], name: str, role: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "seawall", "user", "create", name, "--role", role], env=env,
                          input=PASSWORD + "\n", capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEAWALL_")}
    port = free_port()
    env.update(SEAWALL_DATA_DIR=str(tmp_path / "data"), SEAWALL_PORT=str(port), SEAWALL_HOST="127.0.0.1")
    cli(["db", "upgrade"], env)
    _user(env, "sam", "senior")
    _user(env, "rita", "reviewer")
    proc = subprocess.Popen([sys.executable, "-m", "seawall", "serve"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {proc.stdout.read().decode() if proc.stdout else ''}")
            time.sleep(0.1)
        yield base, env
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


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
