"""Retro-matching: a batch of new bank entries against many past items, Seawall against two peers.

Why: a partner's list lands with thousands of hashes and every past upload in the window must be
checked against them, while the platform keeps uploading. Seawall holds the PDQ forms of the final past
items in one exact index between passes (built as items arrive; here once before the pass, timed apart);
a pass reads the items' keys from the store, and looks the new entries up in the held forms
(``--no-form-index``: the older pass, which reads and indexes every stored form). The peers get the
items' hashes already in memory, which flatters them:

* ``naive``: for each new entry, XOR + popcount against every stored item hash (NumPy, vectorised);
* ``faiss``: ``IndexBinaryFlat`` over every stored item hash, one ``range_search`` with all new entries.

Items are stored as Seawall stores image uploads (``benchmarks/retro_seed.py``, bulk SQL, not timed):
MD5, SHA-256, PDQ with its seven rotations/flips, PDQ of ``--region-forms`` region guesses (17 for a
typical upload; 0 gives the older 8-form items) and ``pdq_crop``. Hashes are random; a known share of
new entries are near copies (0-20 bits away) of one form of a stored item, dihedral or region guess,
and every method must find exactly those: Seawall's stored matches are checked pair by pair (item,
entry, distance, form name), not only counted.

    .venv/bin/python benchmarks/bench_retro.py [--items 200000] [--entries 2000] [--near 200] [--database-url URL]
        [--region-forms 17] [--peer-sample K]

The second sharing target (100,000 newly synced entries against 1,000,000 stored items in 60 s) is
``--items 1000000 --entries 100000 --near 1000 --peer-sample 50``.

Uses a temporary SQLite database unless ``--database-url`` names an empty PostgreSQL database.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt
from sqlalchemy import select

from retro_seed import DIHEDRAL_FORMS, region_names, seed_items
from seawall.composition import build_engine
from seawall.config import Settings
from seawall.engine import Engine
from seawall.store.tables import BankEntryRow, MatchRow

RADIUS = 31
VARIANTS = DIHEDRAL_FORMS


def _hex(rows: npt.NDArray[np.uint8]) -> list[str]:
    return [r.tobytes().hex() for r in rows]


def _store_items(engine: Engine, hashes: npt.NDArray[np.uint8], rng: np.random.Generator) -> list[str]:
    """Store one image item per row of ``hashes`` (bulk SQL, see ``retro_seed``); returns their ids."""
    return seed_items(engine.db, hashes, rng, window=timedelta(days=90)).ids


def _naive(items: npt.NDArray[np.uint64], entries: npt.NDArray[np.uint64]) -> set[int]:
    """Item numbers within RADIUS of some entry in some form: one vectorised scan per entry."""
    found: set[int] = set()
    for e in entries:
        x = np.bitwise_xor(items, e)
        d = np.bitwise_count(x).sum(axis=-1)  # (items, forms)
        found.update(np.nonzero((d <= RADIUS).any(axis=1))[0].tolist())
    return found


def _faiss(items: npt.NDArray[np.uint8], entries: npt.NDArray[np.uint8]) -> tuple[set[int], float]:
    import faiss

    forms = items.shape[1]
    t0 = time.perf_counter()
    index = faiss.IndexBinaryFlat(256)
    index.add(items.reshape(-1, 32))
    build = time.perf_counter() - t0
    _, _, labels = index.range_search(entries, RADIUS + 1)  # faiss: strictly below the radius
    return {int(v) // forms for v in labels}, build


def _plant(items: npt.NDArray[np.uint8], entries: npt.NDArray[np.uint8], near: int,
           rng: np.random.Generator) -> list[tuple[int, int, int]]:
    """Make entries[k] (k < near) a near copy of one form of a distinct item: (item, form, bits flipped)."""
    n, forms, _ = items.shape
    planted = []
    for k, t in enumerate(rng.choice(n, near, replace=False).tolist()):
        form = int(rng.integers(0, forms))
        flips = int(rng.integers(0, 21))
        bits = np.unpackbits(items[t, form].copy())
        bits[rng.choice(256, flips, replace=False)] ^= 1
        entries[k] = np.packbits(bits)
        planted.append((t, form, flips))
    return planted


def _stored_matches(engine: Engine) -> set[tuple[str, str, int, str | None]]:
    """(item id, entry value, distance, form name) of every stored match."""
    with engine.db.session() as s:
        rows = s.execute(select(MatchRow.item_id, BankEntryRow.value, MatchRow.distance, MatchRow.variant)
                         .join(BankEntryRow, BankEntryRow.id == MatchRow.entry_id)).all()
    return {(str(r[0]), str(r[1]), int(r[2]), r[3]) for r in rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=200_000)
    ap.add_argument("--entries", type=int, default=2_000)
    ap.add_argument("--near", type=int, default=200, help="new entries that are near copies of a stored item")
    ap.add_argument("--region-forms", type=int, default=len(region_names(17)),
                    help="region guesses stored per item besides the 8 rotations/flips (0: dihedral forms only)")
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--peer-sample", type=int, default=0,
                    help="measure the peers on this many entries (the near copies first) and scale their time "
                         "to all entries: a full scan of 100,000 entries against 1,000,000 items takes hours")
    ap.add_argument("--no-form-index", action="store_true",
                    help="the older pass: read and index every stored form instead of the held ones")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)

    forms = DIHEDRAL_FORMS + args.region_forms
    items = rng.integers(0, 256, (args.items, forms, 32), dtype=np.uint8)
    entries = rng.integers(0, 256, (args.entries, 32), dtype=np.uint8)
    planted = _plant(items, entries, args.near, rng)
    entry_hex = _hex(entries)

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), database_url=args.database_url, retro_window_days=180)
        engine = build_engine(settings)
        try:
            t0 = time.perf_counter()
            ids = _store_items(engine, items, rng)
            print(f"setup: stored {args.items:,} past image items ({forms} PDQ forms each) in "
                  f"{time.perf_counter() - t0:.1f} s with bulk SQL ({engine.db.dialect}; not measured)")
            engine.banks.create("partner-list")
            t0 = time.perf_counter()
            report = engine.import_entries("partner-list", "text", (f"pdq {h}\n" for h in entry_hex),
                                           added_by="bench")
            assert report.added == args.entries, report
            print(f"setup: imported {args.entries:,} new entries in {time.perf_counter() - t0:.1f} s (not measured)")
            assert engine.matcher.radius("pdq") == RADIUS, engine.matcher.radius("pdq")
            dihedral_names = engine.registry.signal("pdq").query_variant_names(DIHEDRAL_FORMS - 1)
            names = [*dihedral_names, *region_names(args.region_forms)]
            if args.no_form_index:
                engine.retro.form_index = False
            else:
                # the held forms are built as items arrive, before a list lands: built here once (not the pass)
                t0, c0 = time.perf_counter(), time.process_time()
                synced = engine.retro.sync_forms(["pdq"])
                assert synced is not None and synced.added == args.items, synced
                forms_held = engine.retro.held_forms
                assert forms_held is not None
                print(f"setup: held the {forms_held.forms():,} PDQ forms of {synced.added:,} past items in "
                      f"{time.perf_counter() - t0:.1f} s ({time.process_time() - c0:.1f} s of CPU; "
                      f"{forms_held.memory_bytes() / forms_held.forms():.0f} bytes/form, "
                      f"{forms_held.memory_bytes() / 2**30:.2f} GiB; once, kept between passes; not the pass)")
            t0, c0 = time.perf_counter(), time.process_time()
            run = engine.retro.run()
            seawall_s, seawall_cpu = time.perf_counter() - t0, time.process_time() - c0
            stored = _stored_matches(engine)
        finally:
            engine.close()
    assert run.items_scanned == args.items, run
    print(f"seawall: {run.items_matched} items matched (expected {len(planted)}), {run.entries:,} entries, "
          f"{args.items:,} items in {seawall_s:.2f} s = {args.items / seawall_s:,.0f} items/s, "
          f"{seawall_cpu:.1f} s of CPU on all threads (store read, JSON decode, search, decisions and events)")
    expected = {(ids[t], entry_hex[k], flips, names[form]) for k, (t, form, flips) in enumerate(planted)}
    assert stored == expected, (f"stored matches differ from the planted ones: {len(stored - expected)} unexpected, "
                                f"{len(expected - stored)} missing")
    assert run.items_matched == len(planted) and run.matches == len(planted), run
    print(f"seawall: the {len(stored)} stored matches are exactly the planted (item, entry, distance, form) pairs")

    # the peers scan every entry against every item; with --peer-sample they scan the first k entries (which
    # hold the near copies, so they must find the planted items among them) and their time is scaled up
    k = min(args.peer_sample, args.entries) if args.peer_sample else args.entries
    scale = args.entries / k
    sample = entries[:k]
    sample_planted = {t for t, _, _ in planted[:k]}
    words = items.view(np.uint64)  # (items, forms, 4)
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
    assert naive == sample_planted and fa == sample_planted, "a peer disagrees with the planted near copies"
    print(f"\nSeawall / naive: {naive_s / seawall_s:.1f}x   Seawall / faiss flat: {faiss_s / seawall_s:.1f}x "
          f"(>1 = Seawall faster)")


if __name__ == "__main__":
    main()
