"""Where the first text item of a fresh server spends its time, stage by stage, against the ones after it.

Why: issue 13 (e) asks for the first upload after start within 2× the median of the next hundred. A text
item takes about 1.5 ms, far too short for a sampling profiler to say which part of the first one is
slow. This runs ``seawall serve --workers 1`` (SQLite, a fresh data dir) in a child process whose upload
stages are wrapped with timers (wall and thread CPU time of each call), sends the text items of
``bench_targets13.py --only e`` on one keep-alive connection once ``/readyz`` says ready, and prints, per
stage, the first requests' times beside the median of all of them. Calls made by the warm-up are left
out: the timers start with the first request. Each ``--runs`` is a fresh server; ``--restart`` runs the
later servers over the first one's store (a restart, not a new install)::

    PYTHONPATH=src .venv/bin/python benchmarks/record.py first-text-stages -- \\
        .venv/bin/python benchmarks/profile_first_text.py [--runs 3] [--restart]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import functools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

#: (module, attribute path) of the stages timed, outermost last.
STAGES: list[tuple[str, str]] = [
    ("seawall.uploads.ingest", "compute_signals"),
    ("seawall.media.language", "detect_language"),
    ("seawall.verdicts.decide", "ItemDecider.__call__"),
    ("seawall.uploads.ingest", "ItemService._conclude"),
    ("seawall.store.group_commit", "_insert_first"),
    ("seawall.store.group_commit", "GroupCommit._commit"),
    ("seawall.store.group_commit", "GroupCommit.run_async"),
    ("seawall.uploads.ingest", "ItemService.submit_on_loop"),
    ("seawall.api.fastpath_prelude", "serve_with_body"),
]
FIRST_SHOWN = 6


def _serve(out: str) -> None:
    """The child: wrap the stages, dump their times to ``out`` on SIGUSR1, then run ``seawall serve``."""
    import importlib

    times: dict[str, list[tuple[float, float]]] = collections.defaultdict(list)
    started: list[bool] = []

    def wrap(module: str, path: str) -> None:
        owner: Any = importlib.import_module(module)
        *parents, name = path.split(".")
        for p in parents:
            owner = getattr(owner, p)
        fn: Callable[..., Any] = getattr(owner, name)
        if asyncio.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def timed_async(*a: Any, **k: Any) -> Any:
                if path == "serve_with_body" and not started:
                    started.append(True)
                    times.clear()  # the warm-up's calls are not the first request's
                t0 = time.perf_counter()
                try:
                    return await fn(*a, **k)
                finally:
                    if started:
                        times[path].append(((time.perf_counter() - t0) * 1000, float("nan")))
            setattr(owner, name, timed_async)
        else:
            @functools.wraps(fn)
            def timed(*a: Any, **k: Any) -> Any:
                t0, c0 = time.perf_counter(), time.thread_time()
                try:
                    return fn(*a, **k)
                finally:
                    if started:
                        times[path].append(((time.perf_counter() - t0) * 1000, (time.thread_time() - c0) * 1000))
            setattr(owner, name, timed)

    for module, path in STAGES:
        wrap(module, path)

    def dump(*_: Any) -> None:
        Path(out).write_text(json.dumps(times))

    signal.signal(signal.SIGUSR1, dump)
    from seawall.cli import main

    sys.argv = ["seawall", "serve", "--workers", "1"]
    main()


def _one_server(data_dir: Path, log: Path, n: int, make_key: bool) -> tuple[list[float], dict[str, Any]]:
    from common import Http, create_admin_key, free_port, seawall_env

    port = free_port()
    env = seawall_env(data_dir, port=port)
    key_file = data_dir.parent / "key.txt"
    if make_key:
        key_file.write_text(create_admin_key(env))
    key = key_file.read_text().strip()
    env["PYTHONPATH"] = os.environ.get("PYTHONPATH", "src")
    out = data_dir.parent / "stages.json"
    out.unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(out)], env=env, stdout=subprocess.DEVNULL,
                            stderr=log.open("w"), start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                http = Http(port, key)
                status, _ = http.request("GET", "/readyz")
                http.close()
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"the server did not become ready; see {log}")
            time.sleep(0.1)
        http = Http(port, key)
        walls = []
        for k in range(n + 1):
            body = json.dumps({"content_id": f"t{k}", "text": f"notice {k} about the weekend market"}).encode()
            t0 = time.perf_counter()
            status, data = http.request("POST", "/v1/items", body, "application/json")
            walls.append((time.perf_counter() - t0) * 1000)
            if status != 200:
                raise SystemExit(f"HTTP {status}: {data[:300]!r}")
        http.close()
        proc.send_signal(signal.SIGUSR1)
        for _ in range(50):
            if out.exists():
                break
            time.sleep(0.1)
        time.sleep(0.2)
        return walls, json.loads(out.read_text())
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3, help="fresh servers, one after the other")
    ap.add_argument("--n", type=int, default=100, help="text items after the first")
    ap.add_argument("--restart", action="store_true", help="later runs reuse the first run's store")
    ap.add_argument("--serve", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        _serve(args.serve)
        return
    from common import machine_summary

    print(f"# First text item of a fresh server, stage by stage\n\n{machine_summary()}\n")
    print(f"`seawall serve --workers 1` (SQLite), {args.n + 1} text items on one keep-alive connection once ready"
          + ("; runs after the first restart over its store" if args.restart else "; a new store each run") + ".\n")
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            base = Path(tmp) / ("store" if args.restart else f"store-{run}")
            data_dir = base / "data"
            data_dir.mkdir(parents=True, exist_ok=True)
            walls, stages = _one_server(data_dir, base / "server.log", args.n, make_key=not (args.restart and run))
            med = statistics.median(walls[1:])
            print(f"## Run {run + 1}: first request {walls[0]:.2f} ms, median of the next {args.n} {med:.2f} ms "
                  f"({walls[0] / med:.2f}×); requests 2–{FIRST_SHOWN}: "
                  + ", ".join(f"{w:.2f}" for w in walls[1:FIRST_SHOWN]) + " ms\n")
            print("| stage | " + " | ".join(f"#{k + 1}" for k in range(FIRST_SHOWN)) + " | median | #1 ÷ median |")
            print("|---|" + "---|" * (FIRST_SHOWN + 2))
            for _, path in STAGES:
                calls = stages.get(path, [])
                if not calls:
                    continue
                for label, idx in (("wall", 0), ("CPU", 1)):
                    vals = [c[idx] for c in calls]
                    if any(v != v for v in vals):  # NaN: no thread CPU for a coroutine (it spans other work)
                        continue
                    m = statistics.median(vals)
                    shown = " | ".join(f"{v:.2f}" for v in vals[:FIRST_SHOWN])
                    print(f"| `{path}` {label} ms | {shown} | {m:.2f} | {vals[0] / m if m else float('nan'):.1f}× |")
            print()


if __name__ == "__main__":
    main()
