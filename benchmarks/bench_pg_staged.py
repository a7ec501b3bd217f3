"""PostgreSQL's share of a feed sync, without the feed: groups of entries written through
:mod:`seawall.sharing.staged_entries` exactly as a sync writes them, timed by the CPU the store's
backend spends (the part of a sync that the subscriber's PostgreSQL pays), then the same entries
written again (a re-sync of an unchanged feed) and once more with changed labels.

    .venv/bin/python benchmarks/bench_pg_staged.py [--entries 400000] [--group 100000]

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
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_sharing import drop_db, make_db
from seawall.composition import build_engine
from seawall.config import Settings
from seawall.sharing.staged_entries import Good, staged_entries
from seawall.store.tables import utcnow, value_digests


def _backend_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _groups(n: int, group: int, labels: list[str]) -> list[list[Good]]:
    rng = np.random.default_rng(7)
    out: list[list[Good]] = []
    for start in range(0, n, group):
        values = [r.tobytes().hex() for r in rng.integers(0, 256, (min(group, n - start), 32), dtype=np.uint8)]
        out.append([("pdq", v, d, [], list(labels), None, str(start + i))
                    for i, (v, d) in enumerate(zip(values, value_digests(values), strict=True))])
    return out


def _pass(eng: object, groups: list[list[Good]], source_id: int, bank_ids: list[int],
          listing: bool) -> tuple[float, float, float, int]:
    db = eng.db  # type: ignore[attr-defined]
    cpu = wall = 0.0
    added = 0
    own0 = time.process_time()
    for entries in groups:
        with db.session() as s:
            pid = s.execute(text("SELECT pg_backend_pid()")).scalar_one()
            if os.environ.get("BENCH_PID"):
                print("pid", pid, flush=True)
            c0, t0 = _backend_cpu(pid), time.perf_counter()
            staged = staged_entries(s, "postgresql", bank_ids, source_id, "a")
            try:
                for start in range(0, len(entries), 20_000):
                    page = entries[start:start + 20_000]
                    staged.stage(page, listing=listing) if listing else staged.stage(page)  # older: no listing
                added += len(staged.write(utcnow()))
            finally:
                staged.close()
            s.commit()
            cpu += _backend_cpu(pid) - c0
            wall += time.perf_counter() - t0
    return cpu, time.process_time() - own0, wall, added


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entries", type=int, default=400_000)
    ap.add_argument("--group", type=int, default=100_000)
    ap.add_argument("--no-relabel", action="store_true", help="skip the third pass (labels changed)")
    ap.add_argument("--listing", action="store_true", help="write the pages as a full listing's (a file feed's)")
    args = ap.parse_args()
    dbname, url = make_db()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            eng = build_engine(Settings(data_dir=Path(tmp), database_url=url, source_sync=False, retro_window_days=0))
            try:
                feed = Path(tmp) / "empty.txt"
                feed.write_text("")
                eng.sources.create({"name": "a", "kind": "file", "path": str(feed), "bank": "synced"}, created_by="b")
                with eng.db.session() as s:
                    source_id = s.execute(text("SELECT id FROM sources WHERE name = 'a'")).scalar_one()
                    bank_ids = [s.execute(text("SELECT id FROM banks WHERE name = 'synced'")).scalar_one()]
                if os.environ.get("BENCH_DROP_FK"):  # what the foreign-key checks cost (an experiment)
                    with eng.db.session() as s:
                        for t, c in (("bank_entry_sources", "bank_entry_sources_entry_id_fkey"),
                                     ("bank_entry_sources", "bank_entry_sources_source_id_fkey"),
                                     ("bank_entries", "bank_entries_bank_id_fkey")):
                            s.execute(text(f"ALTER TABLE {t} DROP CONSTRAINT {c}"))
                groups = _groups(args.entries, args.group, ["x"])
                print(f"{args.entries:,} entries in groups of {args.group:,}; CPU s of the backend, of this process; "
                      "wall s")
                cpu, own, wall, added = _pass(eng, groups, source_id, bank_ids, args.listing)
                print(f"initial      {cpu:6.1f} {own:6.1f} {wall:6.1f}  added {added:,}", flush=True)
                cpu, own, wall, added = _pass(eng, groups, source_id, bank_ids, args.listing)
                print(f"unchanged    {cpu:6.1f} {own:6.1f} {wall:6.1f}  added {added:,}", flush=True)
                if args.no_relabel:
                    return
                groups = [[(t, v, d, lab, ["y"], f, r) for t, v, d, lab, _, f, r in g] for g in groups]
                cpu, own, wall, added = _pass(eng, groups, source_id, bank_ids, args.listing)
                print(f"relabelled   {cpu:6.1f} {own:6.1f} {wall:6.1f}  added {added:,}", flush=True)
            finally:
                eng.close()
    finally:
        drop_db(dbname)


if __name__ == "__main__":
    main()
