"""CPU time per upload of stage 2's region hashes and ORB query, in the calling thread (``time.thread_time``).

The uploads are bench_targets13's part (a) bodies: 1024x1024 photo-like JPEGs with three caption lines.
CPU time rather than wall time, so that a busy machine changes the figure little; run it under two
``PYTHONPATH`` values one after the other to compare two versions of Seawall. With ``--ocr`` the OCR of
the same bodies is timed as well: this thread's CPU plus that of the Tesseract subprocesses it ran
(``RUSAGE_CHILDREN``), the other half of stage 2.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import seawall
from bench_targets13 import captioned_jpeg
from seawall.media.content import Content
from seawall.media.ocr import OcrOptions, read_text
from seawall.uploads.stages import compute_region_signals

SIGNAL_TYPES = frozenset({"pdq", "pdq_crop", "orb"})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--ocr", action="store_true", help="also time OCR (Tesseract included)")
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
    if args.ocr:
        pixels = [Content("image", data=data).pixels() for data in bodies]
        options = OcrOptions.from_settings()
        read_text(pixels[0], options)  # warm-up
        own, children = [], []
        for _ in range(args.passes):
            t0, c0 = time.thread_time(), _children_cpu()
            for px in pixels:
                read_text(px, options)
            own.append(1000 * (time.thread_time() - t0) / len(pixels))
            children.append(1000 * (_children_cpu() - c0) / len(pixels))
        print(f"OCR, CPU ms per upload (median of {args.passes} passes): this thread "
              f"{statistics.median(own):.1f}, Tesseract subprocesses {statistics.median(children):.1f}", flush=True)


def _children_cpu() -> float:
    """User + system CPU seconds of the subprocesses this process has waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main()
