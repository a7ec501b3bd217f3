"""CPU per multipart image upload through the ASGI app in-process (no sockets), against the engine's own
``submit`` of the same uploads in the same process; builds alternating.

Why: a served 1 MP JPEG upload cost several milliseconds of CPU more than ``Engine.submit`` of it, and on a
loaded shared machine served figures mostly measure the neighbours. Sending the same multipart bodies
straight to the app (in 64 KiB pieces, as the server hands them over) and calling ``Engine.submit`` on the
same bytes isolates what the request path adds: the middlewares, routing, multipart parsing, the thread
hop and the answer. Stage-2 jobs are dropped (only stage 1 is measured); SQLite in a temporary folder.

    .venv/bin/python benchmarks/bench_upload_asgi.py --code before=/tmp/old/src --code after=src [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

CHUNK = 64 * 1024


def measure(n: int) -> tuple[float, float, float]:
    """(ms of process CPU per upload through the app, per ``Engine.submit`` of the same bytes, ms of the event
    loop thread's CPU per upload through the app beyond what handing ``Engine.submit`` to a thread costs it)."""
    os.environ["SEAWALL_WARM_UP"] = "false"
    from starlette.concurrency import run_in_threadpool

    from common import encode_jpeg, multipart, synthetic_image
    from seawall.api.app import create_app
    from seawall.composition import build_engine
    from seawall.config import Settings
    from seawall.uploads.stages import STAGE_TWO

    eng = build_engine(Settings(data_dir=Path(tempfile.mkdtemp(prefix="seawall-asgi-"))))
    eng.start_workers()
    assert eng.queue is not None
    eng.queue.register(STAGE_TWO, lambda item_id: None)
    key = eng.api_keys.create("submitter", "bench")[0]
    app = create_app(engine=eng, follow_writes=False)
    datas = [encode_jpeg(synthetic_image(100 + i, 1024, 1024), 80) for i in range(16)]
    bodies = [multipart({"content_id": f"c-{i}", "account_id": f"a-{i % 3}"}, "file", f"c{i}.jpg", d)
              for i, d in enumerate(datas)]

    async def one(i: int) -> None:
        body, ctype = bodies[i % len(bodies)]
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": "/v1/items", "raw_path": b"/v1/items", "root_path": "",
                 "query_string": b"",
                 "headers": [(b"host", b"x"), (b"authorization", f"Bearer {key}".encode()),
                             (b"content-type", ctype.encode()), (b"content-length", str(len(body)).encode())],
                 "client": ("127.0.0.1", 5), "server": ("127.0.0.1", 80)}
        pieces = [body[k:k + CHUNK] for k in range(0, len(body), CHUNK)]
        sent: list[Any] = []

        async def receive() -> dict[str, Any]:
            if pieces:
                piece = pieces.pop(0)
                return {"type": "http.request", "body": piece, "more_body": bool(pieces)}
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        async def send(m: Any) -> None:
            sent.append(m)

        await app(scope, receive, send)
        assert sent[0]["status"] == 200, sent

    def direct(i: int) -> None:
        eng.submit(eng.content("image", data=datas[i % len(datas)]), content_id=f"d-{i}", account_id=f"a-{i % 3}")

    async def run() -> tuple[float, float, float]:
        for i in range(10):
            await one(i)
            await run_in_threadpool(direct, i)
        via_app: list[float] = []
        via_engine: list[float] = []
        loop_app: list[float] = []
        loop_engine: list[float] = []
        for block in range(4):  # interleaved blocks: both see the same store size and machine load
            t, lt = time.process_time(), time.thread_time()
            for i in range(n // 4):
                await one(block * n + i)
            via_app.append(time.process_time() - t)
            loop_app.append(time.thread_time() - lt)
            t, lt = time.process_time(), time.thread_time()
            for i in range(n // 4):
                await run_in_threadpool(direct, block * n + i)
            via_engine.append(time.process_time() - t)
            loop_engine.append(time.thread_time() - lt)
        per = 1000 / (4 * (n // 4))
        return sum(via_app) * per, sum(via_engine) * per, (sum(loop_app) - sum(loop_engine)) * per

    try:
        return asyncio.run(run())
    finally:
        eng.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--code", action="append", help="NAME=SRC: a build imported with PYTHONPATH=SRC")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--uploads", type=int, default=200)
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        app_ms, engine_ms, loop_ms = measure(args.uploads)
        print(f"{app_ms:.3f} {engine_ms:.3f} {loop_ms:.3f}")
        return
    builds = [(n, str(Path(s).resolve())) for n, _, s in (c.partition("=") for c in args.code)]
    print(f"# Multipart image upload, in-process CPU through the app and through Engine.submit, "
          f"{', '.join(n for n, _ in builds)} alternating\n")
    print(f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())} at start; {args.uploads} uploads per way per run "
          "(1 MP JPEG q80, 64 KiB body pieces); stage-2 jobs dropped.\n")
    got: dict[str, list[tuple[float, float, float]]] = {n: [] for n, _ in builds}
    for rnd in range(args.rounds):
        for name, src in (builds if rnd % 2 == 0 else builds[::-1]):
            out = subprocess.run([sys.executable, __file__, "--one", "--uploads", str(args.uploads)],
                                 env={**os.environ, "PYTHONPATH": src}, capture_output=True, text=True, check=True)
            app_ms, engine_ms, loop_ms = map(float, out.stdout.strip().splitlines()[-1].split())
            got[name].append((app_ms, engine_ms, loop_ms))
            print(f"round {rnd + 1}, {name}: app {app_ms:.2f} ms, engine {engine_ms:.2f} ms, request path "
                  f"{app_ms - engine_ms:.2f} ms CPU per upload, of it on the event loop {loop_ms:.3f} ms", flush=True)
    print("\n| build | through the app, ms CPU | Engine.submit, ms CPU | request path (difference), ms "
          "| event-loop thread beyond the hand-off, ms | runs (app/engine/loop) |")
    print("|---|---|---|---|---|---|")
    for name, runs in got.items():
        a = statistics.median(r[0] for r in runs)
        e = statistics.median(r[1] for r in runs)
        d = statistics.median(r[0] - r[1] for r in runs)
        lo = statistics.median(r[2] for r in runs)
        print(f"| {name} | {a:.2f} | {e:.2f} | {d:.2f} | {lo:.3f} | "
              f"{', '.join(f'{r[0]:.2f}/{r[1]:.2f}/{r[2]:.3f}' for r in runs)} |")
    print(f"\nload {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end")


if __name__ == "__main__":
    main()
