"""CPU milliseconds per JSON text item through the engine, without HTTP, for two source trees in alternation.

Why: on a shared 2-core machine the items/s of a saturation run move by tens of percent from one minute
to the next, so a change of a few percent cannot be seen in them. This measures what a change can alter
directly — process CPU time per text item decided on the event loop and durably stored through the group
commit (``Engine.content`` + ``Engine.submit_on_loop`` + ``Item.to_dict``, 16 at a time, on SQLite) — and
runs the trees given with ``--src`` one after the other, round after round, so both see the same load.
The smallest figure of each tree is the one least disturbed by other processes.

    PYTHONPATH=src .venv/bin/python benchmarks/record.py text-cpu -- \\
        .venv/bin/python benchmarks/bench_text_cpu.py --src before=/tmp/before/src --src after=src
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = ["harbour", "ferry", "market", "festival", "library", "garden", "bridge", "concert"]


def child(items: int, warm: int) -> None:
    """Run in a subprocess with PYTHONPATH set to one tree: prints one JSON line of CPU figures."""
    from seawall.composition import build_engine
    from seawall.config import Settings

    engine = build_engine(Settings(data_dir=Path(tempfile.mkdtemp(prefix="seawall-text-cpu-"))))

    async def batch(lo: int, hi: int) -> None:
        gate = asyncio.Semaphore(16)

        async def one(i: int) -> None:
            async with gate:
                # the same items as bench_api.py's wrk script sends
                content = engine.content("text", text=f"community {WORDS[i % 8]} notice number {i} for the weekend "
                                                      "schedule")
                item = await engine.submit_on_loop(content, content_id=f"t{i}", account_id=f"a{i % 97}",
                                                   submitted_by="bench")
                if item is None:
                    raise SystemExit("the text item was not decided on the event loop")
                item.to_dict()

        await asyncio.gather(*(one(i) for i in range(lo, hi)))

    try:
        asyncio.run(batch(0, warm))
        cpu0, main0, wall0 = time.process_time(), time.thread_time(), time.perf_counter()
        asyncio.run(batch(warm, warm + items))
        cpu, main, wall = time.process_time() - cpu0, time.thread_time() - main0, time.perf_counter() - wall0
    finally:
        engine.close()
    print(json.dumps({"cpu_ms": 1000 * cpu / items, "loop_thread_ms": 1000 * main / items,
                      "wall_ms": 1000 * wall / items}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", action="append", required=True, help="NAME=PATH of a source tree (repeat)")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--warm", type=int, default=500)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.items, args.warm)
        return
    trees = [tuple(s.split("=", 1)) for s in args.src]
    runs: dict[str, list[dict[str, float]]] = {name: [] for name, _ in trees}
    print(f"# {args.items} text items per run after {args.warm} warm-up items, {args.rounds} rounds; "
          f"load average before {os.getloadavg()[0]:.2f}\n")
    print("| round | tree | CPU ms/item | event-loop thread ms/item | wall ms/item |\n|---|---|---|---|---|")
    for r in range(1, args.rounds + 1):
        for name, path in trees:
            env = dict(os.environ, PYTHONPATH=str(Path(path).resolve()))
            out = subprocess.run([sys.executable, __file__, "--child", "--src", "x=x", "--items", str(args.items),
                                  "--warm", str(args.warm)], env=env, capture_output=True, text=True, check=True)
            fig = json.loads(out.stdout.strip().splitlines()[-1])
            runs[name].append(fig)
            print(f"| {r} | {name} | {fig['cpu_ms']:.3f} | {fig['loop_thread_ms']:.3f} | {fig['wall_ms']:.3f} |",
                  flush=True)
    print("\n| tree | min CPU ms/item | median CPU ms/item | min event-loop ms/item |\n|---|---|---|---|")
    for name, figs in runs.items():
        cpu = [f["cpu_ms"] for f in figs]
        print(f"| {name} | {min(cpu):.3f} | {statistics.median(cpu):.3f} | "
              f"{min(f['loop_thread_ms'] for f in figs):.3f} |")
    print(f"\nLoad average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
