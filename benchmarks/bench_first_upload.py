"""First upload after start against the median of the next ones, with and without the warm-up.

Why: a server that has just started (a deploy, a crash, autoscaling) must not hold its first uploads
for seconds while models load and kernels compile. Each variant runs in a fresh process (cold
caches): the engine starts with its work queue, optionally warms up, then times one image and one
text upload, then ``--n`` more of each. The peer is the same code without the warm-up, in the same run.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_first_upload.py [--n 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _child(warm: bool, n: int) -> None:
    from common import encode_jpeg, synthetic_image
    from seawall.composition import build_engine
    from seawall.config import Settings

    with tempfile.TemporaryDirectory() as tmp:
        engine = build_engine(Settings(data_dir=Path(tmp)))
        try:
            engine.start_workers()
            t0 = time.perf_counter()
            if warm:
                engine.warm_up()
            warm_s = time.perf_counter() - t0
            images = [encode_jpeg(synthetic_image(100 + i)) for i in range(n + 1)]
            times: dict[str, list[float]] = {"image": [], "text": []}
            for i in range(n + 1):
                t0 = time.perf_counter()
                engine.submit(engine.content("image", data=images[i]), content_id=f"i{i}")
                times["image"].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                engine.submit(engine.content("text", text=f"notice {i} about the weekend market and ferry times"),
                              content_id=f"t{i}")
                times["text"].append(time.perf_counter() - t0)
        finally:
            engine.close()
    print(json.dumps({"warm_up_s": warm_s, **times}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--child", choices=("warm", "cold"))
    args = ap.parse_args()
    if args.child:
        _child(args.child == "warm", args.n)
        return
    print(f"{'variant':8} {'kind':6} {'first ms':>9} {'median next ms':>15} {'first/median':>13}")
    for variant in ("warm", "cold"):
        out = subprocess.run([sys.executable, __file__, "--child", variant, "--n", str(args.n)], check=True,
                             capture_output=True, text=True).stdout
        d = json.loads(out.strip().splitlines()[-1])
        for kind in ("image", "text"):
            first, rest = d[kind][0] * 1000, statistics.median(d[kind][1:]) * 1000
            print(f"{variant:8} {kind:6} {first:9.1f} {rest:15.1f} {first / rest:13.2f}")
        if variant == "warm":
            print(f"         (warm-up took {d['warm_up_s']:.2f} s before the first upload)")


if __name__ == "__main__":
    main()
