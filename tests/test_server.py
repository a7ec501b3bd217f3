"""``seawall serve`` as a real process on a free loopback port, always stopped afterwards."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.processes import cli, running_server, seawall_env


@pytest.fixture(params=[1, 2], ids=["one-process", "two-processes"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    env = seawall_env(tmp_path / "data", SEAWALL_API_WORKERS=str(request.param))
    with running_server(env) as base:
        yield base, env


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
