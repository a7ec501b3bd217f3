"""The write path of a feed sync alone: N random PDQ entries from a file feed (no publisher, no HTTP)
into SQLite or PostgreSQL, then a re-sync from scratch that must add nothing.

Printed per tenth of the sync: wall seconds, this process's CPU seconds and the bytes it has written
(SQLite's WAL and database file); at the end the number of transactions the pages went in and, on
PostgreSQL, the CPU seconds of the store's backend. On a busy machine compare CPU seconds and bytes
written, not wall time.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_sync_writes.py 2000000 sqlite|pg [PAGE_SIZE]

Hashes are random; nothing is downloaded.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

import seawall.sharing.exchanges.file as file_exchange
import seawall.sharing.sources as sources_module
from common import write_pdq_feed
from seawall.composition import build_engine
from seawall.config import Settings

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


def written_mb() -> float:
    with open("/proc/self/io") as fh:
        fields = dict(line.split(": ") for line in fh.read().splitlines())
    return int(fields["write_bytes"]) / 1e6


def backend_cpu(dbname: str) -> float:
    """CPU seconds of the PostgreSQL backends connected to ``dbname`` (read from /proc)."""
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        pids = [r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (dbname,))]
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def main() -> None:
    n, store = int(sys.argv[1]), sys.argv[2]
    page = int(sys.argv[3]) if len(sys.argv) > 3 else 20_000
    file_exchange.PAGE_SIZE = page
    tmp = Path(tempfile.mkdtemp(prefix="seawall-sync-writes-"))
    feed = tmp / "feed.txt"
    write_pdq_feed(feed, n)
    url, dbname = None, ""
    if store == "pg":
        dbname = f"seawall_bench_w{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{dbname}"')
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{dbname}"
    try:
        eng = build_engine(Settings(data_dir=tmp / "store", database_url=url, source_sync=False,
                                    retro_window_days=0))
        try:
            eng.sources.create({"name": "feed", "kind": "file", "path": str(feed), "bank": "synced",
                                "action": "block"}, created_by="bench")
            groups = [0, 0]
            apply_group = getattr(sources_module.SourceService, "_apply_group", None)
            if apply_group is not None:  # count transactions (older code applied one page per transaction)
                def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
                    done = apply_group(self, *args, **kwargs)
                    groups[0] += 1
                    groups[1] += len(done or [])
                    return done

                setattr(sources_module.SourceService, "_apply_group", counted)  # noqa: B010
            t0, c0 = time.perf_counter(), time.process_time()
            last = [t0, c0, 0]

            def progress(p: Any, _result: Any) -> None:
                last[2] += len(p.entries)
                if last[2] % max(1, n // 10) < page:
                    t, c = time.perf_counter(), time.process_time()
                    print(f"  at {last[2]:>9,}: {t - last[0]:6.1f} s wall {c - last[1]:6.1f} s cpu, "
                          f"{written_mb():8.0f} MB written so far", flush=True)
                    last[0], last[1] = t, c

            rep = eng.sources.sync("feed", progress=progress)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            assert rep.error is None and rep.added == n, rep.to_dict()
            print(f"{store} sync of {n:,}: {wall:.1f} s wall, {cpu:.1f} s cpu (this process), {n / wall:,.0f}/s, "
                  f"{groups[0] or rep.pages} transactions for {rep.pages} pages, {written_mb():.0f} MB written",
                  flush=True)
            if dbname:
                print(f"  PostgreSQL backend: {backend_cpu(dbname):.1f} s cpu", flush=True)
            eng.sources.update("feed", {"checkpoint": None})
            t0, c0 = time.perf_counter(), time.process_time()
            again = eng.sources.sync("feed")
            print(f"{store} re-sync: {time.perf_counter() - t0:.1f} s wall, {time.process_time() - c0:.1f} s cpu, "
                  f"added {again.added}", flush=True)
            assert again.error is None and again.added == 0
        finally:
            eng.close()
    finally:
        if dbname:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
