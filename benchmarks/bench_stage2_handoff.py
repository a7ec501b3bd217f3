"""CPU time of handing an image upload's bytes to stage 2: kept in the store (``item_uploads``) or spooled to
a file (``SEAWALL_STAGE2_SPOOL=files``), measured in one process, alternating, on SQLite.

Two figures per variant, CPU ms of this process (all its threads, the WAL checkpointer included):

* stage 1: ``Engine.submit`` of a 1 MP captioned JPEG with the work queue started and its jobs held, so
  the upload's write (item, decision, and the bytes for stage 2) is what differs;
* stage 2's serving part: ``ItemService.process_stage_two`` of those items with the OCR and region tasks
  replaced by tasks that find nothing, so what is left is reading the bytes back, loading the item, and
  the finishing transaction that clears the bytes (the OCR itself runs in a worker process, not measured).

Why: part (b) of issue 13 measures the whole server under wrk on a shared two-core machine, where other
jobs move the figures by more than the difference looked for; this isolates it::

    PYTHONPATH=src .venv/bin/python benchmarks/record.py stage2-handoff -- \\
        .venv/bin/python benchmarks/bench_stage2_handoff.py [--n 60] [--rounds 4]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_targets13 import captioned_jpeg
from common import machine_summary


def _engine(tmp: Path, spool: str) -> tuple[Any, list[str]]:
    from seawall.composition import build_engine
    from seawall.config import Settings
    from seawall.uploads.stages import STAGE_TWO, SlowTask

    engine = build_engine(Settings(data_dir=tmp / spool, stage2_spool=spool))
    engine.start_workers()
    queued: list[str] = []
    assert engine.queue is not None
    engine.queue.register(STAGE_TWO, queued.append)  # held: run below, in this thread, when measured
    engine.items.slow_processes = None
    engine.items.slow_tasks = [SlowTask("ocr", lambda c: c.content_type == "image", lambda *_: []),
                               SlowTask("regions", lambda c: c.content_type == "image", lambda *_: [])]
    return engine, queued


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=60, help="uploads per variant per round")
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    print(machine_summary())
    bodies = [captioned_jpeg(113 + k) for k in range(16)]
    variants = ("store", "files")
    stage1: dict[str, list[float]] = {v: [] for v in variants}
    stage2: dict[str, list[float]] = {v: [] for v in variants}
    with tempfile.TemporaryDirectory() as tmp:
        engines = {v: _engine(Path(tmp), v) for v in variants}
        counter = [0]

        def upload(engine: Any) -> None:
            counter[0] += 1
            i = counter[0]
            engine.submit(engine.content("image", data=bodies[i % len(bodies)]), content_id=f"c{i}",
                          account_id=f"a{i % 3}")

        try:
            for engine, queued in engines.values():  # warm both
                for _ in range(5):
                    upload(engine)
                while queued:
                    engine.items.process_stage_two(queued.pop())
            for _ in range(args.rounds):
                for name, (engine, queued) in engines.items():
                    queued.clear()
                    t0 = time.process_time()
                    for _ in range(args.n):
                        upload(engine)
                    stage1[name].append(1000 * (time.process_time() - t0) / args.n)
                    ids = list(queued)
                    t0 = time.process_time()
                    for item_id in ids:
                        engine.items.process_stage_two(item_id)
                    stage2[name].append(1000 * (time.process_time() - t0) / max(1, len(ids)))
                    assert all(engine.items.get(i).final for i in ids)
        finally:
            for engine, _ in engines.values():
                engine.close()
    print(f"\n{args.rounds} rounds × {args.n} uploads per variant (1 MP JPEG with caption, "
          f"{len(bodies[0]) // 1024} KiB); CPU ms of this process per upload, median of the rounds\n")
    print("| stage-2 bytes | stage 1 (submit) | stage 2, serving part | sum | rounds (stage 1 / stage 2) |")
    print("|---|---|---|---|---|")
    for name in variants:
        s1, s2 = statistics.median(stage1[name]), statistics.median(stage2[name])
        print(f"| {name} | {s1:.2f} | {s2:.2f} | {s1 + s2:.2f} | "
              + ", ".join(f"{a:.1f}/{b:.1f}" for a, b in zip(stage1[name], stage2[name], strict=True)) + " |")
    saved = (statistics.median(stage1["store"]) + statistics.median(stage2["store"])
             - statistics.median(stage1["files"]) - statistics.median(stage2["files"]))
    print(f"\nfiles save {saved:.2f} ms of CPU per upload (stage 1 + stage 2's serving part)")


if __name__ == "__main__":
    main()
