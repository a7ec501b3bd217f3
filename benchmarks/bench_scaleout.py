"""Scale-out end to end: submit → verdict stored → webhook delivered, embedded against 1, 2 and 4 workers.

Why: a crisis brings a re-upload wave of one piece of media with small edits, plus the captions that
travel with it. What matters is how fast such uploads turn into stored verdicts and into webhooks at
the platform, the p99 of that, and how far the queues fall behind. Every mode runs in the same run on
the same machine, and every figure is also printed as a ratio to the embedded mode (this shared 2-core
machine is noisy).

    .venv/bin/python benchmarks/bench_scaleout.py [--texts 2000] [--images 600] [--videos 1000]
        [--workers 1,2,4] [--burst 50000] [--wave 5000] [--burst-workers 2] [--work-ms 5]

Modes: ``embedded`` = one ``seawall serve`` (in-process pool, webhooks sent by the same process);
``nats-Nw`` = two ``seawall serve --api-only`` nodes and N ``seawall worker`` processes (2 jobs at a
time each) on NATS JetStream. PostgreSQL in every mode; a fresh database and stream prefix each.

Per mode, three phases, 16 client threads each, a real webhook receiver on loopback subscribed to
``item.verdict``:

* ``text``: edited copies of one banked caption (decided in the request; webhooks from the outbox);
* ``image``: edited copies (crop, brightness, JPEG quality, corner watermark) of one banked image;
* ``video``: stand-in videos through the queue (``tests/scaleout_plugin.py``: ``--work-ms`` of
  simulated decoding each, every one banked), i.e. the path a real video takes, minus real decoding.

Throughput is items / (first submit → last webhook received). Verdict latency: request time for text
and images (the verdict is stored before the response), upload → decision row for videos. Webhook
latency: submit → arrival at the receiver.

Then the burst, in the ``nats-<burst-workers>w`` set-up: ``--burst`` caption copies submitted as fast
as 16 clients can (queue lag here is the webhook outbox: deliveries not yet made), and a video wave of
``--wave`` stand-in videos through JetStream (consumer lag sampled from ``/healthz`` every 0.5 s).
A burst of 50,000 real videos does not fit on two cores in a reasonable time; see the README.

Needs PostgreSQL on 127.0.0.1:5432 and NATS on 127.0.0.1:4222. Processes bind 127.0.0.1 only and are
stopped even if a step fails; generated media and texts only.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from seawall.media.content import Content  # noqa: E402
from seawall.plugins import registry  # noqa: E402
from seawall.queue.nats import NatsQueue, NatsQueueConfig  # noqa: E402
from seawall.store.db import upgrade  # noqa: E402
from seawall.uploads.ingest import compute_signals  # noqa: E402

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
NATS_URL = "nats://127.0.0.1:4222"
CLIENTS = 16
CAPTION = ("Footage from the attack is circulating again; this caption was attached to the original upload and "
           "is reused by accounts that re-post the clip with small changes to evade matching, such as a new "
           "emoji, a different link or a counter in the corner. Generated test text, not real material.")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * q))]


# --- generated content: one item of each kind, edited slightly per copy ----------------------------------
def caption_copy(i: int) -> str:
    """The banked caption with a small edit, as re-posters make them."""
    edits = (f" #{i}", f" (repost {i})", f" — mirror {i}", f" {i}!!")
    return CAPTION + edits[i % len(edits)]


def base_image() -> Image.Image:
    rng = np.random.default_rng(7)
    small = rng.integers(0, 256, size=(30, 40, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((640, 480), Image.Resampling.BICUBIC)


def image_copies(n: int) -> list[bytes]:
    """Up to 100 distinct edits (cycled): crop, brightness, JPEG quality and a corner watermark."""
    base = base_image()
    rng = np.random.default_rng(11)
    out: list[bytes] = []
    for _ in range(min(n, 100)):
        w, h = base.size
        dx, dy = int(rng.integers(0, 6)), int(rng.integers(0, 5))
        img = base.crop((dx, dy, w - int(rng.integers(0, 6)), h - int(rng.integers(0, 5)))).resize((w, h))
        arr = np.clip(np.asarray(img, dtype=np.float32) * float(rng.uniform(0.96, 1.04)), 0, 255).astype(np.uint8)
        img = Image.fromarray(arr)
        ImageDraw.Draw(img).rectangle((w - 40, h - 18, w - 8, h - 8), fill=(255, 255, 255))
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=int(rng.integers(75, 95)))
        out.append(buf.getvalue())
    return out


def video_copies(tag: str, n: int) -> list[bytes]:
    return [f"stand-in video {tag} {i} ".encode() * 40 for i in range(n)]


# --- the platform side: a webhook receiver --------------------------------------------------------------
class Receiver:
    """Records when each item's verdict webhook first arrives (redeliveries are counted, not re-timed)."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.repeats = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                now = time.monotonic()
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    item_id = json.loads(body)["data"]["item"]["id"]
                    with receiver.lock:
                        if item_id in receiver.arrived:
                            receiver.repeats += 1
                        else:
                            receiver.arrived[item_id] = now
                self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def wait_for(self, ids: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                missing = sum(1 for i in ids if i not in self.arrived)
            if not missing:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{missing} of {len(ids)} webhooks never arrived")
            time.sleep(0.1)


# --- processes ------------------------------------------------------------------------------------------
def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as fh:
        return subprocess.Popen([sys.executable, "-m", "seawall", *args], env=env, cwd=REPO, stdout=fh,
                                stderr=subprocess.STDOUT, start_new_session=True)


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=10)


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not start")


@dataclass
class Phase:
    mode: str
    kind: str
    items: int
    seconds: float
    verdict_p50: float
    verdict_p99: float
    webhook_p99: float
    submit_seconds: float
    max_queue_lag: int = 0
    max_outbox: int = 0
    drain_seconds: float = 0.0
    blocked: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return self.items / self.seconds


@dataclass
class Deployment:
    name: str
    apis: list[str]
    dsn: str
    key: str
    receiver: Receiver

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            return list(conn.execute(query, params).fetchall())

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@contextlib.contextmanager
def deployment(name: str, workers: int, *, work_ms: float, concurrency: int, tmp: Path) -> Iterator[Deployment]:
    """workers == 0: embedded (one `seawall serve`); else 2 API nodes + N workers on NATS."""
    db = f"seawall_bench_{uuid.uuid4().hex[:10]}"
    prefix = f"swbench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{db}"
    procs: list[subprocess.Popen[bytes]] = []
    receiver = Receiver()
    try:
        upgrade(url)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SEAWALL_")}
        env.update({"SEAWALL_DATABASE_URL": url, "SEAWALL_PLUGINS": "tests.scaleout_plugin:register",
                    "PYTHONPATH": str(REPO), "SEAWALL_TEST_WORK_SECONDS": str(work_ms / 1000),
                    "SEAWALL_LOG_LEVEL": "warning", "SEAWALL_WORKERS": str(concurrency),
                    "SEAWALL_QUEUE_DEGRADED_DEPTH": "1000000", "SEAWALL_WEBHOOK_ALLOW_HOSTS": "127.0.0.1",
                    "SEAWALL_WEBHOOK_POLL_SECONDS": "0.2", "SEAWALL_OCR_ENABLED": "false"})
        key = subprocess.run([sys.executable, "-m", "seawall", "apikey", "create", "--role", "admin"],
                             env={**env, "SEAWALL_DATA_DIR": str(tmp / f"{name}-setup")}, cwd=REPO,
                             capture_output=True, check=True).stdout.decode().strip().splitlines()[-1]
        apis: list[tuple[str, subprocess.Popen[bytes], Path]] = []
        if workers == 0:
            port = free_port()
            log = tmp / f"{name}-serve.log"
            procs.append(start(["serve", "--port", str(port)], {**env, "SEAWALL_DATA_DIR": str(tmp / f"{name}-0")},
                               log))
            apis.append((f"http://127.0.0.1:{port}", procs[-1], log))
        else:
            env.update({"SEAWALL_NATS_URL": NATS_URL, "SEAWALL_NATS_PREFIX": prefix})
            for i in range(2):
                port = free_port()
                log = tmp / f"{name}-api{i}.log"
                procs.append(start(["serve", "--api-only", "--port", str(port)],
                                   {**env, "SEAWALL_DATA_DIR": str(tmp / f"{name}-api{i}")}, log))
                apis.append((f"http://127.0.0.1:{port}", procs[-1], log))
            for i in range(workers):
                procs.append(start(["worker"], {**env, "SEAWALL_DATA_DIR": str(tmp / f"{name}-w{i}")},
                                   tmp / f"{name}-w{i}.log"))
        for api, proc, log in apis:
            wait_http(api, proc, log)
        dep = Deployment(name, [a for a, _, _ in apis], f"host=127.0.0.1 port=5432 user=postgres dbname={db}", key,
                         receiver)
        hook = httpx.post(f"{dep.apis[0]}/v1/webhooks", headers=dep.auth,
                          json={"url": receiver.url, "event_types": ["item.verdict"]})
        hook.raise_for_status()
        bank(dep)
        time.sleep(1.5)  # every node's index and outbox follow the store
        yield dep
    finally:
        stop(procs)
        receiver.server.shutdown()
        if workers:
            try:
                q = NatsQueue(NatsQueueConfig(url=NATS_URL, prefix=prefix), consume=False)
                q.delete_streams()
                q.close()
            except Exception as exc:
                print(f"could not delete streams {prefix}: {exc}", file=sys.stderr)
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def bank(dep: Deployment) -> None:
    """One bank holding the caption's text signals and the image's PDQ hash."""
    api, h = dep.apis[0], dep.auth
    httpx.post(f"{api}/v1/banks", headers=h, json={"name": "crisis"}).raise_for_status()
    for sig in compute_signals(registry(), Content("text", text=CAPTION), for_query=False):
        if sig.type.startswith("text_") or sig.type == "tlsh":
            httpx.post(f"{api}/v1/banks/crisis/entries", headers=h,
                       json={"signal_type": sig.type, "value": sig.value}).raise_for_status()
    buf = io.BytesIO()
    base_image().save(buf, "PNG")
    httpx.post(f"{api}/v1/banks/crisis/entries", headers=h,
               files={"file": ("crisis.png", buf.getvalue(), "image/png")}).raise_for_status()


def import_videos(dep: Deployment, videos: list[bytes]) -> None:
    body = "".join(f"video_sha1 {hashlib.sha1(v).hexdigest()}\n" for v in videos)
    httpx.post(f"{dep.apis[0]}/v1/banks/crisis/import?format=text", headers=dep.auth, content=body,
               timeout=600).raise_for_status()
    time.sleep(1.5)


class Sampler:
    """Queue lag from /healthz (JetStream num_pending; the in-process depth when embedded) and the
    webhook outbox backlog from the store, every 0.5 s."""

    def __init__(self, dep: Deployment) -> None:
        self.dep = dep
        self.lag: list[int] = []
        self.outbox: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with psycopg.connect(self.dep.dsn, autocommit=True) as conn:
            while not self._stop.wait(0.5):
                with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
                    q = httpx.get(f"{self.dep.apis[-1]}/healthz", timeout=5).json()["queue"]
                    self.lag.append(int(q.get("lag", q.get("depth", 0))))
                row = conn.execute("SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'").fetchone()
                self.outbox.append(int(row[0]) if row else 0)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def submit_all(dep: Deployment, n: int, make: Callable[[httpx.Client, str, int], httpx.Response],
               expect: int) -> tuple[list[str], dict[str, float], list[float], float, float]:
    """Submit n items with CLIENTS threads; (ids, submit time per id, request seconds, started, finished)."""
    client = httpx.Client(limits=httpx.Limits(max_connections=2 * CLIENTS), timeout=120)
    ids: list[str] = [""] * n
    sent: dict[str, float] = {}
    took: list[float] = [0.0] * n

    def one(i: int) -> None:
        api = dep.apis[i % len(dep.apis)]
        for _ in range(100):
            t0 = time.monotonic()
            try:
                r = make(client, api, i)
            except httpx.TransportError:  # a reset under overload: the client tries again, as a platform would
                time.sleep(0.5)
                continue
            t1 = time.monotonic()
            if r.status_code == expect:
                ids[i] = str(r.json()["id"])
                sent[ids[i]] = t0
                took[i] = t1 - t0
                return
            if r.status_code != 503:
                raise RuntimeError(f"{r.status_code}: {r.text}")
            time.sleep(float(r.headers.get("retry-after", "1")))  # back-pressure: the client waits
        raise RuntimeError(f"item {i} was refused 100 times")

    started = time.monotonic()
    with client, ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(one, range(n)))
    return ids, sent, took, started, time.monotonic()


def run_phase(dep: Deployment, kind: str, n: int, *, tag: str, work_ms: float) -> Phase:
    h = dep.auth
    images = image_copies(n) if kind == "image" else []
    videos = video_copies(f"{dep.name}-{tag}", n) if kind == "video" else []
    if videos:
        import_videos(dep, videos)

    def make(client: httpx.Client, api: str, i: int) -> httpx.Response:
        cid = f"{tag}-{i}"
        if kind == "text":
            return client.post(f"{api}/v1/items", headers=h, json={"content_id": cid, "text": caption_copy(i)})
        if kind == "image":
            return client.post(f"{api}/v1/items", headers=h, data={"content_id": cid},
                               files={"file": ("i.jpg", images[i % len(images)], "image/jpeg")})
        return client.post(f"{api}/v1/items", headers=h, data={"content_id": cid},
                           files={"file": ("v.mp4", videos[i], "video/mp4")})

    sampler = Sampler(dep)
    try:
        ids, sent, took, started, submitted = submit_all(dep, n, make, 202 if kind == "video" else 200)
        dep.receiver.wait_for(ids, timeout=3600)
    finally:
        sampler.stop()
    with dep.receiver.lock:
        arrivals = {i: dep.receiver.arrived[i] for i in ids}
    if kind == "video":
        rows = dep.sql("SELECT extract(epoch FROM d.created_at - i.received_at) FROM items i JOIN decisions d "
                       "ON d.item_id = i.id WHERE i.id = ANY(%s)", ids)
        verdict_lat = [float(r[0]) for r in rows]
        if len(verdict_lat) != n:
            raise RuntimeError(f"{len(verdict_lat)} decisions for {n} videos")
    else:
        verdict_lat = took
    blocked = int(dep.sql("SELECT count(*) FROM items WHERE id = ANY(%s) AND verdict = 'block'", ids)[0][0])
    last = max(arrivals.values())
    return Phase(dep.name, kind, n, last - started, pct(verdict_lat, 0.5), pct(verdict_lat, 0.99),
                 pct([arrivals[i] - sent[i] for i in ids], 0.99), submitted - started,
                 max(sampler.lag, default=0), max(sampler.outbox, default=0), last - submitted, blocked)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--texts", type=int, default=2000, help="text items per mode")
    ap.add_argument("--images", type=int, default=600, help="image items per mode")
    ap.add_argument("--videos", type=int, default=1000, help="stand-in videos per mode (through the queue)")
    ap.add_argument("--work-ms", type=float, default=5.0, help="simulated decoding per stand-in video")
    ap.add_argument("--concurrency", type=int, default=2, help="jobs at once per worker process (SEAWALL_WORKERS)")
    ap.add_argument("--workers", default="1,2,4", help="worker process counts to measure")
    ap.add_argument("--burst", type=int, default=50_000, help="caption copies in the burst (0: no burst)")
    ap.add_argument("--wave", type=int, default=5_000, help="stand-in videos in the burst's video wave")
    ap.add_argument("--burst-workers", type=int, default=2, help="workers in the burst set-up")
    args = ap.parse_args()
    phases: list[Phase] = []
    burst: list[Phase] = []
    with tempfile.TemporaryDirectory(prefix="seawall-bench-") as tmp_name:
        tmp = Path(tmp_name)
        configs = [("embedded", 0)] + [(f"nats-{n}w", int(n)) for n in args.workers.split(",") if n]
        if not (args.texts or args.images or args.videos):
            configs = []
        for name, n in configs:
            print(f"running {name}…", file=sys.stderr, flush=True)
            with deployment(name, n, work_ms=args.work_ms, concurrency=args.concurrency, tmp=tmp) as dep:
                for kind, count in (("text", args.texts), ("image", args.images), ("video", args.videos)):
                    if count:
                        phases.append(run_phase(dep, kind, count, tag=kind, work_ms=args.work_ms))
                        print(f"  {phases[-1]}", file=sys.stderr, flush=True)
        if args.burst or args.wave:
            name = f"nats-{args.burst_workers}w"
            print(f"burst in {name}…", file=sys.stderr, flush=True)
            with deployment(f"burst-{name}", args.burst_workers, work_ms=args.work_ms, concurrency=args.concurrency,
                            tmp=tmp) as dep:
                if args.burst:
                    burst.append(run_phase(dep, "text", args.burst, tag="burst", work_ms=args.work_ms))
                    print(f"  {burst[-1]}", file=sys.stderr, flush=True)
                if args.wave:
                    burst.append(run_phase(dep, "video", args.wave, tag="wave", work_ms=args.work_ms))
                    print(f"  {burst[-1]}", file=sys.stderr, flush=True)

    print(f"\nend to end (submit → verdict stored → webhook received), {CLIENTS} clients, PostgreSQL in every "
          f"mode; videos: stand-ins with {args.work_ms:g} ms simulated decoding, {args.concurrency} job(s) at a "
          "time per process")
    print(f"{'kind':<6} {'mode':<9} {'items':>6} {'items/s':>8} {'× emb.':>7} {'verdict p50 s':>13} "
          f"{'verdict p99 s':>13} {'webhook p99 s':>13} {'max lag':>8} {'matched':>8}")
    for kind in ("text", "image", "video"):
        rows = [p for p in phases if p.kind == kind]
        if not rows:
            continue
        base = rows[0]
        for p in rows:
            print(f"{kind:<6} {p.mode:<9} {p.items:>6} {p.per_second:>8.1f} {p.per_second / base.per_second:>6.2f}× "
                  f"{p.verdict_p50:>13.3f} {p.verdict_p99:>13.3f} {p.webhook_p99:>13.2f} "
                  f"{max(p.max_queue_lag, p.max_outbox):>8} {p.blocked / p.items:>7.1%}")
    for p in burst:
        what = "caption copies (outbox)" if p.kind == "text" else "stand-in videos (JetStream)"
        print(f"\nburst, {p.mode}: {p.items:,} {what}: accepted in {p.submit_seconds:.1f} s "
              f"({p.items / p.submit_seconds:.0f}/s), last webhook {p.seconds:.1f} s after the first upload "
              f"({p.per_second:.0f} items/s end to end), drained {p.drain_seconds:.1f} s after the last upload; "
              f"verdict p50/p99 {p.verdict_p50:.3f}/{p.verdict_p99:.3f} s, webhook p99 {p.webhook_p99:.1f} s, "
              f"max JetStream lag {p.max_queue_lag:,}, max outbox backlog {p.max_outbox:,}, "
              f"matched {p.blocked / p.items:.1%}")


if __name__ == "__main__":
    main()
