"""Commit latency of upload-sized SQLite writes with WAL checkpoints inside the commits or in a thread.

Each commit inserts a 183 KiB blob (a 1 MP JPEG spooled for stage 2) and deletes the one ten commits
back (stage 2 finishing), through a connection opened with the store's pragmas. ``in-commit`` is SQLite's
default (a commit that takes the log past 1000 pages checkpoints); ``thread`` switches that off and runs
a passive checkpoint from :class:`seawall.store.wal_checkpoints.WalCheckpointer` every 200 ms, as a
serving process does. The modes alternate, each on a fresh file, so machine load hits both alike.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
from pathlib import Path

from seawall.store.driver import SQLITE_PRAGMAS
from seawall.store.wal_checkpoints import WalCheckpointer


def run(mode: str, commits: int, folder: Path) -> list[float]:
    path = folder / f"{mode}-{time.monotonic_ns()}.db"
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    for pragma in SQLITE_PRAGMAS:
        conn.execute(pragma)
    checkpointer = None
    if mode == "thread":
        conn.execute("PRAGMA wal_autocheckpoint=0")
        checkpointer = WalCheckpointer(str(path), 0.2)
        checkpointer.start()
    conn.execute("CREATE TABLE spool (id INTEGER PRIMARY KEY, data BLOB)")
    blob = os.urandom(183 * 1024)
    out: list[float] = []
    try:
        for i in range(commits):
            t0 = time.perf_counter()
            conn.execute("BEGIN")
            conn.execute("INSERT INTO spool (id, data) VALUES (?, ?)", (i, blob))
            if i >= 10:
                conn.execute("DELETE FROM spool WHERE id = ?", (i - 10,))
            conn.execute("COMMIT")
            out.append((time.perf_counter() - t0) * 1000)
            time.sleep(0.01)  # 50-100 commits/s, as uploads arrive
    finally:
        if checkpointer is not None:
            checkpointer.close()
        conn.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--commits", type=int, default=600)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    print(f"{args.commits} commits of a 183 KiB insert (+ a delete) per mode and round, modes alternating\n")
    print("| round | checkpoints | p50 ms | p99 ms | max ms | commits > 10 ms |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="seawall-wal-") as tmp:
        for rnd in range(1, args.rounds + 1):
            for mode in ("in-commit", "thread"):
                lat = sorted(run(mode, args.commits, Path(tmp)))
                n = len(lat)
                print(f"| {rnd} | {mode} | {lat[n // 2]:.2f} | {lat[int(n * 0.99)]:.2f} | {lat[-1]:.2f} | "
                      f"{sum(v > 10 for v in lat)} |", flush=True)


if __name__ == "__main__":
    main()
