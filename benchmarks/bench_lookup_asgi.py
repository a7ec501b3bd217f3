"""CPU per ``GET /v1/lookup`` through the ASGI app in-process (no sockets, no server), builds alternating.

Why: on a loaded shared machine wall-clock figures of a served endpoint say more about the neighbours
than about the code; the process CPU time of the same requests sent straight to the app isolates what
the request path itself costs. The bank is empty, so the index probe is almost free and the figure is the
cost around it (routing, middlewares, auth, validation, the answer).

    .venv/bin/python benchmarks/bench_lookup_asgi.py --code before=/tmp/old/src --code after=src [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def measure(n: int) -> float:
    """µs of process CPU per lookup, run in this process against the app the import path provides."""
    os.environ["SEAWALL_WARM_UP"] = "false"
    from seawall.api.app import create_app
    from seawall.composition import build_engine
    from seawall.config import Settings

    eng = build_engine(Settings(data_dir=Path(tempfile.mkdtemp(prefix="seawall-asgi-"))))
    eng.banks.create("b")
    key = eng.api_keys.create("submitter", "bench")[0]
    app = create_app(engine=eng, follow_writes=False)
    queries = [secrets.token_hex(32) for _ in range(1000)]

    async def one(q: str) -> None:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                 "scheme": "http", "path": "/v1/lookup", "raw_path": b"/v1/lookup", "root_path": "",
                 "query_string": f"signal_type=pdq&value={q}".encode(),
                 "headers": [(b"host", b"x"), (b"authorization", f"Bearer {key}".encode())],
                 "client": ("127.0.0.1", 5), "server": ("127.0.0.1", 80)}
        sent: list[Any] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(m: Any) -> None:
            sent.append(m)

        await app(scope, receive, send)
        assert sent[0]["status"] == 200, sent

    async def run() -> float:
        for q in queries[:100]:
            await one(q)
        t = time.process_time()
        for i in range(n):
            await one(queries[i % len(queries)])
        return (time.process_time() - t) / n * 1e6

    try:
        return asyncio.run(run())
    finally:
        eng.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--code", action="append", help="NAME=SRC: a build imported with PYTHONPATH=SRC")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=5000)
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(f"{measure(args.requests):.2f}")
        return
    builds = [(n, str(Path(s).resolve())) for n, _, s in (c.partition("=") for c in args.code)]
    print(f"# GET /v1/lookup in-process CPU, {', '.join(n for n, _ in builds)} alternating\n")
    print(f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())} at start; {args.requests:,} requests per run; "
          "empty bank, API key cached, 200 answers.\n")
    got: dict[str, list[float]] = {n: [] for n, _ in builds}
    for rnd in range(args.rounds):
        for name, src in (builds if rnd % 2 == 0 else builds[::-1]):
            out = subprocess.run([sys.executable, __file__, "--one", "--requests", str(args.requests)],
                                 env={**os.environ, "PYTHONPATH": src}, capture_output=True, text=True, check=True)
            us = float(out.stdout.strip().splitlines()[-1])
            got[name].append(us)
            print(f"round {rnd + 1}, {name}: {us:.1f} µs CPU per request", flush=True)
    print("\n| build | median µs CPU per request | runs |\n|---|---|---|")
    for name, runs in got.items():
        print(f"| {name} | {statistics.median(runs):.1f} | {', '.join(f'{r:.1f}' for r in runs)} |")
    print(f"\nload {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end")


if __name__ == "__main__":
    main()
