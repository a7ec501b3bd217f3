"""Fault drills: a wave of uploads while PostgreSQL restarts, while NATS restarts, and while an API node
is killed with SIGKILL — on a PostgreSQL cluster and a nats-server of the drill's own.

Each drill runs a scale-out deployment (``seawall serve --api-only`` nodes and a ``seawall worker`` on
JetStream) against a private PostgreSQL and NATS (``tests/private_services.py``), so stopping them never
disturbs the shared services other tests use. A client sends a wave of text and image uploads (every
other pair with ``once``; a third of them match a banked entry, so they are blocked and struck) and
behaves as a careful platform: a ``503`` with ``Retry-After`` is retried; a request that got no response
is retried only when it carried ``once`` (the same content id, so the store returns the first item);
any other answer (a 500, a 4xx) fails the drill.

When the wave is over the drill waits, bounded, until every acknowledged item is final and every
webhook event reached a local receiver, then checks the store and the receiver: every acknowledged
item stored once and decided once, with the expected verdict; no action, strike or webhook event twice;
no webhook-id delivered twice; nothing lost. The counts are printed (``pytest -s``).
"""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from seawall.banks.service import EntryInput
from seawall.composition import build_engine
from seawall.config import Settings
from seawall.engine import Engine
from seawall.store.db import upgrade

from .conftest import encode, textured_image
from .private_services import PrivateNats, PrivatePostgres
from .processes import free_port
from .test_scaleout import SOURCES, Node
from .webhook_receiver import Receiver

pytestmark = pytest.mark.slow

WAVE = 80
CLIENTS = 6
SETTLE_TIMEOUT = 180.0
RULES = """\
rules:
  - id: banned
    when: {match: {bank_kind: block}}
    then: [block, strike]
"""
EVENTS = ["item.verdict", "account.strike"]


def _until(cond: Callable[[], bool], what: str, timeout: float = SETTLE_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.2)


# --- the upload wave -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Upload:
    index: int
    tag: str

    @property
    def kind(self) -> str:
        return "text" if self.index % 2 == 0 else "image"

    @property
    def once(self) -> bool:
        return (self.index // 2) % 2 == 0

    @property
    def banned(self) -> bool:
        return self.index % 3 == 0

    @property
    def content_id(self) -> str:
        return f"{self.tag}-{self.index}"

    @property
    def account_id(self) -> str:
        return f"@{self.tag}-{self.index}:drill"

    def text(self) -> str:
        return f"generated stand-in for a banned slogan {self.index}" if self.banned else \
            f"an ordinary message number {self.index} from the drill {self.tag}"

    def image(self) -> bytes:
        seed = (10_000 if self.banned else 500_000) + self.index
        return encode(textured_image(seed, (320, 240)))


@dataclass
class Outcome:
    upload: Upload
    item_id: str | None = None
    refused: int = 0  # 503 with Retry-After, retried
    resent: int = 0  # no response (connection lost), re-sent with the same ``once`` key
    unsent: int = 0  # the connection was refused before the request left: tried again
    in_doubt: bool = False  # no response and no ``once``: a platform cannot know, so it does not re-send
    unexpected: list[str] = field(default_factory=list)


class Platform:
    """The client: sends each upload to a live API node and retries the way a careful platform does."""

    def __init__(self, apis: list[Node], key: str) -> None:
        self.apis = apis
        self.dead: set[str] = set()
        self.key = key
        self.acked = 0
        self.lock = threading.Lock()
        self.client = httpx.Client(limits=httpx.Limits(max_connections=CLIENTS * 2), timeout=60)

    def _node(self, i: int) -> Node:
        alive = [n for n in self.apis if n.name not in self.dead] or self.apis
        return alive[i % len(alive)]

    def _post(self, node: Node, u: Upload) -> httpx.Response:
        h = {"Authorization": f"Bearer {self.key}"}
        fields = {"content_id": u.content_id, "account_id": u.account_id}
        if u.kind == "text":
            return self.client.post(f"{node.url}/v1/items", headers=h, json={**fields, "text": u.text(),
                                                                            "once": u.once})
        return self.client.post(f"{node.url}/v1/items", headers=h, data={**fields, "once": str(u.once).lower()},
                                files={"file": ("a.jpg", u.image(), "image/jpeg")})

    def send(self, u: Upload) -> Outcome:
        out = Outcome(u)
        deadline = time.monotonic() + SETTLE_TIMEOUT
        attempt = u.index
        while time.monotonic() < deadline:
            node = self._node(attempt)
            attempt += 1
            try:
                r = self._post(node, u)
            except httpx.ConnectError:
                out.unsent += 1
                if node.proc is not None and node.proc.poll() is not None:
                    with self.lock:
                        self.dead.add(node.name)
                time.sleep(0.2)
                continue
            except httpx.TransportError:
                if not u.once:
                    out.in_doubt = True
                    return out
                out.resent += 1
                time.sleep(0.2)
                continue
            if r.status_code in (200, 202):
                out.item_id = str(r.json()["id"])
                with self.lock:
                    self.acked += 1
                return out
            if r.status_code == 503 and r.headers.get("retry-after") and r.json().get("code"):
                out.refused += 1
                time.sleep(0.3)
                continue
            out.unexpected.append(f"{r.status_code} {r.text[:300]}")
            return out
        out.unexpected.append("never accepted before the deadline")
        return out

    def wave(self, uploads: list[Upload], during: Callable[[], None]) -> list[Outcome]:
        started = time.monotonic()
        with ThreadPoolExecutor(CLIENTS) as pool:
            futures = [pool.submit(self.send, u) for u in uploads]
            during()
            outcomes = [f.result() for f in futures]
        print(f"\nwave of {len(uploads)} sent in {time.monotonic() - started:.1f} s")
        return outcomes

    def close(self) -> None:
        self.client.close()


# --- the deployment --------------------------------------------------------------------------------
@dataclass
class Deployment:
    pg: PrivatePostgres
    nats: PrivateNats
    dbname: str
    env: dict[str, str]
    tmp: Path
    key: str
    receiver: Receiver
    tag: str
    apis: list[Node] = field(default_factory=list)
    killed: set[str] = field(default_factory=set)
    workers: list[Node] = field(default_factory=list)

    def node(self, kind: str) -> Node:
        name = f"{kind}-{len(self.apis) + len(self.workers) + 1}"
        env = {**self.env, "SEAWALL_DATA_DIR": str(self.tmp / name)}
        if kind == "api":
            port = free_port()
            node = Node(name, ["serve", "--api-only", "--port", str(port)], env, self.tmp / f"{name}.log", port)
            self.apis.append(node)
        else:
            port = free_port()
            node = Node(name, ["worker", "--health-port", str(port)], env, self.tmp / f"{name}.log", port)
            self.workers.append(node)
        node.start()
        return node

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.pg.dsn(self.dbname), autocommit=True, connect_timeout=5) as conn:
            return list(conn.execute(query, params).fetchall())  # type: ignore[arg-type]

    def logs(self) -> str:
        return "\n".join(f"--- {n.name}\n{n.tail()}" for n in self.apis + self.workers)


def _bank_the_banned(eng: Engine, tag: str) -> None:
    eng.banks.create("tvec")
    for i in range(0, WAVE, 3):
        u = Upload(i, tag)
        if u.kind == "text":
            eng.add_entry("tvec", EntryInput("sha256", hashlib.sha256(u.text().encode()).hexdigest(), []),
                          added_by="drill")
        else:
            eng.add_entries_from_content("tvec", eng.content("image", data=u.image()), labels=[], note="",
                                         source="", added_by="drill")


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    pg, nats, receiver = PrivatePostgres(), PrivateNats(), Receiver()
    dep: Deployment | None = None
    try:
        pg.start()
        nats.start()
        dbname = "seawall_drill"
        url = pg.create_database(dbname)
        upgrade(url)
        tag = f"d{uuid.uuid4().hex[:6]}"
        setup = build_engine(Settings(data_dir=tmp_path / "setup", database_url=url, webhook_allow_hosts="127.0.0.1"))
        try:
            _bank_the_banned(setup, tag)
            setup.rules.save(RULES, created_by="drill")
            receiver.secret = setup.webhooks.create(url=receiver.url(), event_types=EVENTS, created_by="drill")[
                "secret"]
            key = setup.api_keys.create("submitter", "drill platform")[0]
        finally:
            setup.close()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SEAWALL_")}
        env.update({
            "SEAWALL_DATABASE_URL": url, "SEAWALL_NATS_URL": nats.url, "SEAWALL_NATS_PREFIX": "drill",
            "SEAWALL_NATS_ACK_WAIT_SECONDS": "5", "SEAWALL_NATS_SWEEP_SECONDS": "1",
            "SEAWALL_NATS_RECONNECT_MAX_SECONDS": "1", "SEAWALL_WORKERS": "2", "PYTHONPATH": SOURCES,
            "SEAWALL_WEBHOOK_ALLOW_HOSTS": "127.0.0.1", "SEAWALL_WEBHOOK_POLL_SECONDS": "0.2",
            "SEAWALL_WEBHOOK_RETRY_BASE_SECONDS": "0.5", "SEAWALL_LOG_LEVEL": "warning",
        })
        dep = Deployment(pg, nats, dbname, env, tmp_path, key, receiver, tag)
        yield dep
    finally:
        if dep is not None:
            for n in dep.apis + dep.workers:
                n.stop()
        receiver.stop()
        nats.close()
        pg.close()


def _start(dep: Deployment, apis: int) -> Platform:
    for _ in range(apis):
        dep.node("api")
    dep.node("worker")
    started = time.monotonic()
    for n in dep.apis + dep.workers:
        n.wait_ready(120)
    print(f"\nnodes ready in {time.monotonic() - started:.1f} s")
    return Platform(dep.apis, dep.key)


def _when_acked(platform: Platform, n: int, timeout: float = SETTLE_TIMEOUT) -> int:
    _until(lambda: platform.acked >= n, f"{n} uploads were acknowledged", timeout)
    return platform.acked


# --- the verdict on a drill ------------------------------------------------------------------------
def _settle_and_check(dep: Deployment, outcomes: list[Outcome], name: str) -> dict[str, int]:
    unexpected = [(o.upload.content_id, o.unexpected) for o in outcomes if o.unexpected]
    assert not unexpected, f"answers a platform cannot act on: {unexpected[:5]}\n{dep.logs()}"
    acked = {o.upload.content_id: o.item_id for o in outcomes if o.item_id}
    ids = list(acked.values())
    tag = outcomes[0].upload.tag
    like = f"{tag}-%"

    def settled() -> bool:
        left = dep.sql("SELECT count(*) FROM items WHERE content_id LIKE %s "
                       "AND (status = 'pending' OR stage2_pending IS NOT NULL)", like)[0][0]
        return bool(left == 0)

    started = time.monotonic()
    _until(settled, "every stored item of the wave is final")
    print(f"settled {time.monotonic() - started:.1f} s after the wave")
    events = dep.sql("SELECT e.message_id, e.type FROM webhook_events e WHERE e.payload->'data'->'item'->>'content_id' "
                     "LIKE %s OR e.payload->'data'->>'account_id' LIKE %s", like, f"@{tag}-%")
    wanted = {m for m, _ in events}
    _until(lambda: wanted <= set(dep.receiver.processed), "every webhook event reached the receiver")
    time.sleep(1.0)  # a redelivery, if any, would arrive now

    rows = dep.sql("SELECT id, content_id, status, verdict FROM items WHERE content_id LIKE %s", like)
    per_content = Counter(c for _, c, _, _ in rows)
    stored = {i: (c, s, v) for i, c, s, v in rows}
    lost = [c for c, i in acked.items() if i not in stored]
    duplicated_items = sum(n - 1 for n in per_content.values() if n > 1)
    decisions = Counter(i for (i,) in dep.sql("SELECT item_id FROM decisions WHERE item_id = ANY(%s)",
                                              list(stored)))
    actions = Counter((i, t) for i, t in dep.sql("SELECT item_id, type FROM actions WHERE item_id = ANY(%s)",
                                                 list(stored)))
    verdict_events = Counter(i for (i,) in dep.sql(
        "SELECT payload->'data'->'item'->>'id' FROM webhook_events WHERE type = 'item.verdict' "
        "AND payload->'data'->'item'->>'content_id' LIKE %s", like))
    strikes = Counter(a for (a,) in dep.sql("SELECT account_id FROM strikes WHERE account_id LIKE %s", f"@{tag}-%"))
    with dep.receiver.lock:
        arrivals = {m: dep.receiver.arrivals[m] for m in wanted}
    redelivered = sum(n - 1 for n in arrivals.values() if n > 1)
    by_index = {o.upload.content_id: o.upload for o in outcomes}
    wrong = [(c, v) for c, s, v in stored.values()
             if s != "complete" or v != ("block" if by_index[c].banned else "allow")]
    counts = {
        "uploads": len(outcomes), "acknowledged": len(acked),
        "refused_503_retried": sum(o.refused for o in outcomes),
        "resent_after_no_response": sum(o.resent for o in outcomes),
        "connection_refused_retried": sum(o.unsent for o in outcomes),
        "in_doubt_without_once": sum(o.in_doubt for o in outcomes),
        "decided": sum(1 for i in ids if i in stored and stored[i][1] == "complete"),
        "duplicate_items": duplicated_items,
        "duplicate_decisions": sum(n - 1 for n in decisions.values() if n > 1),
        "duplicate_actions": sum(n - 1 for n in actions.values() if n > 1),
        "duplicate_strikes": sum(n - 1 for n in strikes.values() if n > 1),
        "duplicate_verdict_events": sum(n - 1 for n in verdict_events.values() if n > 1),
        "webhook_events": len(wanted), "webhook_redeliveries": redelivered, "lost": len(lost),
    }
    print(f"\n{name}: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    assert not lost, f"acknowledged but not stored: {lost[:5]}"
    assert not wrong, f"items not decided as expected: {wrong[:5]}\n{dep.logs()}"
    assert counts["decided"] == len(acked)
    assert duplicated_items == 0, [c for c, n in per_content.items() if n > 1]
    assert set(decisions) == set(stored) and counts["duplicate_decisions"] == 0
    assert counts["duplicate_actions"] == 0 and counts["duplicate_strikes"] == 0
    assert set(verdict_events) == set(stored) and counts["duplicate_verdict_events"] == 0
    assert len(strikes) == sum(1 for c, _, _ in stored.values() if by_index[c].banned)
    assert redelivered == 0, {m: n for m, n in arrivals.items() if n > 1}
    assert dep.receiver.bad_signatures == 0
    for n in dep.apis + dep.workers:
        if n.name not in dep.killed:
            assert n.proc is not None and n.proc.poll() is None, f"{n.name} died:\n{n.tail()}"
    return counts


def _uploads(dep: Deployment) -> list[Upload]:
    return [Upload(i, dep.tag) for i in range(WAVE)]


# --- the drills ------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_postgres_restarted_mid_wave(deployment: Deployment, mode: str) -> None:
    dep = deployment
    platform = _start(dep, apis=1)
    at: list[int] = []

    def restart() -> None:
        at.append(_when_acked(platform, WAVE // 4))
        dep.pg.stop(mode)
        time.sleep(2.0)  # uploads meanwhile meet a store that is away
        dep.pg.start()

    try:
        outcomes = platform.wave(_uploads(dep), restart)
    finally:
        platform.close()
    assert at[0] < WAVE, "the restart came after the wave"
    counts = _settle_and_check(dep, outcomes, f"PostgreSQL restarted ({mode})")
    assert counts["acknowledged"] + counts["in_doubt_without_once"] == WAVE


def test_nats_restarted_mid_wave(deployment: Deployment) -> None:
    dep = deployment
    platform = _start(dep, apis=1)
    at: list[int] = []

    def restart() -> None:
        at.append(_when_acked(platform, WAVE // 4))
        dep.nats.stop()
        time.sleep(2.0)
        dep.nats.start()

    try:
        outcomes = platform.wave(_uploads(dep), restart)
    finally:
        platform.close()
    assert at[0] < WAVE, "the restart came after the wave"
    counts = _settle_and_check(dep, outcomes, "NATS restarted")
    assert counts["acknowledged"] + counts["in_doubt_without_once"] == WAVE


def test_api_node_killed_mid_wave(deployment: Deployment) -> None:
    dep = deployment
    platform = _start(dep, apis=2)
    victim = dep.apis[0]
    at: list[int] = []

    def kill() -> None:
        at.append(_when_acked(platform, WAVE // 4))
        victim.kill9()
        dep.killed.add(victim.name)

    try:
        outcomes = platform.wave(_uploads(dep), kill)
    finally:
        platform.close()
    assert victim.proc is not None and victim.proc.returncode == -signal.SIGKILL
    assert at[0] < WAVE, "the kill came after the wave"
    counts = _settle_and_check(dep, outcomes, "API node killed with SIGKILL")
    assert counts["acknowledged"] + counts["in_doubt_without_once"] == WAVE
