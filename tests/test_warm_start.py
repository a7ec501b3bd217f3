"""Warm start: readiness follows the warm-up, and light CLI commands stay light (what they import, not how fast)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from seawall.api.app import create_app
from seawall.engine import Engine

SRC = str(Path(__file__).resolve().parents[1] / "src")


def test_readiness_follows_the_warm_up(engine: Engine) -> None:
    client = TestClient(create_app(engine=engine, follow_writes=False))  # no lifespan: nothing warms up
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json()["code"] == "warming_up"
    assert client.get("/healthz").json()["ready"] is False
    timings = engine.warm_up()
    assert {"language_model", "stage_one", "match_kernels", "ocr"} <= set(timings)
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json()["status"] == "ready"
    assert client.get("/healthz").json()["ready"] is True
    from seawall.media import language

    assert language._identifier is not None  # the model is loaded, not left for the first upload


_PROBE = """
import sys
from seawall.cli import app
try:
    app(sys.argv[1:], standalone_mode=False)
finally:
    heavy = sorted(m for m in ("numba", "fastapi", "av", "PIL", "alembic", "tldextract", "pdqhash")
                   if m in sys.modules)
    sys.stderr.write("HEAVY " + " ".join(heavy) + "\\n")
"""


def _light(tmp_path: Path, *args: str) -> tuple[str, list[str]]:
    env = {**os.environ, "PYTHONPATH": SRC, "SEAWALL_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run([sys.executable, "-c", _PROBE, *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    heavy = [line for line in done.stderr.splitlines() if line.startswith("HEAVY")][-1].split()[1:]
    return done.stdout, heavy


@pytest.mark.slow  # starts a fresh interpreter per command
def test_light_commands_do_not_import_the_engine(tmp_path: Path) -> None:
    _light(tmp_path, "bank", "list")  # creates the store (this run may import Alembic)
    out, heavy = _light(tmp_path, "bank", "list", "--json")
    assert json.loads(out) == [] and heavy == []
    out, heavy = _light(tmp_path, "apikey", "create", "--role", "submitter")
    assert out.strip().startswith("sw_") or len(out.strip()) > 20
    assert heavy == []
    _, heavy = _light(tmp_path, "--help")
    assert heavy == []
