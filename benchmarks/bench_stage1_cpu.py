"""CPU time of stage 1 of a 1 MP JPEG upload (decode, PDQ with its rotations, digests, match, store), with the
reference PDQ's steps called one by one (``seawall.signals.pdq.staged``, the mirrored runs sharing work),
the reference's one-call functions called directly (``seawall.signals.pdq.native``) and ``pdqhash``'s
Python functions.

Why: on a shared two-core machine throughput and latency figures swing with the other load, while the CPU
seconds a process spends per upload do much less; saturation throughput is about cores ÷ CPU per upload.
Both variants run in one process, alternating in rounds, over the same generated uploads, on SQLite with
the work queue started (stage-2 jobs are dropped, so only stage 1 is measured)::

    PYTHONPATH=src .venv/bin/python benchmarks/record.py stage1-cpu -- \\
        .venv/bin/python benchmarks/bench_stage1_cpu.py [--n 40] [--rounds 4]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import cpu_ms_per_call, encode_jpeg, machine_summary, stage1_uploads, synthetic_image


def main() -> None:
    from seawall.signals.pdq import native, staged
    from seawall.signals.pdq.signal import pdq_dihedral_from_pixels

    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=40, help="uploads per variant per round")
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    print(machine_summary())
    have_native, have_staged = native.AVAILABLE, staged.AVAILABLE
    datas = [encode_jpeg(synthetic_image(100 + i, 1024, 1024), 80) for i in range(16)]
    with stage1_uploads(datas) as upload:
        # (native, staged) flags of each PDQ path
        variants = {"staged": (True, True), "native": (True, False), "pdqhash": (False, False)}
        if not have_staged:
            variants.pop("staged")
        if not have_native:
            variants = {"pdqhash": (False, False)}
        for flags in variants.values():  # warm every path
            native.AVAILABLE, staged.AVAILABLE = flags
            for _ in range(3):
                upload()
        pixels = upload.engine.content("image", data=datas[0]).pixels()
        results: dict[str, list[float]] = {name: [] for name in variants}
        pdq_only: dict[str, list[float]] = {name: [] for name in variants}
        try:
            for _ in range(args.rounds):
                for name, flags in variants.items():
                    native.AVAILABLE, staged.AVAILABLE = flags
                    results[name].append(cpu_ms_per_call(upload, args.n))
                    pdq_only[name].append(cpu_ms_per_call(lambda: pdq_dihedral_from_pixels(pixels), args.n))
        finally:
            native.AVAILABLE, staged.AVAILABLE = have_native, have_staged
    print(f"\n{args.rounds} rounds × {args.n} uploads per variant; CPU ms of this process (all its threads) "
          "per upload, median of the rounds\n")
    print("| PDQ path | stage 1 CPU ms / upload | PDQ + 7 rotations alone, CPU ms | rounds (stage 1) |")
    print("|---|---|---|---|")
    for name in variants:
        print(f"| {name} | {statistics.median(results[name]):.2f} | {statistics.median(pdq_only[name]):.2f} | "
              + ", ".join(f"{v:.1f}" for v in results[name]) + " |")
    for name in variants:
        if name != "pdqhash" and "pdqhash" in variants:
            ratio = statistics.median(results[name]) / statistics.median(results["pdqhash"])
            print(f"\n{name} ÷ pdqhash, stage 1: {ratio:.2f}×")
    if {"staged", "native"} <= set(variants):
        ratio = statistics.median(results["staged"]) / statistics.median(results["native"])
        print(f"staged ÷ native, stage 1: {ratio:.2f}×")


if __name__ == "__main__":
    main()
