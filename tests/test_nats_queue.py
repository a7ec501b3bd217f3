"""The JetStream queue in one process (real NATS on 127.0.0.1:4222), index freshness across commits, plugin hooks.

Multi-process behaviour (several API nodes and workers, crashes, restarts) is in test_scaleout.py.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from seawall.api.app import create_app
from seawall.builtin import register
from seawall.composition import build_engine
from seawall.config import Settings
from seawall.plugins import PluginError, Registry, configured_hooks
from seawall.queue.nats import NatsQueue, NatsQueueConfig
from seawall.store.tables import BankEntryRow, BankRow, value_digest

from . import scaleout_plugin
from .clocks import SteppedClock, eventually
from .conftest import _truncate, auth

NATS_URL = "nats://127.0.0.1:4222"


def _prefix() -> str:
    return f"swtest_{uuid.uuid4().hex[:10]}"


def _wait(cond: Callable[[], object], timeout: float = 15.0) -> None:
    eventually(cond, timeout)


@pytest.mark.slow  # a JetStream worker waiting out real acknowledgement deadlines
def test_jobs_are_retried_then_dead_lettered_and_setup_is_idempotent() -> None:
    cfg = NatsQueueConfig(url=NATS_URL, prefix=_prefix(), max_deliveries=3, ack_wait=1, concurrency=2)
    dead: list[tuple[str, str, str]] = []
    done: list[str] = []
    tries: dict[str, int] = {}
    lock = threading.Lock()

    def handler(item_id: str) -> None:
        with lock:
            tries[item_id] = tries.get(item_id, 0) + 1
            n = tries[item_id]
        if item_id == "poison":
            raise RuntimeError("always fails")
        if item_id == "flaky" and n == 1:
            raise RuntimeError("fails once")
        with lock:
            done.append(item_id)

    worker = NatsQueue(cfg, consume=True, on_dead=lambda stage, item_id, msg: dead.append((stage, item_id, msg)))
    clock = SteppedClock()
    api = NatsQueue(cfg, consume=False, clock=clock)  # a second node sets up the same streams and consumer: no error
    try:
        worker.register("signals", handler)
        api.register("signals", handler)
        for i in range(100):
            api.submit("signals", f"item-{i}")
        api.submit("signals", "item-0")  # a duplicate publish inside the window is dropped by JetStream
        api.submit("signals", "flaky")
        api.submit("signals", "poison")
        _wait(lambda: len(done) == 101 and dead)
        assert sorted(set(done)) == sorted(done)
        assert tries["flaky"] == 2 and tries["poison"] == 3
        assert dead == [("signals", "poison", "gave up after 3 deliveries: RuntimeError: always fails")]
        letters = api.dead_letters()
        assert [(d["stage"], d["item_id"], d["deliveries"]) for d in letters] == [("signals", "poison", 3)]
        def fresh_depth() -> int:
            clock.advance(1.0)  # the depth is cached for a second
            return api.depth()

        _wait(lambda: fresh_depth() == 0, 5)
        assert api.status()["connected"] is True
    finally:
        worker.close()
        api.delete_streams()
        api.close()


def _registry() -> Registry:
    reg = Registry()
    register(reg)
    scaleout_plugin.register(reg)
    return reg


@pytest.fixture
def nats_settings(pg_url: str, tmp_path: Path) -> Iterator[Settings]:
    _truncate(pg_url)
    s = Settings(data_dir=tmp_path, database_url=pg_url, nats_url=NATS_URL, nats_prefix=_prefix(),
                 nats_max_deliveries=2, nats_ack_wait_seconds=2, nats_sweep_seconds=0.5)
    try:
        yield s
    finally:
        q = NatsQueue(NatsQueueConfig(url=NATS_URL, prefix=s.nats_prefix), consume=False)
        q.delete_streams()
        q.close()


def test_engine_on_nats_decides_fails_and_dead_letters(nats_settings: Settings) -> None:
    eng = build_engine(nats_settings, reg=_registry())
    try:
        admin = eng.api_keys.create("admin")[0]
        submitter = eng.api_keys.create("submitter")[0]
        data = b"stand-in video " * 500
        with TestClient(create_app(engine=eng, follow_writes=False)) as client:
            client.post("/v1/banks", json={"name": "vids"}, headers=auth(admin))
            client.post("/v1/banks/vids/entries", json={"signal_type": "video_sha1",
                                                        "value": hashlib.sha1(data).hexdigest()}, headers=auth(admin))
            ids = {}
            for name, body in (("ok", data), ("empty", b"\x00" * 64), ("poison", b"RETRY" * 20)):
                r = client.post("/v1/items", files={"file": ("v.mp4", body, "video/mp4")},
                                data={"content_id": name}, headers=auth(admin))
                assert r.status_code == 202, r.text
                ids[name] = r.json()["id"]

            def status(name: str) -> str:
                return str(client.get(f"/v1/items/{ids[name]}", headers=auth(admin)).json()["status"])

            _wait(lambda: all(status(n) != "pending" for n in ids))
            ok = client.get(f"/v1/items/{ids['ok']}", headers=auth(admin)).json()
            assert ok["status"] == "complete" and ok["verdict"] == "block"
            empty = client.get(f"/v1/items/{ids['empty']}", headers=auth(admin)).json()
            assert empty["status"] == "failed" and empty["error"]["code"] == "empty_video"
            poison = client.get(f"/v1/items/{ids['poison']}", headers=auth(admin)).json()
            assert poison["status"] == "failed" and poison["error"] == {
                "code": "dead_letter",
                "message": "gave up after 2 deliveries: Retryable: the test decoder is unavailable"}
            letters = client.get("/v1/work-queue/dead-letters", headers=auth(admin))
            assert letters.status_code == 200
            assert [d["item_id"] for d in letters.json()["dead_letters"]] == [ids["poison"]]
            assert client.get("/v1/work-queue/dead-letters", headers=auth(submitter)).status_code == 403
            health = client.get("/healthz").json()
            assert health["status"] == "ok" and health["queue"]["backend"] == "nats"
            assert "seawall_queue_depth{backend=\"nats\"}" in client.get("/metrics").text
        with eng.db.session() as s:  # uploads live in the store while pending, and are gone once decided
            from seawall.store.tables import ItemUploadRow

            assert s.scalars(select(ItemUploadRow.item_id)).all() == []
        assert not (nats_settings.data_dir / "spool").exists() or not list((nats_settings.data_dir / "spool").iterdir())
    finally:
        eng.close()


def test_api_only_node_refuses_deferred_uploads_when_the_queue_is_full(nats_settings: Settings) -> None:
    settings = nats_settings.model_copy(update={"api_only": True, "queue_max_depth": 2, "queue_degraded_depth": 1})
    eng = build_engine(settings, reg=_registry())
    try:
        admin = eng.api_keys.create("admin")[0]
        with TestClient(create_app(engine=eng, follow_writes=False)) as client:
            assert isinstance(eng.queue, NatsQueue)  # started with the app
            eng.queue.clock = clock = SteppedClock()
            for i in range(2):
                r = client.post("/v1/items", files={"file": ("v.mp4", b"v%d" % i * 100, "video/mp4")},
                                data={"content_id": f"v{i}"}, headers=auth(admin))
                assert r.status_code == 202
            clock.advance(1.0)  # the depth is cached for a second; nobody consumes: both jobs wait
            r = client.post("/v1/items", files={"file": ("v.mp4", b"late" * 100, "video/mp4")},
                            data={"content_id": "late"}, headers=auth(admin))
            assert r.status_code == 503 and r.json()["code"] == "queue_full"
            assert r.headers["retry-after"] == "30"
            text = client.post("/v1/items", json={"content_id": "t", "text": "still answered"}, headers=auth(admin))
            assert text.status_code == 200 and text.json()["status"] == "complete"
            health = client.get("/healthz")
            assert health.status_code == 200 and health.json()["status"] == "degraded"
            assert health.json()["queue"]["depth"] == 2 and health.json()["queue"]["consuming"] is False
            # the lag comes from JetStream's consumer state: both jobs wait, none is handed out
            assert health.json()["queue"]["lag"] == 2
            assert health.json()["queue"]["stages"] == {"signals": {"waiting": 2, "in_flight": 0, "redelivered": 0},
                                                     "stage2": {"waiting": 0, "in_flight": 0, "redelivered": 0}}
            assert [r["code"] for r in health.json()["reasons"]] == ["queue_lagging"]
            metrics = client.get("/metrics").text
            assert 'seawall_queue_consumer_lag{stage="signals"} 2.0' in metrics
            assert 'seawall_queue_in_flight{stage="signals"} 0.0' in metrics
            assert 'seawall_degraded{reason="queue_lagging"} 1.0' in metrics
    finally:
        eng.close()


@pytest.mark.postgres
def test_entry_committed_after_a_newer_one_is_still_indexed(pg_url: str, tmp_path: Path) -> None:
    """Two concurrent transactions: the lower id commits last; a cursor-only poll would skip it."""
    _truncate(pg_url)
    eng = build_engine(Settings(data_dir=tmp_path, database_url=pg_url))
    try:
        bank = eng.banks.create("late", description="", kind="block", default_action="block", labels=[],
                                thresholds={})
        low_value, high_value = "1" * 32, "2" * 32

        def row(value: str) -> dict[str, object]:
            return {"bank_id": bank.id, "signal_type": "md5", "value": value, "value_digest": value_digest(value),
                    "labels": [], "meta": {}}

        slow = eng.db.sessions()
        slow.begin()
        low_id = slow.execute(insert(BankEntryRow).returning(BankEntryRow.id), [row(low_value)]).scalar_one()
        with eng.db.session() as fast:
            high_id = fast.execute(insert(BankEntryRow).returning(BankEntryRow.id), [row(high_value)]).scalar_one()
        assert low_id < high_id
        eng.refresh()  # the cursor moves past low_id, which is not committed yet
        assert eng.indexes.cursor("md5") == high_id
        assert [m.entry_id for m in eng.lookup("md5", high_value)] == [high_id]
        assert eng.lookup("md5", low_value) == []
        slow.commit()
        slow.close()
        # Matchable at the first refresh after every transaction older than the slow one has ended too; on a
        # shared server another client's open transaction can hold that horizon back for a while.
        deadline = time.monotonic() + 60
        while True:
            eng.refresh()
            found = [m.entry_id for m in eng.lookup("md5", low_value)]
            if found or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert found == [low_id]
        with eng.db.session() as s:
            assert s.scalar(select(BankRow.name).where(BankRow.id == bank.id)) == "late"
    finally:
        eng.close()


def test_plugin_hooks_from_settings() -> None:
    hooks = configured_hooks("tests.scaleout_plugin:register, ")
    reg = Registry()
    register(reg)
    for hook in hooks:
        hook(reg)
    assert reg.signal_types["video_sha1"].deferred
    with pytest.raises(PluginError, match="cannot import 'no_such_module_xyz'"):
        configured_hooks("no_such_module_xyz:register")
    with pytest.raises(PluginError, match="has no function 'nope'"):
        configured_hooks("tests.scaleout_plugin:nope")
    with pytest.raises(PluginError, match="module:function"):
        configured_hooks("tests.scaleout_plugin")


@pytest.mark.slow  # a JetStream worker waiting out real acknowledgement deadlines
def test_a_job_that_keeps_crashing_workers_is_dead_lettered_without_running_again() -> None:
    cfg = NatsQueueConfig(url=NATS_URL, prefix=_prefix(), max_deliveries=3, ack_wait=1, concurrency=1)
    api = NatsQueue(cfg, consume=False)
    calls: list[str] = []
    dead: list[str] = []
    worker: NatsQueue | None = None
    try:
        api.register("signals", calls.append)
        api.submit("signals", "crasher")

        async def crash_three_times() -> None:  # delivered, never acknowledged: a worker killed mid-job, 3 times
            assert api._js is not None
            sub = await api._js.pull_subscribe_bind(durable=api._durable("signals"), stream=api.work_stream)
            for _ in range(3):
                assert len(await sub.fetch(1, timeout=5)) == 1
            await sub.unsubscribe()

        api._call(crash_three_times(), timeout=30)
        worker = NatsQueue(cfg, consume=True, on_dead=lambda stage, item_id, msg: dead.append(msg))
        worker.register("signals", calls.append)
        _wait(lambda: bool(dead))
        assert calls == []
        assert dead == ["gave up after 3 deliveries: no worker finished it in 3 deliveries (crashed or timed out)"]
        assert [d["item_id"] for d in api.dead_letters()] == ["crasher"]
    finally:
        if worker is not None:
            worker.close()
        api.delete_streams()
        api.close()


def test_cli_refuses_scale_out_roles_without_nats(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from seawall.cli import app

    monkeypatch.setenv("SEAWALL_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SEAWALL_NATS_URL", raising=False)
    monkeypatch.setenv("SEAWALL_API_ONLY", "false")  # restored after the test: serve --api-only sets it
    runner = CliRunner()
    worker = runner.invoke(app, ["worker"])
    assert worker.exit_code == 1 and "needs SEAWALL_NATS_URL" in worker.output
    serve = runner.invoke(app, ["serve", "--api-only"])
    assert serve.exit_code == 1 and "--api-only needs SEAWALL_NATS_URL" in serve.output
