"""Deferred items end to end: the embedded mode against scale-out with 1, 2 and 4 workers, same run.

Why: background work (video) is what a crisis re-upload wave piles up. This measures how fast a burst
of deferred uploads turns into stored verdicts, the p99 time from upload to verdict, and how deep the
queue gets, with the work carried by the embedded in-process pool (one ``seawall serve``) or by NATS
JetStream with two ``seawall serve --api-only`` nodes and 1, 2 or 4 ``seawall worker`` processes.
Every figure is also printed as a ratio to the embedded run, since this shared 2-core machine is noisy.

    .venv/bin/python benchmarks/bench_scaleout.py [--items 2000] [--work-ms 5] [--concurrency 2]

Needs PostgreSQL on 127.0.0.1:5432 and NATS on 127.0.0.1:4222. Each configuration gets a fresh
database (dropped afterwards) and its own stream prefix (deleted afterwards). Items are generated
stand-in videos hashed by the test signal in ``tests/scaleout_plugin.py`` (``--work-ms`` of simulated
decoding each), every one matching a bank entry, so each verdict also writes a match, a decision and
an action. Processes bind 127.0.0.1 only and are stopped even if a step fails.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from seawall.queue.nats import NatsQueue, NatsQueueConfig  # noqa: E402
from seawall.store.db import upgrade  # noqa: E402

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
NATS_URL = "nats://127.0.0.1:4222"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Result:
    name: str
    items: int
    seconds: float
    p50: float
    p99: float
    max_depth: int
    drain_seconds: float

    @property
    def per_second(self) -> float:
        return self.items / self.seconds


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
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=10)


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
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


def run(name: str, *, workers: int, items: int, work_ms: float, concurrency: int, tmp: Path) -> Result:
    """workers == 0: embedded (one `seawall serve`, in-process pool); else 2 API nodes + N workers on NATS."""
    db = f"seawall_bench_{uuid.uuid4().hex[:10]}"
    prefix = f"swbench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{db}"
    dsn = f"host=127.0.0.1 port=5432 user=postgres dbname={db}"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        upgrade(url)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SEAWALL_")}
        env.update({"SEAWALL_DATABASE_URL": url, "SEAWALL_PLUGINS": "tests.scaleout_plugin:register",
                    "PYTHONPATH": str(REPO), "SEAWALL_TEST_WORK_SECONDS": str(work_ms / 1000),
                    "SEAWALL_LOG_LEVEL": "warning", "SEAWALL_WORKERS": str(concurrency),
                    "SEAWALL_QUEUE_DEGRADED_DEPTH": "1000000"})
        key = subprocess.run([sys.executable, "-m", "seawall", "apikey", "create", "--role", "admin"],
                             env={**env, "SEAWALL_DATA_DIR": str(tmp / f"{name}-setup")}, cwd=REPO,
                             capture_output=True, check=True).stdout.decode().strip().splitlines()[-1]
        apis: list[str] = []
        if workers == 0:
            port = free_port()
            procs.append(start(["serve", "--port", str(port)], {**env, "SEAWALL_DATA_DIR": str(tmp / f"{name}-0")},
                               tmp / f"{name}-serve.log"))
            apis.append(f"http://127.0.0.1:{port}")
        else:
            env.update({"SEAWALL_NATS_URL": NATS_URL, "SEAWALL_NATS_PREFIX": prefix})
            for i in range(2):
                port = free_port()
                node_env = {**env, "SEAWALL_DATA_DIR": str(tmp / f"{name}-api{i}")}
                procs.append(start(["serve", "--api-only", "--port", str(port)], node_env, tmp / f"{name}-api{i}.log"))
                apis.append(f"http://127.0.0.1:{port}")
            for i in range(workers):
                procs.append(start(["worker"], {**env, "SEAWALL_DATA_DIR": str(tmp / f"{name}-w{i}")},
                                   tmp / f"{name}-w{i}.log"))
        for i, (api, proc) in enumerate(zip(apis, procs, strict=False)):
            wait_http(api, proc, tmp / (f"{name}-serve.log" if workers == 0 else f"{name}-api{i}.log"))
        h = {"Authorization": f"Bearer {key}"}
        videos = [f"bench video {name} {i} ".encode() * 40 for i in range(items)]
        httpx.post(f"{apis[0]}/v1/banks", headers=h, json={"name": "videos"}).raise_for_status()
        body = "".join(f"video_sha1 {hashlib.sha1(v).hexdigest()}\n" for v in videos)
        httpx.post(f"{apis[0]}/v1/banks/videos/import?format=text", headers=h, content=body,
                   timeout=120).raise_for_status()
        time.sleep(1.0)  # every node's index follows the store

        depths: list[int] = []
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.wait(0.2):
                with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
                    depths.append(int(httpx.get(f"{apis[-1]}/healthz", timeout=2).json()["queue"]["depth"]))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()

        client = httpx.Client(limits=httpx.Limits(max_connections=32))  # one client: no TLS set-up per request

        def submit(i: int) -> None:
            r = client.post(f"{apis[i % len(apis)]}/v1/items", headers=h, timeout=60, data={"content_id": f"b{i}"},
                           files={"file": ("v.mp4", videos[i], "video/mp4")})
            if r.status_code != 202:
                raise RuntimeError(f"{r.status_code}: {r.text}")

        started = time.monotonic()
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(submit, range(items)))
        submitted = time.monotonic()
        client.close()
        with psycopg.connect(dsn, autocommit=True) as conn:
            while conn.execute("SELECT count(*) FROM items WHERE status = 'pending'").fetchone()[0]:  # type: ignore[index]
                if time.monotonic() - started > 1800:
                    raise RuntimeError("items still pending after 30 minutes")
                time.sleep(0.1)
            drained = time.monotonic()
            rows = conn.execute(
                "SELECT extract(epoch FROM d.created_at - i.received_at) FROM items i JOIN decisions d "
                "ON d.item_id = i.id").fetchall()
            span = conn.execute("SELECT extract(epoch FROM max(d.created_at) - min(i.received_at)) FROM items i "
                                "JOIN decisions d ON d.item_id = i.id").fetchone()
            bad = conn.execute("SELECT count(*) FROM items WHERE status <> 'complete' OR verdict <> 'block'").fetchone()
        sampling.set()
        sampler.join()
        assert bad is not None and bad[0] == 0, f"{bad[0] if bad else '?'} items without a block verdict"
        assert len(rows) == items, f"{len(rows)} decisions for {items} items"
        lat = sorted(float(r[0]) for r in rows)
        assert span is not None
        return Result(name, items, float(span[0]), lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.99))],
                      max(depths, default=0), drained - submitted)
    finally:
        stop(procs)
        if workers:
            try:
                q = NatsQueue(NatsQueueConfig(url=NATS_URL, prefix=prefix), consume=False)
                q.delete_streams()
                q.close()
            except Exception as exc:
                print(f"could not delete streams {prefix}: {exc}", file=sys.stderr)
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=2000, help="deferred items in the burst")
    ap.add_argument("--work-ms", type=float, default=5.0, help="simulated decoding per item")
    ap.add_argument("--concurrency", type=int, default=2, help="jobs at once per worker process (SEAWALL_WORKERS)")
    ap.add_argument("--workers", default="1,2,4", help="worker process counts to measure")
    args = ap.parse_args()
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="seawall-bench-") as tmp:
        configs = [("embedded", 0)] + [(f"nats-{n}w", int(n)) for n in args.workers.split(",")]
        for name, n in configs:
            print(f"running {name} ({args.items} items)…", file=sys.stderr, flush=True)
            results.append(run(name, workers=n, items=args.items, work_ms=args.work_ms, concurrency=args.concurrency,
                               tmp=Path(tmp)))
    base = results[0]
    print(f"\n{args.items} deferred items, {args.work_ms:g} ms simulated decoding each, "
          f"{args.concurrency} job(s) at a time per process, PostgreSQL for every mode")
    print(f"{'mode':<10} {'items/s':>8} {'× embedded':>10} {'p50 s':>7} {'p99 s':>7} {'max depth':>9} "
          f"{'drain s':>8}")
    for r in results:
        print(f"{r.name:<10} {r.per_second:>8.0f} {r.per_second / base.per_second:>9.2f}× {r.p50:>7.2f} "
              f"{r.p99:>7.2f} {r.max_depth:>9} {r.drain_seconds:>8.2f}")


if __name__ == "__main__":
    main()
