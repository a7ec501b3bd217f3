"""Nodes whose queue broker is away, and the queue's own bounds, on real NATS and PostgreSQL.

An API node and a worker are started against a loopback port where nothing listens: both must come
up degraded (healthz says why, /metrics shows it), answer text verdicts, hold a bounded number of
video uploads as pending and refuse the next with ``503 queue_unavailable``; then a real
``nats-server`` is started on that port and both must recover on their own and process the backlog.
The bound tests check that JetStream itself refuses jobs past ``max_depth`` and that a worker never
holds more than ``concurrency`` jobs at once, with the rest visible as consumer lag.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from nats.js.errors import APIError

from seawall.composition import build_engine
from seawall.config import Settings
from seawall.queue.nats import NatsQueue, NatsQueueConfig
from seawall.store.db import upgrade

from .conftest import PG_ADMIN_DSN
from .test_scaleout import NATS_SERVER, NATS_URL, SOURCES, Node, _free_port, _registry

RECOVERY_TIMEOUT = 40.0


def _until(cond: Callable[[], bool], what: str, timeout: float = RECOVERY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.2)


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    name = f"seawall_outage_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    try:
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _sql(db_url: str, query: str, *params: object) -> list[tuple[object, ...]]:
    dsn = db_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        return list(conn.execute(query, params).fetchall())  # type: ignore[arg-type]


def _health(url: str) -> dict[str, object]:
    r = httpx.get(f"{url}/healthz", timeout=5)
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


def _metric(url: str, line_start: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    for line in text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no metric {line_start!r} in:\n{text}")


def test_nodes_start_degraded_without_nats_and_recover_when_it_appears(database: str, tmp_path: Path) -> None:
    nats_port = _free_port()  # nothing listens here until the nats-server below starts
    setup = build_engine(Settings(data_dir=tmp_path / "setup", database_url=database), reg=_registry())
    videos = [f"outage video {i} ".encode() * 40 for i in range(4)]
    try:
        admin = setup.api_keys.create("admin", "outage test")[0]
        setup.banks.create("videos")
    finally:
        setup.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEAWALL_")}
    env.update({
        "SEAWALL_DATABASE_URL": database, "SEAWALL_NATS_URL": f"nats://127.0.0.1:{nats_port}",
        "SEAWALL_NATS_PREFIX": f"swtest_{uuid.uuid4().hex[:10]}", "SEAWALL_NATS_RECONNECT_MAX_SECONDS": "1",
        "SEAWALL_NATS_SWEEP_SECONDS": "1", "SEAWALL_QUEUE_OFFLINE_MAX_PENDING": "2", "SEAWALL_WORKERS": "2",
        "SEAWALL_PLUGINS": "tests.scaleout_plugin:register", "PYTHONPATH": SOURCES, "SEAWALL_LOG_LEVEL": "info",
    })
    api_port, health_port = _free_port(), _free_port()
    api = Node("api", ["serve", "--api-only", "--port", str(api_port)],
               {**env, "SEAWALL_DATA_DIR": str(tmp_path / "a")}, tmp_path / "api.log", api_port)
    worker = Node("worker", ["worker", "--health-port", str(health_port)],
                  {**env, "SEAWALL_DATA_DIR": str(tmp_path / "w")}, tmp_path / "worker.log", health_port)
    h = {"Authorization": f"Bearer {admin}"}
    nats: subprocess.Popen[bytes] | None = None
    try:
        api.start()
        worker.start()
        api.wait_ready()
        worker.wait_ready()  # its /healthz answers although the broker is away

        for node in (api, worker):
            health = _health(node.url)
            assert health["status"] == "degraded", health
            assert [r["code"] for r in health["reasons"]] == ["queue_unreachable"]  # type: ignore[union-attr]
            queue = health["queue"]
            assert isinstance(queue, dict)
            assert queue["connected"] is False and queue["state"] == "connecting"
            assert "refused" in str(queue["error"]).lower(), queue
            assert _metric(node.url, "seawall_queue_connected") == 0.0
            assert _metric(node.url, 'seawall_degraded{reason="queue_unreachable"}') == 1.0
        assert "degraded, retrying" in worker.tail()

        # synchronous verdicts keep working
        r = httpx.post(f"{api.url}/v1/items", headers=h, json={"content_id": "t1", "text": "a harmless sentence"})
        assert r.status_code == 200 and r.json()["status"] == "complete", r.text
        r = httpx.post(f"{api.url}/v1/banks/videos/import?format=text", headers=h, timeout=30,
                       content="".join(f"video_sha1 {hashlib.sha1(v).hexdigest()}\n" for v in videos))
        assert r.status_code == 200 and r.json()["added"] == len(videos), r.text

        # deferred uploads wait in the store up to the bound, then get a clear refusal
        def upload(i: int) -> httpx.Response:
            return httpx.post(f"{api.url}/v1/items", headers=h, timeout=30, data={"content_id": f"v{i}"},
                              files={"file": ("v.mp4", videos[i], "video/mp4")})

        accepted = [upload(0), upload(1)]
        assert [x.status_code for x in accepted] == [202, 202], [x.text for x in accepted]
        refused = upload(2)
        assert refused.status_code == 503, refused.text
        assert refused.json()["code"] == "queue_unavailable" and refused.headers["retry-after"] == "30"
        assert "unreachable" in refused.json()["message"] and refused.json()["detail"]["pending"] == 2
        ids = [str(x.json()["id"]) for x in accepted]
        assert _sql(database, "SELECT count(*) FROM items WHERE status = 'pending'") == [(2,)]
        assert api.proc is not None and api.proc.poll() is None
        assert worker.proc is not None and worker.proc.poll() is None

        nats = subprocess.Popen([NATS_SERVER, "-a", "127.0.0.1", "-p", str(nats_port), "-js",
                                 "-sd", str(tmp_path / "nats")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _until(lambda: all(_health(n.url)["status"] == "ok" for n in (api, worker)), "both nodes are ok")
        assert _metric(api.url, "seawall_queue_connected") == 1.0
        assert _metric(worker.url, 'seawall_degraded{reason="queue_unreachable"}') == 0.0
        # the worker queues what waited in the store, and new uploads go straight through the queue
        _until(lambda: _sql(database, "SELECT count(*) FROM items WHERE id = ANY(%s) AND status = 'complete' "
                                      "AND verdict = 'block'", ids) == [(2,)], "the held uploads are decided")
        late = upload(3)
        assert late.status_code == 202, late.text
        _until(lambda: _sql(database, "SELECT status, verdict FROM items WHERE id = %s", late.json()["id"])
               == [("complete", "block")], "an upload after recovery is decided")
        assert "reached after" in worker.tail()
    finally:
        api.stop()
        worker.stop()
        if nats is not None:
            nats.terminate()
            nats.wait(timeout=15)


@pytest.fixture
def prefix() -> Iterator[str]:
    name = f"swtest_{uuid.uuid4().hex[:10]}"
    yield name
    q = NatsQueue(NatsQueueConfig(url=NATS_URL, prefix=name), consume=False)
    q.delete_streams()
    q.close()


def test_jetstream_refuses_jobs_past_max_depth(prefix: str) -> None:
    q = NatsQueue(NatsQueueConfig(url=NATS_URL, prefix=prefix, max_depth=3), consume=False)
    try:
        q.register("signals", lambda item_id: None)
        for i in range(3):
            q.submit("signals", f"item-{i}")
        with pytest.raises(APIError, match="maximum messages"):
            q.submit("signals", "item-3")
        time.sleep(1.1)  # past the one-second cache of the figures
        status = q.status()
        assert status["depth"] == 3 and status["lag"] == 3
        assert status["stages"] == {"signals": {"waiting": 3, "in_flight": 0, "redelivered": 0}}
    finally:
        q.close()


def test_a_worker_holds_at_most_its_concurrency_and_the_rest_is_lag(prefix: str) -> None:
    release = threading.Event()
    started: list[str] = []
    lock = threading.Lock()

    def handler(item_id: str) -> None:
        with lock:
            started.append(item_id)
        release.wait(30)

    producer = NatsQueue(NatsQueueConfig(url=NATS_URL, prefix=prefix), consume=False)
    worker = NatsQueue(NatsQueueConfig(url=NATS_URL, prefix=prefix, concurrency=2), consume=True)
    try:
        producer.register("signals", handler)
        for i in range(6):
            producer.submit("signals", f"item-{i}")
        worker.register("signals", handler)
        _until(lambda: len(started) >= 2, "two jobs run", timeout=15)
        time.sleep(1.5)  # a third fetch would have happened by now if the bound leaked
        assert len(started) == 2
        status = worker.status()
        assert status["stages"]["signals"] == {"waiting": 4, "in_flight": 2, "redelivered": 0}
        assert status["depth"] == 6 and status["lag"] == 4
        release.set()
        _until(lambda: len(started) == 6, "every job ran", timeout=15)
        _until(lambda: worker.status()["depth"] == 0, "the queue drained", timeout=15)
    finally:
        release.set()
        worker.close()
        producer.close()
