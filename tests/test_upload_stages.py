"""Two-stage uploads: the verdict in the request without OCR, stage 2 on the queue deciding again and acting once.

Runs on SQLite and PostgreSQL with the in-process queue, and on PostgreSQL with JetStream workers.
Images and slogans are generated; Tesseract reads them for real.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from seawall.api.app import create_app
from seawall.composition import build_engine
from seawall.config import Settings
from seawall.engine import Engine
from seawall.media import ocr
from seawall.media.ocr import OcrOptions
from seawall.models.records import ComputedSignal, Item
from seawall.queue.nats import NatsQueue, NatsQueueConfig
from seawall.store.tables import ActionRow, DecisionRow, ItemUploadRow, WebhookEventRow
from seawall.uploads.stages import STAGE_TWO

from .conftest import _truncate, auth
from .test_ocr_language import _bank_text, slogan, text_image

NATS_URL = "nats://127.0.0.1:4222"


def _until(cond: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def _with_hooks(settings: Settings) -> Settings:
    return settings.model_copy(update={"webhook_allow_hosts": "127.0.0.1"})


def _events(engine: Engine, item_id: str) -> list[str]:
    with engine.db.session() as s:
        rows = s.execute(select(WebhookEventRow.type, WebhookEventRow.payload).order_by(WebhookEventRow.id)).all()
    return [t for t, p in rows if item_id in repr(p)]


def _counts(engine: Engine, item_id: str) -> tuple[int, list[str]]:
    with engine.db.session() as s:
        decisions = int(s.scalar(select(func.count()).select_from(DecisionRow).where(DecisionRow.item_id == item_id))
                        or 0)
        actions = list(s.scalars(select(ActionRow.type).where(ActionRow.item_id == item_id).order_by(ActionRow.id)))
    return decisions, actions


def _check_two_stages(engine: Engine, phrase: str, count_ocr: list[str]) -> Item:
    """Submit an image whose only banned part is its text; returns the item as stage 2 left it."""
    first = engine.submit(engine.content("image", data=text_image(phrase)), content_id=f"img-{uuid.uuid4().hex}",
                          account_id="acct-1")
    # stage 1: digests and PDQ only; OCR never ran inside the request
    assert threading.current_thread().name not in count_ocr
    assert first.verdict.verdict == "allow" and not first.final and first.pending == ["ocr", "regions"]
    body = first.to_dict()
    assert body["final"] is False and body["pending"] == ["ocr", "regions"]
    assert not {s.type for s in first.signals} & {"text_sha256", "text_minhash"}
    _until(lambda: engine.items.get(first.id).final)
    later = engine.items.get(first.id)
    assert later.to_dict()["final"] is True and later.pending == []
    assert later.verdict.verdict == "block", later.verdict.reasons
    assert {m.signal_type for m in later.verdict.matches} & {"text_sha256", "text_minhash"}
    assert later.language is not None and later.language["code"] == "en"
    return later


@pytest.fixture
def counted_ocr(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the threads OCR ran on (the real OCR, only counted)."""
    threads: list[str] = []
    real = ocr.read_text

    def counted(pixels: npt.NDArray[np.uint8], options: OcrOptions) -> ocr.OcrResult:
        threads.append(threading.current_thread().name)
        return real(pixels, options)

    monkeypatch.setattr(ocr, "read_text", counted)
    return threads


def _stage_two_runs(engine: Engine, counted_ocr: list[str]) -> int:
    """Stage-2 computations so far: OCR runs in this process's threads plus uploads done by worker processes."""
    slow = engine.items.slow_processes
    return len(counted_ocr) + (slow.jobs if slow is not None else 0)


@pytest.mark.parametrize("processes", [True, False], ids=["worker-processes", "queue-threads"])
def test_stage_two_reads_text_decides_again_and_acts_once(settings: Settings, counted_ocr: list[str],
                                                          processes: bool) -> None:
    engine = build_engine(_with_hooks(settings).model_copy(update={"stage2_processes": processes}))
    try:
        engine.webhooks.create(url="http://127.0.0.1:9/hook", event_types=["item.verdict", "item.redecided",
                                                                           "item.removed"])
        phrase = slogan(21)
        _bank_text(engine, "slogans", phrase)
        engine.start_workers()
        # the worker processes are the test process's (shared by its engines): count this engine's jobs
        jobs_before = engine.items.slow_processes.jobs if engine.items.slow_processes is not None else 0
        item = _check_two_stages(engine, phrase, counted_ocr)
        if processes:
            # OCR ran in a low-priority worker process, never in a thread of the serving process
            assert counted_ocr == [] and engine.items.slow_processes is not None
            assert engine.items.slow_processes.jobs == jobs_before + 1
            pids = engine.items.slow_processes.pids()
            assert pids and all(os.getpriority(os.PRIO_PROCESS, pid) == 19 for pid in pids)
        else:
            assert engine.items.slow_processes is None
            assert len(counted_ocr) == 1 and counted_ocr[0].startswith("seawall-worker")
        # decided after it was accepted: the block proposal is carried out as a removal, and announced
        decisions, actions = _counts(engine, item.id)
        assert decisions == 2 and actions == ["remove"]
        assert _events(engine, item.id) == ["item.verdict", "item.verdict", "item.removed", "item.redecided"]
        with engine.db.session() as s:
            assert s.scalar(select(func.count()).select_from(ItemUploadRow)) == 0
        # a redelivered job (JetStream at-least-once) finds stage 2 finished and changes nothing
        engine.items.process_stage_two(item.id)
        assert _counts(engine, item.id) == (2, ["remove"])
        assert len(_events(engine, item.id)) == 4 and _stage_two_runs(engine, counted_ocr) == jobs_before + 1
        # an image without banned text: stage 2 runs, nothing changes, no second decision or event
        plain = engine.submit(engine.content("image", data=text_image(slogan(22))), content_id="other")
        assert not plain.final
        _until(lambda: engine.items.get(plain.id).final)
        assert engine.items.get(plain.id).verdict.verdict == "allow"
        assert _counts(engine, plain.id) == (1, []) and _events(engine, plain.id) == ["item.verdict"]
        assert _stage_two_runs(engine, counted_ocr) == jobs_before + 2
    finally:
        engine.close()


def test_without_a_queue_everything_runs_in_the_request(engine: Engine) -> None:
    """One-off use (tests, CLI) has no work queue: the verdict is final at once, OCR included."""
    phrase = slogan(23)
    _bank_text(engine, "slogans", phrase)
    item = engine.submit(engine.content("image", data=text_image(phrase)), content_id="inline")
    assert item.final and item.verdict.verdict == "block"


def test_pending_stage_two_survives_a_restart(settings: Settings) -> None:
    """The job is lost with the process (as with kill -9); the stored item is redone once after restart."""
    phrase = slogan(24)
    engine = build_engine(settings)
    try:
        _bank_text(engine, "slogans", phrase)
        engine.start_workers()
        assert engine.queue is not None
        engine.queue.close()  # the process dies: queued jobs are gone, only the store remains
        item = engine.submit(engine.content("image", data=text_image(phrase)), content_id="crash")
        assert item.pending == ["ocr", "regions"]
    finally:
        engine.close()
    engine = build_engine(settings)
    try:
        assert engine.items.stage_two_ids() == [item.id]
        engine.start_workers()
        _until(lambda: engine.items.get(item.id).final)
        assert engine.items.get(item.id).verdict.verdict == "block"
        assert _counts(engine, item.id) == (2, ["remove"])
    finally:
        engine.close()


def test_api_answers_after_stage_one_or_waits_when_asked(client: TestClient, keys: dict[str, str],
                                                         engine: Engine) -> None:
    phrase = slogan(25)
    _bank_text(engine, "slogans", phrase)
    sub = auth(keys["submitter"])
    data = text_image(phrase)

    def post(cid: str, query: str = "") -> dict[str, object]:
        r = client.post(f"/v1/items{query}", files={"file": ("u.png", data, "image/png")},
                        data={"content_id": cid}, headers=sub)
        assert r.status_code == 200, r.text
        body: dict[str, object] = r.json()
        return body

    quick = post("quick")
    assert quick["final"] is False and quick["pending"] == ["ocr", "regions"] and quick["verdict"] == "allow"
    waited = post("waited", "?wait=final&timeout_ms=30000")
    assert waited["final"] is True and waited["pending"] == [] and waited["verdict"] == "block"
    text = client.post("/v1/items", json={"content_id": "t", "text": "hello there"}, headers=sub).json()
    assert text["final"] is True and text["pending"] == []
    for bad in ("?wait=later", "?wait=final&timeout_ms=-1", "?timeout_ms=999999"):
        r = client.post(f"/v1/items{bad}", files={"file": ("u.png", data, "image/png")},
                        data={"content_id": "bad"}, headers=sub)
        assert r.status_code == 422 and r.json()["code"] == "invalid_field", r.text
    _until(lambda: client.get(f"/v1/items/{quick['id']}", headers=sub).json()["final"] is True)
    assert client.get(f"/v1/items/{quick['id']}", headers=sub).json()["verdict"] == "block"
    health = client.get("/healthz").json()
    assert health["queue"]["stage2_backlog"] == 0
    assert "seawall_stage2_backlog 0.0" in client.get("/metrics").text


def test_content_types_can_wait_by_setting(settings: Settings) -> None:
    phrase = slogan(26)
    engine = build_engine(settings.model_copy(update={"stage2_wait": "image", "stage2_wait_timeout_ms": 30000}))
    try:
        _bank_text(engine, "slogans", phrase)
        admin = engine.api_keys.create("submitter")[0]
        with TestClient(create_app(engine=engine, follow_writes=False)) as client:
            r = client.post("/v1/items", files={"file": ("u.png", text_image(phrase), "image/png")},
                            data={"content_id": "c"}, headers=auth(admin))
            assert r.json()["final"] is True and r.json()["verdict"] == "block"
            r = client.post("/v1/items?wait=stage1", files={"file": ("u.png", text_image(phrase), "image/png")},
                            data={"content_id": "d"}, headers=auth(admin))
            assert r.json()["final"] is False
    finally:
        engine.close()


@pytest.mark.postgres
@pytest.mark.slow  # JetStream workers on PostgreSQL
def test_stage_two_on_jetstream_workers(pg_url: str, tmp_path: Path, counted_ocr: list[str]) -> None:
    _truncate(pg_url)
    prefix = f"swtest_{uuid.uuid4().hex[:10]}"
    settings = Settings(data_dir=tmp_path, database_url=pg_url, nats_url=NATS_URL, nats_prefix=prefix,
                        nats_ack_wait_seconds=5, nats_sweep_seconds=0.5, webhook_allow_hosts="127.0.0.1",
                        stage2_processes=False)  # OCR counted in this process's threads
    engine = build_engine(settings)
    try:
        engine.webhooks.create(url="http://127.0.0.1:9/hook", event_types=["item.redecided", "item.removed"])
        phrase = slogan(27)
        _bank_text(engine, "slogans", phrase)
        engine.start_workers()
        item = _check_two_stages(engine, phrase, counted_ocr)
        assert _counts(engine, item.id) == (2, ["remove"])
        assert _events(engine, item.id) == ["item.removed", "item.redecided"]
        assert engine.queue is not None
        engine.queue.submit(STAGE_TWO, item.id)  # published again: at most a no-op delivery
        engine.items.process_stage_two(item.id)
        time.sleep(0.5)
        assert _counts(engine, item.id) == (2, ["remove"]) and len(counted_ocr) == 1
    finally:
        engine.close()
        q = NatsQueue(NatsQueueConfig(url=NATS_URL, prefix=prefix), consume=False)
        q.delete_streams()
        q.close()


@pytest.mark.slow  # a fault drill: two real servers, one killed with SIGKILL mid-work
def test_kill_9_during_stage_two_loses_nothing_and_acts_once(tmp_path: Path) -> None:
    """A real ``seawall serve`` killed with SIGKILL while stage 2 works; the restarted server finishes it."""
    import os
    import signal
    import sqlite3
    import subprocess
    import sys

    import httpx

    from seawall.media.content import Content
    from seawall.plugins import registry

    from .processes import cli, seawall_env

    env = seawall_env(tmp_path / "data", SEAWALL_LOG_LEVEL="warning")
    admin = cli(["apikey", "create", "--role", "admin"], env).strip().splitlines()[-1]
    base = f"http://127.0.0.1:{env['SEAWALL_PORT']}"
    headers = {"Authorization": f"Bearer {admin}"}

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([sys.executable, "-m", "seawall", "serve"], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    return proc
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError("server never became ready")

    phrases = [slogan(40 + i) for i in range(4)]
    proc = start()
    try:
        assert httpx.post(f"{base}/v1/banks", json={"name": "slogans"}, headers=headers).status_code == 201
        text_sig = registry().signal("text_sha256")
        for phrase in phrases:
            value = text_sig.compute(Content("text", text=phrase), for_query=False)[0].value
            r = httpx.post(f"{base}/v1/banks/slogans/entries", json={"signal_type": "text_sha256", "value": value},
                           headers=headers)
            assert r.status_code == 201, r.text
        ids = []
        for i, phrase in enumerate(phrases):
            r = httpx.post(f"{base}/v1/items", files={"file": ("u.png", text_image(phrase), "image/png")},
                           data={"content_id": f"k{i}"}, headers=headers, timeout=60)
            assert r.status_code == 200 and r.json()["final"] is False, r.text
            ids.append(r.json()["id"])
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    with sqlite3.connect(tmp_path / "data" / "seawall.db") as conn:
        waiting = conn.execute("SELECT count(*) FROM items WHERE stage2_pending IS NOT NULL").fetchone()[0]
        pending_ids = {r[0] for r in conn.execute("SELECT id FROM items WHERE stage2_pending IS NOT NULL")}
        in_store = conn.execute("SELECT count(*) FROM item_uploads").fetchone()[0]
    spooled = {p.name.removesuffix(".stage2") for p in (tmp_path / "data" / "stage2-spool").glob("*/*.stage2")}
    # the kill hit while stage 2 had work; its bytes are in the node's spool (a SQLite store), not the store
    assert waiting >= 1 and spooled == pending_ids and in_store == 0
    proc = start()
    try:
        def done() -> bool:
            return all(httpx.get(f"{base}/v1/items/{i}", headers=headers).json()["final"] for i in ids)

        _until(done, timeout=120)
        for item_id in ids:
            body = httpx.get(f"{base}/v1/items/{item_id}", headers=headers).json()
            assert body["verdict"] == "block" and body["pending"] == [], body
            assert [a["type"] for a in body["actions"]] == ["remove"], body
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert not list((tmp_path / "data" / "stage2-spool").glob("*/*"))  # finished: no bytes left behind
    with sqlite3.connect(tmp_path / "data" / "seawall.db") as conn:
        per_item = dict(conn.execute("SELECT item_id, count(*) FROM actions GROUP BY item_id").fetchall())
        decisions = dict(conn.execute("SELECT item_id, count(*) FROM decisions GROUP BY item_id").fetchall())
    assert all(per_item[i] == 1 and decisions[i] == 2 for i in ids), (per_item, decisions)


def test_a_reviewer_decision_made_while_stage_two_runs_stands(settings: Settings) -> None:
    """A reviewer deciding while stage 2 runs: stage 2 must not put the stage-1 verdict back (nor act)."""
    from seawall.composition import review_service
    from seawall.uploads.stages import SlowTask

    from .console_support import held_image, make_users

    engine = build_engine(settings)
    try:
        engine.start_workers()
        assert engine.queue is not None
        engine.queue.close()  # stage 2 waits in the store until this test runs it
        case_id, item_id = held_image(engine, 11)
        assert engine.items.get(item_id).pending == ["ocr", "regions"]
        senior = make_users(engine).login("senior", "correct horse battery")[0]

        decided: list[tuple[int, list[str]]] = []

        def reviewer_decides_meanwhile(*_: object) -> list[ComputedSignal]:
            review_service(engine).decide(case_id, senior, outcome="not_violating", labels=[])
            decided.append(_counts(engine, item_id))
            return []

        engine.items.slow_tasks = [SlowTask("ocr", lambda c: True, reviewer_decides_meanwhile),
                                   SlowTask("regions", lambda c: True, lambda *_: [])]
        engine.items.process_stage_two(item_id)
        after = engine.items.get(item_id)
        assert after.final and after.verdict.verdict == "allow", after.verdict
        assert _counts(engine, item_id) == decided[0]  # nothing acted on after the reviewer's decision
    finally:
        engine.close()


def test_a_full_stage_two_queue_sheds_stage_two_with_a_reason(settings: Settings) -> None:
    """Past SEAWALL_STAGE2_MAX_BACKLOG waiting jobs, an image is answered as final without OCR or region
    hashes, says so in its reasons, stores no bytes for stage 2, and is counted in /metrics and /healthz."""
    engine = build_engine(settings.model_copy(update={"stage2_max_backlog": 1}))
    try:
        phrase = slogan(28)
        _bank_text(engine, "slogans", phrase)
        engine.start_workers()
        assert engine.queue is not None
        release = threading.Event()
        engine.queue.register(STAGE_TWO, lambda item_id: release.wait(30))  # the one worker is held busy
        held = engine.submit(engine.content("image", data=text_image(slogan(29))), content_id="held")
        assert held.pending == ["ocr", "regions"]
        shed = engine.submit(engine.content("image", data=text_image(phrase)), content_id="shed")
        assert shed.final and shed.pending == [] and shed.verdict.verdict == "allow"
        assert any(r.startswith("stage 2 (ocr, regions) skipped") for r in shed.verdict.reasons)
        stored = engine.items.get(shed.id)
        assert stored.final and stored.verdict.reasons == shed.verdict.reasons
        with engine.db.session() as s:
            assert s.scalar(select(func.count()).select_from(ItemUploadRow)
                            .where(ItemUploadRow.item_id == shed.id)) == 0
        status = engine.queue_status()
        assert status["stage2_skipped"] == 1 and status["stage2_max_backlog"] == 1
        with TestClient(create_app(engine=engine, follow_writes=False)) as client:
            assert "seawall_stage2_skipped_total 1.0" in client.get("/metrics").text
            health = client.get("/healthz").json()
            assert health["queue"]["stage2_skipped"] == 1
            assert health["status"] == "degraded"
            assert [r["code"] for r in health["reasons"]] == ["stage2_shedding"]
            assert 'seawall_degraded{reason="stage2_shedding"} 1.0' in client.get("/metrics").text
        release.set()
    finally:
        engine.close()
