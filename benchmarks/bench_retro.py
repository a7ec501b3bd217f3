"""Retro-matching: a batch of new bank entries against many past items, Seawall against two peers.

Why: a partner's list lands with thousands of hashes and every past upload in the window must be
checked against them, while the platform keeps uploading. Seawall indexes the *new entries* and streams
the stored items through that small index once (reading them from the store as it goes). The peers get
the items' hashes already in memory, which flatters them:

* ``naive``: for each new entry, XOR + popcount against every stored item hash (NumPy, vectorised);
* ``faiss``: ``IndexBinaryFlat`` over every stored item hash, one ``range_search`` with all new entries.

Items are stored as Seawall stores image items (PDQ with its seven rotations/flips, MD5, SHA-256);
hashes are random, a known share of new entries are near copies (≤ 20 bits away) of one rotation of a
stored item, and every method must find exactly those.

    .venv/bin/python benchmarks/bench_retro.py [--items 200000] [--entries 2000] [--near 200] [--database-url URL]
        [--peer-sample K]

The second sharing target (100,000 newly synced entries against 1,000,000 stored items in 60 s) is
``--items 1000000 --entries 100000 --near 1000 --peer-sample 200``.

Uses a temporary SQLite database unless ``--database-url`` names an empty PostgreSQL database.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt
from sqlalchemy import insert

from seawall.composition import build_engine
from seawall.config import Settings
from seawall.engine import Engine
from seawall.store.tables import ItemRow, utcnow

RADIUS = 31
VARIANTS = 8


def _hex(rows: npt.NDArray[np.uint8]) -> list[str]:
    return [r.tobytes().hex() for r in rows]


def _store_items(engine: Engine, hashes: npt.NDArray[np.uint8], rng: np.random.Generator) -> None:
    """Insert items the way image uploads are stored, in batches (random MD5/SHA-256, 8 PDQ forms)."""
    n = hashes.shape[0]
    now = utcnow()
    batch = 5_000
    for start in range(0, n, batch):
        rows = []
        for i in range(start, min(n, start + batch)):
            forms = _hex(hashes[i])
            rows.append({
                "id": uuid.uuid4().hex, "content_id": f"past-{i}", "account_id": f"acct-{i % 5000}",
                "content_type": "image", "received_at": now - timedelta(seconds=int(rng.integers(0, 90 * 86400))),
                "size_bytes": 100_000, "verdict": "allow", "reasons": ["no bank matched"], "status": "complete",
                "signals": [{"type": "md5", "value": rng.bytes(16).hex()},
                            {"type": "sha256", "value": rng.bytes(32).hex()},
                            {"type": "pdq", "value": forms[0], "quality": 90, "variants": forms[1:]}],
            })
        with engine.db.session() as s:
            s.execute(insert(ItemRow), rows)


def _naive(items: npt.NDArray[np.uint64], entries: npt.NDArray[np.uint64]) -> set[int]:
    """Item numbers within RADIUS of some entry in some rotation: one vectorised scan per entry."""
    found: set[int] = set()
    for e in entries:
        x = np.bitwise_xor(items, e)
        d = np.bitwise_count(x).sum(axis=-1)  # (items, variants)
        found.update(np.nonzero((d <= RADIUS).any(axis=1))[0].tolist())
    return found


def _faiss(items: npt.NDArray[np.uint8], entries: npt.NDArray[np.uint8]) -> tuple[set[int], float]:
    import faiss

    t0 = time.perf_counter()
    index = faiss.IndexBinaryFlat(256)
    index.add(items.reshape(-1, 32))
    build = time.perf_counter() - t0
    _, _, labels = index.range_search(entries, RADIUS + 1)  # faiss: strictly below the radius
    return {int(v) // VARIANTS for v in labels}, build


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=200_000)
    ap.add_argument("--entries", type=int, default=2_000)
    ap.add_argument("--near", type=int, default=200, help="new entries that are near copies of a stored item")
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--peer-sample", type=int, default=0,
                    help="measure the peers on this many entries (the near copies first) and scale their time "
                         "to all entries: a full scan of 100,000 entries against 1,000,000 items takes hours")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)

    items = rng.integers(0, 256, (args.items, VARIANTS, 32), dtype=np.uint8)
    targets = rng.choice(args.items, args.near, replace=False)
    entries = rng.integers(0, 256, (args.entries, 32), dtype=np.uint8)
    for k, t in enumerate(targets):  # a near copy of one rotation of a stored item
        e = items[t, int(rng.integers(0, VARIANTS))].copy()
        bits = np.unpackbits(e)
        bits[rng.choice(256, int(rng.integers(0, 21)), replace=False)] ^= 1
        entries[k] = np.packbits(bits)
    expected = {int(t) for t in targets}

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), database_url=args.database_url, retro_window_days=180)
        engine = build_engine(settings)
        try:
            t0 = time.perf_counter()
            _store_items(engine, items, rng)
            print(f"stored {args.items:,} past image items in {time.perf_counter() - t0:.1f} s "
                  f"({engine.db.dialect})")
            engine.banks.create("partner-list")
            report = engine.import_entries("partner-list", "text", (f"pdq {h}\n" for h in _hex(entries)),
                                           added_by="bench")
            assert report.added == args.entries, report
            t0 = time.perf_counter()
            run = engine.retro.run()
            seawall_s = time.perf_counter() - t0
        finally:
            engine.close()
    assert run.items_scanned == args.items, run
    print(f"seawall: {run.items_matched} items matched (expected {len(expected)}), {run.entries:,} entries, "
          f"{args.items:,} items in {seawall_s:.2f} s = {args.items / seawall_s:,.0f} items/s "
          f"(store read, JSON decode, search, decisions and events included)")

    assert run.items_matched == len(expected), (run.items_matched, len(expected))
    # the peers scan every entry against every item; with --peer-sample they scan the first k entries (which
    # hold the near copies, so they must find the planted items among them) and their time is scaled up
    k = min(args.peer_sample, args.entries) if args.peer_sample else args.entries
    scale = args.entries / k
    sample = entries[:k]
    planted = {int(t) for t in targets[:k]}
    words = items.view(np.uint64)  # (items, variants, 4)
    t0 = time.perf_counter()
    naive = _naive(words, sample.view(np.uint64))
    naive_s = (time.perf_counter() - t0) * scale
    label = f" (scaled from {k:,} entries)" if k < args.entries else ""
    print(f"naive:   {len(naive)} items matched in {naive_s:.2f} s{label} = {args.items / naive_s:,.0f} items/s "
          f"(hashes already in memory)")
    t0 = time.perf_counter()
    fa, build = _faiss(items, sample)
    faiss_s = time.perf_counter() - build - t0
    faiss_s = build + faiss_s * scale
    print(f"faiss:   {len(fa)} items matched in {faiss_s:.2f} s{label} (index build {build:.2f} s) = "
          f"{args.items / faiss_s:,.0f} items/s (hashes already in memory)")
    assert naive == planted and fa == planted, "a peer disagrees with the planted near copies"
    print(f"\nSeawall / naive: {naive_s / seawall_s:.1f}x   Seawall / faiss flat: {faiss_s / seawall_s:.1f}x "
          f"(>1 = Seawall faster)")


if __name__ == "__main__":
    main()
