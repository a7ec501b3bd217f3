"""Stage-1 CPU of a 1 MP JPEG upload with the direct JPEG decode (:mod:`seawall.media.jpeg_fast`) and with
Pillow's decode, alternating in rounds in one process over the same generated uploads.

Why: on a shared two-core machine whole-server runs swing with the other load by more than the ~0.5-0.8 ms
this saves; two variants alternating in one process, measured in CPU seconds, see the same load. The
Pillow rounds switch the direct path off (``seawall.media.image.decode_plain_jpeg`` answers None), which
is the decode every JPEG took before. Engine.submit on SQLite with the work queue started (stage-2 jobs
dropped), as ``bench_stage1_cpu.py`` does::

    PYTHONPATH=src .venv/bin/python benchmarks/record.py jpeg-direct -- \\
        .venv/bin/python benchmarks/bench_jpeg_direct.py [--n 40] [--rounds 8]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import cpu_ms_per_call, encode_jpeg, machine_summary, stage1_uploads, synthetic_image


def main() -> None:
    import seawall.media.image as image_module
    from seawall.media.image import decode_image

    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=40, help="uploads per variant per round")
    ap.add_argument("--rounds", type=int, default=8)
    args = ap.parse_args()
    print(machine_summary())
    datas = [encode_jpeg(synthetic_image(100 + i, 1024, 1024), 80) for i in range(16)]
    direct = image_module.decode_plain_jpeg

    def pillow_only(*_: Any) -> None:
        return None

    variants = {"direct": direct, "pillow": pillow_only}
    submit_ms: dict[str, list[float]] = {v: [] for v in variants}
    decode_ms: dict[str, list[float]] = {v: [] for v in variants}
    frames = itertools.cycle(datas)
    with stage1_uploads(datas) as upload:
        try:
            for _ in range(10):
                upload()
            for _ in range(args.rounds):
                for name, fn in variants.items():
                    image_module.decode_plain_jpeg = fn  # type: ignore[assignment]
                    submit_ms[name].append(cpu_ms_per_call(upload, args.n))
                    decode_ms[name].append(cpu_ms_per_call(lambda: decode_image(next(frames)), args.n))
        finally:
            image_module.decode_plain_jpeg = direct
    print(f"\n{args.rounds} rounds × {args.n} uploads per variant; CPU ms of this process per upload, median of "
          "the rounds\n")
    print("| decode | stage 1 CPU ms / upload | decode alone, CPU ms | rounds (stage 1) |")
    print("|---|---|---|---|")
    for name in variants:
        print(f"| {name} | {statistics.median(submit_ms[name]):.2f} | {statistics.median(decode_ms[name]):.2f} | "
              + ", ".join(f"{x:.1f}" for x in submit_ms[name]) + " |")
    saved = statistics.median(submit_ms["pillow"]) - statistics.median(submit_ms["direct"])
    print(f"\nstage 1 saved per upload: {saved:.2f} ms")


if __name__ == "__main__":
    main()
