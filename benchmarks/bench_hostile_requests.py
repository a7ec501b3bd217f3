"""/healthz latency while the worst request of each fuzz family runs, against the same server idle.

One ``seawall serve`` (SQLite, embedded queue) is measured idle first and last (the baseline, in the
same run), then under each family in turn; for each, client threads send that family's worst request
in a loop while /healthz is sampled every 20 ms from a separate process. The figure that matters is /healthz p99 (target
< 50 ms) and its ratio to the idle p99: work that belongs in a thread but runs on the event loop shows
up as a p99 near the hostile request's own duration.

Families (the worst request of each):
  * rules YAML at the limits: 32 levels deep (the nesting limit) and ~20,000 values (the node limit),
    under the 256 KiB source limit, via ``POST /v1/rules/validate``; and past them, 10,000 and 100,000
    flow levels (refused by the scan before PyYAML runs);
  * a 1,000,000-line hash-list import (``POST /v1/banks/bulk/import``, ~38 MB);
  * the largest image: 7,000 × 7,000 pixels (just under the 50 MP limit) as JPEG;
  * a long video (H.264, generated) processed in the background;
  * a huge JSON body: ``POST /v1/items`` with a 45 MB ``text`` (refused as too long once parsed);
  * 1,000 slow clients trickling header bytes (slowloris).

    PYTHONPATH=src python benchmarks/bench_hostile_requests.py --seconds 8
    PYTHONPATH=src python benchmarks/bench_hostile_requests.py --only json,import,node  # some families
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import multiprocessing
import os
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.processes import cli, running_server, seawall_env

Load = Callable[[threading.Event], None]

#: Rules nested exactly as deep as allowed (MAX_YAML_DEPTH = 32 collections) in block style.
LIMIT_DEPTH = 32
#: Values in the node-limit document (MAX_YAML_NODES = 20,000), kept under MAX_SOURCE_BYTES.
LIMIT_NODES = 19_900


def deep(levels: int) -> str:
    return "version: 1\nrules:\n  - id: deep\n    then:\n      - webhook: {a: " + "[" * levels + "]" * levels + "}\n"


def at_depth_limit() -> str:
    """A block-style mapping nested to the depth limit inside a rule's parameters (then refused by the checker)."""
    lines = ["version: 1", "rules:", "  - id: deep", "    then:", "      - webhook:"]
    for level in range(LIMIT_DEPTH - 4):  # the document, rules list, rule and action already nest four deep
        lines.append("  " * (level + 4) + f"k{level}:")
    lines.append("  " * (LIMIT_DEPTH + 1) + "leaf")
    return "\n".join(lines) + "\n"


def at_node_limit() -> str:
    """A flat flow list of short values, just under the node limit."""
    values = ",".join("1" for _ in range(LIMIT_NODES))
    return f"version: 1\nrules:\n  - id: wide\n    then:\n      - webhook: {{a: [{values}]}}\n"


def import_body(lines: int) -> bytes:
    rng = np.random.default_rng(7)
    digests = rng.integers(0, 256, size=(lines, 16), dtype=np.uint8)
    return b"".join(b"md5 " + d.tobytes().hex().encode() + b"\n" for d in digests)


def largest_image() -> bytes:
    rng = np.random.default_rng(11)
    small = Image.fromarray(rng.integers(0, 256, size=(438, 438, 3), dtype=np.uint8))
    buf = io.BytesIO()
    small.resize((7000, 7000), Image.Resampling.BILINEAR).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def long_video(seconds: float) -> bytes:
    from benchmarks.bench_video import generate

    return generate((640, 360), seconds, seed=5)


def healthz_latencies(base: str, seconds: float) -> list[float]:
    out: list[float] = []
    end = time.monotonic() + seconds
    with httpx.Client(timeout=60) as c:
        while time.monotonic() < end:
            t = time.perf_counter()
            c.get(f"{base}/healthz")
            out.append((time.perf_counter() - t) * 1000)
            time.sleep(0.02)
    return out


def sampled_apart(base: str, seconds: float) -> list[float]:
    """/healthz latencies measured from a process of their own.

    The load threads build and send their requests in this process; a sampler sharing its interpreter
    lock with a thread serialising a 45 MB body would time the client's own pauses, not the server's.
    """
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(healthz_latencies, base, seconds).result()


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def run_with(load: Load, base: str, seconds: float, threads: int) -> list[float]:
    stop = threading.Event()
    workers = [threading.Thread(target=load, args=(stop,)) for _ in range(threads)]
    for t in workers:
        t.start()
    time.sleep(0.5)
    try:
        return sampled_apart(base, seconds)
    finally:
        stop.set()
        for t in workers:
            t.join()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--import-lines", type=int, default=1_000_000)
    ap.add_argument("--video-seconds", type=float, default=60)
    ap.add_argument("--slow-clients", type=int, default=1000)
    ap.add_argument("--only", default="", help="comma-separated words: run only families whose name has one")
    args = ap.parse_args()
    only = [w.strip().lower() for w in args.only.split(",") if w.strip()]

    def wanted(name: str) -> bool:
        return not only or any(w in name.lower() for w in only)

    image = largest_image() if wanted("largest image") else b""
    video = long_video(args.video_seconds) if wanted("long video") else b""
    bulk = import_body(args.import_lines)
    huge_json = json.dumps({"content_id": "huge", "text": "a" * 45_000_000}).encode()
    print(f"inputs: image {len(image) / 1e6:.1f} MB, video {len(video) / 1e6:.1f} MB "
          f"({args.video_seconds:g} s), import {len(bulk) / 1e6:.1f} MB ({args.import_lines:,} lines), "
          f"JSON {len(huge_json) / 1e6:.1f} MB", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        env = seawall_env(Path(tmp), SEAWALL_LOG_LEVEL="warning")
        cli(["db", "upgrade"], env)
        key = cli(["apikey", "create", "--role", "admin", "--name", "bench"], env).strip().splitlines()[-1]
        auth = {"Authorization": f"Bearer {key}"}
        yaml_headers = {**auth, "content-type": "application/yaml"}
        with running_server(env) as base:
            port = int(env["SEAWALL_PORT"])
            httpx.post(f"{base}/v1/banks", headers=auth, json={"name": "bulk"}).raise_for_status()
            statuses: dict[str, set[int]] = {}
            lock = threading.Lock()

            def looping(name: str, send: Callable[[httpx.Client], httpx.Response]) -> Load:
                def loop(stop: threading.Event) -> None:
                    with httpx.Client(timeout=600) as c:
                        while not stop.is_set():
                            try:
                                code = send(c).status_code
                            except httpx.HTTPError as exc:
                                code = -1
                                print(f"{name}: {type(exc).__name__}", flush=True)
                            with lock:
                                statuses.setdefault(name, set()).add(code)
                return loop

            def rules(name: str, body: str, path: str = "/v1/rules/validate", method: str = "POST") -> Load:
                return looping(name, lambda c: c.request(method, f"{base}{path}", content=body,
                                                         headers=yaml_headers))

            def upload(name: str, data: bytes, filename: str, mime: str) -> Load:
                return looping(name, lambda c: c.post(f"{base}/v1/items", headers=auth,
                                                      data={"content_id": name},
                                                      files={"file": (filename, data, mime)}))

            def slowloris(n: int) -> Load:
                def loop(stop: threading.Event) -> None:
                    socks = []
                    for _ in range(n):
                        s = socket.create_connection(("127.0.0.1", port))
                        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                        socks.append(s)
                    while not stop.is_set():
                        for s in socks:
                            with contextlib.suppress(OSError):
                                s.sendall(b"X: y\r\n")
                        time.sleep(0.5)
                    for s in socks:
                        s.close()
                return loop

            families: list[tuple[str, Load, int]] = [
                ("rules at depth limit", rules("depth-limit", at_depth_limit()), 2),
                ("rules at node limit", rules("node-limit", at_node_limit()), 2),
                ("rules 10,000 levels", rules("10000", deep(10_000), "/v1/rules", "PUT"), 2),
                ("rules 100,000 levels", rules("100000", deep(100_000)), 2),
                ("1M-line import", looping("import", lambda c: c.post(
                    f"{base}/v1/banks/bulk/import?format=text", headers=auth, content=bulk)), 1),
                ("largest image (49 MP)", upload("image", image, "a.jpg", "image/jpeg"), 2),
                ("long video", upload("video", video, "v.mp4", "video/mp4"), 1),
                ("45 MB JSON body", looping("json", lambda c: c.post(
                    f"{base}/v1/items", headers={**auth, "content-type": "application/json"},
                    content=huge_json)), 2),
                (f"{args.slow_clients:,} slow clients", slowloris(args.slow_clients // 2), 2),
            ]
            rows = [("idle (baseline)", sampled_apart(base, args.seconds))]
            for name, load, threads in [f for f in families if wanted(f[0])]:
                rows.append((name, run_with(load, base, args.seconds, threads)))
                print(f"{name}: p99 {pct(rows[-1][1], 99):.1f} ms", flush=True)
            rows.append(("idle again (baseline)", sampled_apart(base, args.seconds)))
    idle_p99 = pct(rows[0][1] + rows[-1][1], 99)
    print(f"\n{'load':<26}{'n':>6}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}{'p99 vs idle':>13}{'< 50 ms':>9}")
    for name, xs in rows:
        print(f"{name:<26}{len(xs):>6}{pct(xs, 50):>10.1f}{pct(xs, 99):>10.1f}{max(xs):>10.1f}"
              f"{pct(xs, 99) / idle_p99:>12.1f}x{'yes' if pct(xs, 99) < 50 else 'NO':>9}")
    print(f"idle baseline p99 (both idle windows): {idle_p99:.1f} ms; cores: {os.cpu_count()}")
    print(f"hostile request answers: { {k: sorted(v) for k, v in statuses.items()} }")


if __name__ == "__main__":
    main()
