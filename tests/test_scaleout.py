"""Scale-out on real services: 2 × ``seawall serve --api-only`` and 2 × ``seawall worker`` processes on
loopback, sharing a fresh PostgreSQL database and NATS JetStream under a unique prefix.

Every test submits its own batch of deferred items (a stand-in video signal loaded through
``SEAWALL_PLUGINS``, each item matching one bank entry) through both API nodes, and then checks what
the store says: every item ends with exactly one verdict, one match row, one decision, no action or
webhook event twice, and nothing stays pending. The fault tests do the same while a worker is killed
with SIGKILL, NATS is restarted, and every PostgreSQL connection of the database is terminated.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from seawall.composition import build_engine
from seawall.config import Settings
from seawall.plugins import Registry
from seawall.queue.nats import NatsQueue, NatsQueueConfig
from seawall.store.db import upgrade

from . import scaleout_plugin
from .conftest import PG_ADMIN_DSN
from .webhook_receiver import Receiver

REPO = Path(__file__).resolve().parents[1]
#: Server processes run this checkout's sources (and the tests package for the plugin).
SOURCES = os.pathsep.join([str(REPO / "src"), str(REPO)])
NATS_URL = "nats://127.0.0.1:4222"
NATS_SERVER = "/usr/sbin/nats-server"
NATS_PIDFILE = "/tmp/seawall-nats-4222.pid"
NATS_ARGS = ["-a", "127.0.0.1", "-p", "4222", "-js", "-sd", "/var/lib/nats-server", "-l", "/var/log/nats-server.log"]
DONE_TIMEOUT = 60.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


# --- NATS server control (same command line as the design notes) ---------------------------------------
def _nats_pid() -> int | None:
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if os.readlink(proc / "exe") == NATS_SERVER and b"4222" in (proc / "cmdline").read_bytes():
                return int(proc.name)
        except OSError:
            continue
    return None


def _nats_ready() -> bool:
    if not _reachable(4222):
        return False
    q = NatsQueue(NatsQueueConfig(url=NATS_URL, prefix="swtest_probe", request_timeout=2), consume=False)
    try:
        if not q.wait_ready(2):  # a node starts degraded rather than failing: ask whether it got through
            return False
        q.delete_streams()
        return True
    except Exception:
        return False
    finally:
        q.close()


def stop_nats() -> None:
    pid = _nats_pid()
    assert pid is not None, "nats-server is not running"
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        time.sleep(0.1)
    if Path(f"/proc/{pid}").exists():
        os.kill(pid, signal.SIGKILL)


def start_nats() -> None:
    # matched by its own pid file, not by executable: a test's private nats-server on another port (or one
    # left by a killed run) would otherwise count as "already running" and 4222 would stay down
    subprocess.run(["start-stop-daemon", "--start", "--oknodo", "--background", "--make-pidfile", "--pidfile",
                    NATS_PIDFILE, "--startas", NATS_SERVER, "--", *NATS_ARGS], check=True, timeout=30)
    deadline = time.monotonic() + 30
    while not _nats_ready():
        assert time.monotonic() < deadline, "nats-server did not come back"
        time.sleep(0.2)


# --- processes ------------------------------------------------------------------------------------
@dataclass
class Node:
    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    port: int | None = None
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as fh:
            self.proc = subprocess.Popen([sys.executable, "-m", "seawall", *self.args], env=self.env, cwd=REPO,
                                         stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, f"{self.name} exited:\n{self.tail()}"
            if self.port is None:
                return
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{self.name} did not become ready:\n{self.tail()}")

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


@dataclass
class Cluster:
    db_url: str
    dsn: str
    env: dict[str, str]
    tmp: Path
    admin: str
    apis: list[Node] = field(default_factory=list)
    workers: list[Node] = field(default_factory=list)
    receiver: Receiver | None = None
    _n: int = 0

    def node(self, kind: str) -> Node:
        self._n += 1
        name = f"{kind}-{self._n}"
        env = {**self.env, "SEAWALL_DATA_DIR": str(self.tmp / name)}  # no shared disk between nodes
        if kind == "api":
            port = _free_port()
            node = Node(name, ["serve", "--api-only", "--port", str(port)], env, self.tmp / f"{name}.log", port)
            self.apis.append(node)
        else:
            node = Node(name, ["worker"], env, self.tmp / f"{name}.log")
            self.workers.append(node)
        node.start()
        return node

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            return list(conn.execute(query, params).fetchall())


def _registry() -> Registry:
    from seawall.builtin import register

    reg = Registry()
    register(reg)
    scaleout_plugin.register(reg)
    return reg


@pytest.fixture(scope="module")
def nats_running() -> Iterator[None]:
    """NATS must be up for these tests, and is left running whatever they do to it."""
    if not _nats_ready():
        start_nats()
    try:
        yield
    finally:
        if not _nats_ready():
            start_nats()


@pytest.fixture(scope="module")
def cluster(nats_running: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    name = f"seawall_scale_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    db_url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    prefix = f"swtest_{uuid.uuid4().hex[:10]}"
    tmp = tmp_path_factory.mktemp("scaleout")
    receiver = Receiver()
    c: Cluster | None = None
    try:
        upgrade(db_url)
        setup = build_engine(Settings(data_dir=tmp / "setup", database_url=db_url), reg=_registry())
        try:
            admin = setup.api_keys.create("admin", "scale-out tests")[0]
            setup.banks.create("videos")
        finally:
            setup.close()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SEAWALL_")}
        env.update({
            "SEAWALL_DATABASE_URL": db_url, "SEAWALL_NATS_URL": NATS_URL, "SEAWALL_NATS_PREFIX": prefix,
            "SEAWALL_NATS_ACK_WAIT_SECONDS": "2", "SEAWALL_NATS_SWEEP_SECONDS": "1",
            "SEAWALL_NATS_MAX_DELIVERIES": "5", "SEAWALL_WORKERS": "2",
            "SEAWALL_PLUGINS": "tests.scaleout_plugin:register", "PYTHONPATH": SOURCES,
            "SEAWALL_WEBHOOK_ALLOW_HOSTS": "127.0.0.1", "SEAWALL_WEBHOOK_POLL_SECONDS": "0.2",
            "SEAWALL_WEBHOOK_RETRY_BASE_SECONDS": "0.5", "SEAWALL_LOG_LEVEL": "warning",
        })
        c = Cluster(db_url, f"host=127.0.0.1 port=5432 user=postgres dbname={name}", env, tmp, admin,
                    receiver=receiver)
        for _ in range(2):
            c.node("api")
            c.node("worker")
        for n in c.apis + c.workers:
            n.wait_ready()
        hook = httpx.post(f"{c.apis[0].url}/v1/webhooks", headers=_auth(admin),
                          json={"url": receiver.url(), "event_types": ["item.verdict"]})
        assert hook.status_code in (200, 201), hook.text
        receiver.secret = hook.json()["secret"]
        time.sleep(0.5)  # every node's outbox learns of the subscription on its next refresh
        yield c
    finally:
        if c is not None:
            for n in c.apis + c.workers:
                n.stop()
        receiver.server.shutdown()
        try:
            q = NatsQueue(NatsQueueConfig(url=NATS_URL, prefix=prefix), consume=False)
            q.delete_streams()
            q.close()
        except Exception:
            pass
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _videos(tag: str, n: int) -> list[bytes]:
    return [f"stand-in video {tag} {i} ".encode() * 40 for i in range(n)]


def _bank(c: Cluster, videos: list[bytes]) -> None:
    body = "".join(f"video_sha1 {hashlib.sha1(v).hexdigest()}\n" for v in videos)
    r = httpx.post(f"{c.apis[0].url}/v1/banks/videos/import?format=text", headers=_auth(c.admin), content=body,
                   timeout=60)
    assert r.status_code == 200 and r.json()["added"] == len(videos), r.text
    time.sleep(1.0)  # other nodes follow the store every 0.25 s; workers have no endpoint to ask


def _submit(c: Cluster, tag: str, videos: list[bytes], *,
            during: Callable[[int], None] | None = None) -> list[str]:
    """Upload through both API nodes (8 at a time), retrying refusals as a client would; item ids accepted."""
    client = httpx.Client(limits=httpx.Limits(max_connections=16))  # shared: no TLS set-up per request

    def one(i: int) -> str:
        deadline = time.monotonic() + DONE_TIMEOUT
        while True:
            node = c.apis[i % len(c.apis)] if time.monotonic() < deadline - DONE_TIMEOUT / 2 else c.apis[0]
            try:
                r = client.post(f"{node.url}/v1/items", headers=_auth(c.admin), timeout=30,
                               data={"content_id": f"{tag}-{i}"}, files={"file": ("v.mp4", videos[i], "video/mp4")})
                if r.status_code == 202:
                    return str(r.json()["id"])
                assert r.status_code >= 500, r.text  # a dropped database connection: the client tries again
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"item {i} was never accepted"
            time.sleep(0.2)

    with client, ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(one, i) for i in range(len(videos))]
        if during is not None:
            during(len(videos))
        return [f.result() for f in futures]


def _wait_done(c: Cluster, ids: list[str], timeout: float = DONE_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while True:
        left = c.sql("SELECT count(*) FROM items WHERE id = ANY(%s) AND status = 'pending'", ids)[0][0]
        if left == 0:
            return
        assert time.monotonic() < deadline, f"{left} of {len(ids)} items still pending"
        time.sleep(0.2)


def _check(c: Cluster, ids: list[str]) -> None:
    """Exactly one verdict, match, decision and verdict event per item; no action twice; nothing pending."""
    assert len(set(ids)) == len(ids)
    assert c.sql("SELECT status, verdict, count(*) FROM items WHERE id = ANY(%s) GROUP BY 1, 2", ids) == [
        ("complete", "block", len(ids))]
    assert c.sql("SELECT count(*) FROM items WHERE status = 'pending'") == [(0,)]
    assert c.sql("SELECT count(*) FROM item_uploads") == [(0,)]
    per_item = "SELECT n, count(*) FROM (SELECT {col}, count(*) AS n FROM {table} WHERE {col} = ANY(%s) " \
               "GROUP BY {col}) AS t GROUP BY n"
    assert c.sql(per_item.format(col="item_id", table="matches"), ids) == [(1, len(ids))]
    assert c.sql(per_item.format(col="item_id", table="decisions"), ids) == [(1, len(ids))]
    assert c.sql("SELECT count(*) FROM (SELECT item_id, type FROM actions WHERE item_id = ANY(%s) "
                 "GROUP BY 1, 2 HAVING count(*) > 1) AS t", ids) == [(0,)]
    assert c.sql("SELECT count(DISTINCT item_id) FROM actions WHERE item_id = ANY(%s)", ids) == [(len(ids),)]
    events = c.sql("SELECT payload->'data'->'item'->>'id', count(*) FROM webhook_events "
                   "WHERE type = 'item.verdict' AND payload->'data'->'item'->>'id' = ANY(%s) GROUP BY 1", ids)
    assert len(events) == len(ids) and {n for _, n in events} == {1}


def test_entry_added_on_node_a_becomes_matchable_on_node_b(cluster: Cluster) -> None:
    """Node B follows the store (every 0.25 s): how soon is a benchmark's figure (bench_sharing.py's
    propagation part); here only that it happens, within a generous deadline."""
    a, b = cluster.apis
    for _ in range(3):
        value = uuid.uuid4().hex
        r = httpx.post(f"{a.url}/v1/banks/videos/entries", headers=_auth(cluster.admin),
                       json={"signal_type": "md5", "value": value})
        assert r.status_code in (200, 201), r.text
        added = time.monotonic()
        while True:
            found = httpx.get(f"{b.url}/v1/lookup", params={"signal_type": "md5", "value": value},
                              headers=_auth(cluster.admin)).json()
            if found["matches"]:
                break
            assert time.monotonic() - added < 60.0, "entry never matchable on node B"
            time.sleep(0.02)


def test_batch_through_two_api_nodes_and_two_workers(cluster: Cluster) -> None:
    videos = _videos("batch", 300)
    _bank(cluster, videos)
    ids = _submit(cluster, "batch", videos)
    _wait_done(cluster, ids)
    _check(cluster, ids)
    # the verdicts reached the platform once each (receivers deduplicate redeliveries by webhook-id)
    receiver = cluster.receiver
    assert receiver is not None
    deadline = time.monotonic() + 30
    wanted = set(ids)
    while True:
        with receiver.lock:
            seen = [p["data"]["item"]["id"] for p in receiver.processed.values()]
        if wanted <= set(seen):
            break
        assert time.monotonic() < deadline, f"{len(wanted - set(seen))} verdict webhooks not delivered"
        time.sleep(0.2)
    assert sorted(i for i in seen if i in wanted) == sorted(wanted)  # one webhook-id per item
    health = httpx.get(f"{cluster.apis[1].url}/healthz").json()
    assert health["status"] == "ok" and health["queue"]["backend"] == "nats"


def test_worker_killed_mid_batch(cluster: Cluster) -> None:
    videos = _videos("kill", 600)
    _bank(cluster, videos)
    victim = cluster.workers[0]
    killed_at: list[int] = []

    def kill_when_busy(n: int) -> None:
        deadline = time.monotonic() + DONE_TIMEOUT
        while time.monotonic() < deadline:
            done = int(cluster.sql("SELECT count(*) FROM items WHERE content_id LIKE 'kill-%%' "
                                   "AND status = 'complete'")[0][0])
            if done >= 100:
                break
            time.sleep(0.05)
        victim.kill9()
        killed_at.append(done)

    ids = _submit(cluster, "kill", videos, during=kill_when_busy)
    assert victim.proc is not None and victim.proc.returncode == -signal.SIGKILL
    assert killed_at and killed_at[0] < len(videos) // 2, f"the kill came late ({killed_at})"
    _wait_done(cluster, ids)
    _check(cluster, ids)
    cluster.workers.remove(victim)
    cluster.node("worker").wait_ready()  # back to two workers for the next tests


def test_nats_restarted_mid_batch(cluster: Cluster) -> None:
    videos = _videos("nats", 400)
    _bank(cluster, videos)
    try:
        ids = _submit(cluster, "nats-a", videos[:200])  # queued; workers are busy with them when NATS stops
        stop_nats()
        late = _submit(cluster, "nats-b", videos[200:])  # still accepted (202), stored as pending
        assert cluster.sql("SELECT count(*) FROM items WHERE id = ANY(%s) AND status = 'pending'", late) == [(200,)]
        health = httpx.get(f"{cluster.apis[0].url}/healthz")
        assert health.status_code == 200 and health.json()["status"] == "degraded"
        time.sleep(1.0)
        start_nats()
    finally:
        if not _nats_ready():
            start_nats()
    ids += late
    _wait_done(cluster, ids)
    _check(cluster, ids)
    health = httpx.get(f"{cluster.apis[0].url}/healthz").json()
    assert health["queue"]["connected"] is True and health["status"] == "ok"


def test_postgres_connections_dropped_mid_batch(cluster: Cluster) -> None:
    videos = _videos("pg", 400)
    _bank(cluster, videos)
    dbname = cluster.dsn.rsplit("=", 1)[1]
    dropped: list[int] = []

    def drop_connections(n: int) -> None:
        for _ in range(3):
            time.sleep(0.4)
            with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
                rows = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                    "WHERE datname = %s AND pid <> pg_backend_pid()", (dbname,)).fetchall()
            dropped.append(len(rows))

    ids = _submit(cluster, "pg", videos, during=drop_connections)
    assert sum(dropped) > 0
    _wait_done(cluster, ids)
    _check(cluster, ids)
    for node in cluster.apis + cluster.workers:
        assert node.proc is not None and node.proc.poll() is None, f"{node.name} died:\n{node.tail()}"
