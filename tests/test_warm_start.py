"""Warm start: readiness follows the warm-up, and light CLI commands stay light (what they import, not how fast)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, text

from seawall.api.app import create_app
from seawall.api.serving_group import PROCESSES_ENV, READY_DIR_ENV, ServingGroup
from seawall.composition import build_engine
from seawall.config import Settings
from seawall.engine import Engine

from .clocks import eventually

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


def _compiled(engine: Engine) -> set[object]:
    """The statements this engine's store connection has compiled so far (SQLAlchemy's compiled cache)."""
    return set(engine.db.engine._compiled_cache.keys())


def _stored(engine: Engine) -> dict[str, int]:
    with engine.db.session() as s:
        return {t: int(s.scalar(text(f"SELECT count(*) FROM {t}")) or 0)
                for t in ("items", "item_uploads", "item_content", "decisions", "actions", "webhook_events")}


def test_warm_up_runs_the_first_uploads_statements_and_stores_nothing(engine: Engine) -> None:
    """After the warm-up, a key's first check and a first text upload compile no statement of their own
    (the key lookup, the item, decision and kept-content INSERTs were run once, rolled back)."""
    key, principal = engine.api_keys.create("submitter", "first")
    timings = engine.warm_up()
    assert {"connections", "api_key", "rehearse", "committer"} <= set(timings)
    assert set(_stored(engine).values()) == {0}
    # the thread that commits writes of uploads decided on the event loop is running (it ends when idle)
    assert "seawall-group-commit" in {t.name for t in threading.enumerate()}
    compiled = _compiled(engine)
    assert engine.api_keys.authenticate(key) == principal
    item = engine.submit(engine.content("text", text="notice 1 about the weekend market"), content_id="first",
                         submitted_by=principal.key_id)
    kept = engine.submit(engine.content("text", text="notice 2 about the weekend market"), content_id="kept",
                         submitted_by=principal.key_id, keep=True)
    new = [str(c) for k, c in engine.db.engine._compiled_cache.items() if k not in compiled]
    assert not new, f"compiled by the first upload, not by the warm-up: {new}"
    assert _stored(engine)["items"] == 2 and item.id != kept.id


def test_a_rehearsed_upload_is_decided_and_rolled_back(engine: Engine) -> None:
    item = engine.items.rehearse(engine.content("text", text="notice about the weekend market and ferry times"))
    assert item.status == "complete" and item.verdict.verdict == "allow"
    assert set(_stored(engine).values()) == {0}
    assert engine.items.writes.stats().regrouped_failures == 0


def test_serving_group_from_the_environment(tmp_path: Path) -> None:
    assert ServingGroup.from_environ({}) is None
    assert ServingGroup.from_environ({READY_DIR_ENV: str(tmp_path), PROCESSES_ENV: "1"}) is None
    env: dict[str, str] = {}
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / str(os.getpid())).touch()  # an earlier run's mark
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    (tmp_path / f"serve-{int(gone.stdout)}").mkdir()  # a server killed before it could clean up
    (tmp_path / f"serve-{os.getpid()}").mkdir()  # one still running
    group = ServingGroup(tmp_path / "run", 2)
    group.prepare(env)
    assert ServingGroup.from_environ(env) == group
    assert group.ready_processes() == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", f"serve-{os.getpid()}"]


def test_readiness_waits_for_every_server_process(engine: Engine, tmp_path: Path) -> None:
    app = create_app(engine=engine, follow_writes=False)
    group = ServingGroup(tmp_path / "run", 2)
    group.prepare({})
    app.state.serving_group = group
    client = TestClient(app)  # no lifespan: readiness is set by hand below
    engine.ready.set()
    assert client.get("/readyz").status_code == 503
    group.mark_ready()
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json()["message"] == "1 of 2 server processes have warmed up"
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    group.mark_ready(int(gone.stdout))  # a process that has ended (uvicorn starts another) does not count
    assert client.get("/readyz").status_code == 503
    group.mark_ready(os.getppid())
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json()["status"] == "ready"


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


def test_warm_up_starts_the_background_threads_and_worker_processes(engine: Engine) -> None:
    """The stage-2 queue's threads and worker processes are running before the server says ready, not
    started by the first image uploads."""
    engine.start_workers()
    slow = engine.items.slow_processes
    assert slow is not None
    jobs = slow.jobs
    timings = engine.warm_up()
    assert "background" in timings
    workers = [t for t in threading.enumerate() if t.name.startswith("seawall-worker")]
    assert len(workers) == engine.settings.workers
    assert len(slow.pids()) == slow.processes
    assert slow.jobs == jobs  # the warm-up's jobs are not uploads


def test_readiness_includes_the_api_keys_snapshot(settings: Settings) -> None:
    """A key's first request on a server that says ready reads no key row (the warm-up's snapshot answers);
    a key revoked by another process is refused as soon as the snapshot is older than the recheck time."""
    engine = build_engine(settings.model_copy(update={"warm_up": True}))
    try:
        key, principal = engine.api_keys.create("submitter", "first")
        with TestClient(create_app(engine=engine)) as client:  # lifespan: warm-up and background refresh
            assert engine.ready.wait(300)
            assert client.get("/readyz").status_code == 200
            reads: list[str] = []
            event.listen(engine.db.engine, "before_cursor_execute",
                         lambda _c, _cur, statement, *_: reads.append(statement) if "FROM api_keys" in statement
                         else None)
            r = client.post("/v1/items", json={"content_id": "first", "text": "notice about the weekend market"},
                            headers={"Authorization": f"Bearer {key}"})
            assert r.status_code == 200
            assert not [s for s in reads if "WHERE api_keys.key_id" in s]  # no lookup of the key itself
            other = build_engine(settings, migrate=False)  # another process of the same store
            try:
                other.api_keys.revoke(principal.key_id)
            finally:
                other.close()
            assert eventually(lambda: client.post(
                "/v1/items", json={"content_id": "after", "text": "notice about the weekend market"},
                headers={"Authorization": f"Bearer {key}"}).status_code == 401, timeout=10)
    finally:
        engine.close()


def test_each_routes_first_call_is_prepared_before_serving(engine: Engine) -> None:
    """FastAPI's per-endpoint source lookup (for its error messages) runs at start-up, not in a first request."""
    from fastapi import routing

    cache = getattr(routing, "_endpoint_context_cache", None)
    assert cache is not None, "the pinned FastAPI looks endpoints up on their first call; see prime_endpoint_contexts"
    app = create_app(engine=engine, follow_writes=False)
    endpoints = [r.dependant.call for r in app.routes if getattr(r, "dependant", None) is not None]
    for call in endpoints:  # the cache is the process's: other tests' requests may have filled it
        cache.pop(id(call), None)
    with TestClient(app):
        assert endpoints and all(id(call) in cache for call in endpoints)
