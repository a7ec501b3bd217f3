"""First JSON text item through the app after start, against the median of the next ones, for two source trees.

Why: issue 13 (e) asks for the first text upload of a fresh server within 2× the median of the next hundred.
Over HTTP on a loaded machine a single request's wall time is mostly waiting for a core, so this runs the
app in-process (``TestClient``: lifespan, warm-up, the text fast path, group commit, the real store) in a
fresh process per sample and reads the process CPU time of each request as well as its wall time. Trees
alternate (``--tree A --tree B``), so both see the same load.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_first_text.py --tree /tmp/main/src --tree src [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _child(n: int) -> None:
    from fastapi.testclient import TestClient

    from seawall.api.app import create_app
    from seawall.composition import build_engine
    from seawall.config import Settings

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SEAWALL_DATA_DIR"] = tmp
        eng = build_engine(Settings())
        key, _ = eng.api_keys.create("submitter", "bench")
        eng.close()
        app = create_app(Settings())
        with TestClient(app) as client:
            engine = app.state.engine
            if not engine.ready.wait(300):
                raise SystemExit("the warm-up did not finish")
            headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
            wall, cpu = [], []
            for k in range(n + 1):
                body = json.dumps({"content_id": f"t{k}", "text": f"notice {k} about the weekend market"}).encode()
                c0, t0 = time.process_time(), time.perf_counter()
                r = client.post("/v1/items", content=body, headers=headers)
                wall.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
                if r.status_code != 200:
                    raise SystemExit(f"HTTP {r.status_code}: {r.text[:300]}")
    print(json.dumps({"wall": wall, "cpu": cpu}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tree", action="append", required=True, help="a src directory (repeat for each tree)")
    ap.add_argument("--rounds", type=int, default=3, help="fresh processes per tree, alternating")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args.n)
        return
    from common import machine_summary

    print(f"# First text item in-process, first ÷ median of the next {args.n}\n\n{machine_summary()}\n")
    rows: dict[str, list[tuple[float, float]]] = {t: [] for t in args.tree}
    print("| tree | round | wall first / median ms | wall ratio | CPU first / median ms | CPU ratio |")
    print("|---|---|---|---|---|---|")
    for r in range(args.rounds):
        for tree in args.tree:
            env = {**os.environ, "PYTHONPATH": tree, "SEAWALL_LOG_LEVEL": "warning"}
            out = subprocess.run([sys.executable, __file__, "--child", "--n", str(args.n), "--tree", tree],
                                 env=env, capture_output=True, text=True, timeout=900)
            if out.returncode != 0:
                raise SystemExit(out.stderr[-3000:])
            data = json.loads(out.stdout.strip().splitlines()[-1])
            w, c = data["wall"], data["cpu"]
            wm, cm = statistics.median(w[1:]), statistics.median(c[1:])
            rows[tree].append((w[0] / wm, c[0] / cm))
            print(f"| {tree} | {r + 1} | {w[0] * 1000:.2f} / {wm * 1000:.2f} | {w[0] / wm:.2f} | "
                  f"{c[0] * 1000:.2f} / {cm * 1000:.2f} | {c[0] / cm:.2f} |", flush=True)
    print("\n| tree | median wall ratio | median CPU ratio |\n|---|---|---|")
    for tree, vals in rows.items():
        print(f"| {tree} | {statistics.median(v[0] for v in vals):.2f} | {statistics.median(v[1] for v in vals):.2f} |")


if __name__ == "__main__":
    main()
