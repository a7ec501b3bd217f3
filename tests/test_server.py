"""``seawall serve`` as a real process on a free loopback port, always stopped afterwards."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def cli(args: list[str], env: dict[str, str]) -> str:
    proc = subprocess.run([sys.executable, "-m", "seawall", *args], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(params=[1, 2], ids=["one-process", "two-processes"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEAWALL_")}
    port = free_port()
    env.update(SEAWALL_DATA_DIR=str(tmp_path / "data"), SEAWALL_PORT=str(port), SEAWALL_HOST="127.0.0.1",
               SEAWALL_API_WORKERS=str(request.param))
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
                out = proc.stdout.read().decode() if proc.stdout else ""
                raise RuntimeError(f"server did not start: {out}")
            time.sleep(0.1)
        yield base, env
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_serves_and_follows_writes_from_other_processes(server: tuple[str, dict[str, str]],
                                                        tmp_path: Path) -> None:
    base, env = server
    key = cli(["apikey", "create", "--role", "admin"], env).strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {key}"}
    assert httpx.get(f"{base}/healthz").json()["status"] == "ok"
    assert httpx.get(f"{base}/").status_code == 200
    cli(["bank", "create", "partner"], env)
    value = secrets.token_hex(32)
    listing = tmp_path / "l.txt"
    listing.write_text(f"pdq {value}\n")
    cli(["bank", "import", "partner", str(listing)], env)  # written by another process
    deadline = time.monotonic() + 5
    matches: list[object] = []
    while time.monotonic() < deadline and not matches:
        r = httpx.get(f"{base}/v1/lookup", params={"signal_type": "pdq", "value": value}, headers=headers)
        assert r.status_code == 200
        matches = r.json()["matches"]
        time.sleep(0.1)
    assert matches, "an entry imported by the CLI never became matchable in the running server"
    # a hash added through the API is matchable on every server process within a second
    fresh = secrets.token_hex(32)
    r = httpx.post(f"{base}/v1/banks/partner/entries", json={"signal_type": "pdq", "value": fresh}, headers=headers)
    assert r.status_code == 201
    time.sleep(1.0)
    for _ in range(20):
        got = httpx.get(f"{base}/v1/lookup", params={"signal_type": "pdq", "value": fresh}, headers=headers)
        assert got.json()["matches"], "a process did not see the new entry within a second"
    metrics = httpx.get(f"{base}/metrics").text
    assert 'seawall_index_entries{signal_type="pdq"} 2.0' in metrics
    assert "process_resident_memory_bytes" in metrics
