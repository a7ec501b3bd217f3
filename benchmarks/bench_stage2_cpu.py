"""CPU time per upload of stage 2's region hashes and ORB query, in the calling thread (``time.thread_time``).

The uploads are bench_targets13's part (a) bodies: 1024x1024 photo-like JPEGs with three caption lines.
CPU time rather than wall time, so that a busy machine changes the figure little; run it under two
``PYTHONPATH`` values one after the other to compare two versions of Seawall.
"""

from __future__ import annotations

import argparse
import statistics
import time

import seawall
from bench_targets13 import captioned_jpeg
from seawall.media.content import Content
from seawall.media.ocr import OcrOptions
from seawall.uploads.stages import compute_region_signals

SIGNAL_TYPES = frozenset({"pdq", "pdq_crop", "orb"})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--passes", type=int, default=3)
    args = ap.parse_args()
    bodies = [captioned_jpeg(13 + 100 + k) for k in range(args.images)]
    per_pass: list[float] = []
    for p in range(args.passes + 1):  # the first pass warms up (imports, kernels) and is not counted
        t0 = time.thread_time()
        for data in bodies:
            compute_region_signals(Content("image", data=data, ocr=OcrOptions(enabled=False)), SIGNAL_TYPES)
        if p:
            per_pass.append(1000 * (time.thread_time() - t0) / len(bodies))
    print(f"seawall from {seawall.__file__}: region hashes + ORB query, decode included, CPU ms per upload: "
          f"median {statistics.median(per_pass):.1f} over {args.passes} passes "
          f"({', '.join(f'{v:.1f}' for v in per_pass)})", flush=True)


if __name__ == "__main__":
    main()
