"""The publisher's CPU for serving an initial sync: every signed page of a feed of N PDQ entries built in
this process (``FeedService.signed_page``, what ``GET /v1/feeds/<feed>/entries`` sends), without HTTP.

Process CPU seconds, best of ``--rounds``, so two source trees can be compared on a shared machine::

    PYTHONPATH=src .venv/bin/python benchmarks/bench_feed_pages.py [--entries 200000] [--page-size 20000]
    PYTHONPATH=/tmp/old/src .venv/bin/python benchmarks/bench_feed_pages.py ...

Hashes are random; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_sharing import drop_db, make_db
from seawall.composition import build_engine
from seawall.config import Settings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entries", type=int, default=200_000)
    ap.add_argument("--page-size", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    import seawall

    rng = np.random.default_rng(13)
    lines = [f"pdq {r.tobytes().hex()}" for r in rng.integers(0, 256, (args.entries, 32), dtype=np.uint8)]
    dbname, url = make_db()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            eng = build_engine(Settings(data_dir=Path(tmp), database_url=url, source_sync=False, retro_window_days=0))
            try:
                eng.banks.create("shared")
                assert eng.import_entries("shared", "text", iter(lines), added_by="bench").added == args.entries
                made = eng.feeds.create("f", ["shared"], ["sub"])
                partner = eng.feeds.authenticate("f", "Bearer " + made["partners"][0]["token"])
                spent: list[float] = []
                for _ in range(args.rounds + 1):  # the first round warms the caches and is not counted
                    t0 = time.process_time()
                    after, pages, size = None, 0, 0
                    while True:
                        page = eng.feeds.signed_page(partner, after, limit=args.page_size)
                        pages, size, after = pages + 1, size + len(page.wire), page.checkpoint
                        if not page.more:
                            break
                    spent.append(time.process_time() - t0)
                best = min(spent[1:])
                print(f"{Path(seawall.__file__).parent}: {pages} pages, {size / 1e6:.0f} MB, best of {args.rounds}: "
                      f"{best:.2f} CPU s ({best / args.entries * 1e6:.2f} µs an entry), "
                      f"load {os.getloadavg()[0]:.1f}")
            finally:
                eng.close()
    finally:
        drop_db(dbname)


if __name__ == "__main__":
    main()
