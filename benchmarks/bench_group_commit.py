"""Text items stored per second by ``Engine.submit`` from concurrent threads, with and without group commit.

Why: over HTTP a text item's time mixes the web layer, the decision and the writes; this run isolates
the decision and the writes (the part group commit changes) on SQLite, in one process, with the same
items, so the two settings are compared in the same run on the same machine load.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_group_commit.py [--seconds 5] [--threads 8]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine_summary, markdown_table
from seawall.composition import build_engine
from seawall.config import Settings


def run(max_batch: int, threads: int, seconds: float) -> tuple[float, float, str]:
    """Items/s, CPU ms per item and the grouping counters for one setting, on a fresh SQLite store."""
    with tempfile.TemporaryDirectory() as tmp:
        engine = build_engine(Settings(data_dir=Path(tmp), group_commit_max_batch=max_batch))
        try:
            for i in range(20):  # warm-up outside the timed part
                engine.submit(engine.content("text", text=f"warm-up notice {i}"), content_id=f"w{i}")
            stop = time.monotonic() + seconds
            counts = [0] * threads
            start = threading.Barrier(threads + 1)

            def worker(n: int) -> None:
                start.wait()
                i = 0
                while time.monotonic() < stop:
                    text = f"community {n}-{i} notice number {i % 97} for the weekend schedule"
                    engine.submit(engine.content("text", text=text), content_id=f"t{n}-{i}", submitted_by="bench")
                    i += 1
                counts[n] = i

            pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
            for t in pool:
                t.start()
            cpu0, t0 = time.process_time(), time.perf_counter()
            start.wait()
            for t in pool:
                t.join()
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
            total = sum(counts)
            st = engine.items.writes.stats()
            groups = f"{st.writes:,} writes in {st.transactions:,} transactions, {st.regrouped_failures} regrouped"
            return total / wall, 1000 * cpu / max(1, total), groups
        finally:
            engine.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--threads", type=int, default=8)
    args = ap.parse_args()
    print(f"# Group commit, Engine.submit of text items on SQLite\n\n{machine_summary()}; "
          f"{args.threads} threads, {args.seconds:.0f} s per setting, interleaved twice.\n")
    rows = []
    for rnd in (1, 2):
        for batch in (1, 32):
            rps, cpu_ms, groups = run(batch, args.threads, args.seconds)
            label = "off (max batch 1)" if batch == 1 else f"on (max batch {batch})"
            rows.append([str(rnd), label, f"{rps:,.0f}", f"{cpu_ms:.2f}", groups])
    print(markdown_table(["round", "group commit", "items/s", "CPU ms/item", "grouping"], rows))


if __name__ == "__main__":
    main()
