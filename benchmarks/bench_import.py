"""Bulk import of PDQ hash lines into SQLite and PostgreSQL, against a naive row-by-row peer.

Why: partners share lists of millions of hashes and a platform must be able to load one in minutes,
re-load it without doubling anything, and match a newly banked hash at once. The peer is what an
implementation without a bulk path does: per line, look the value up through the ORM and insert it
with its own INSERT (all in one transaction, which flatters the peer), timed on a smaller sample.

    .venv/bin/python benchmarks/bench_import.py [--quick] [--no-postgres]

PostgreSQL runs in a throwaway database on 127.0.0.1:5432 (user postgres, trust auth) that is dropped
afterwards. Servers bind 127.0.0.1 on free ports and are always stopped. Hashes are random.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    Http,
    create_admin_key,
    hashes_hex,
    machine_summary,
    markdown_table,
    postgres_database,
    random_hashes,
    rss_mb,
    run_cli,
    seawall_env,
    seawall_server,
    tempdir,
    write_hash_file,
)
from seawall.composition import build_engine
from seawall.config import Settings
from seawall.engine import Engine
from seawall.sharing.base import RejectedLine
from seawall.sharing.importer import import_entries
from seawall.store.tables import BankEntryRow, utcnow, value_digest

GOAL_LINES_PER_S = 50_000
GOAL_MATCHABLE_S = 1.0


def file_lines(path: Path) -> Iterator[str]:
    """Stream lines the way the CLI does (decode, strip the newline), so the parse cost is the real one."""
    with path.open("rb") as fh:
        for raw in fh:
            yield raw.decode("utf-8", errors="replace").rstrip("\r\n")


def naive_import(engine: Engine, bank_name: str, path: Path) -> tuple[int, float]:
    """The peer: parse and normalise each line as Seawall does, then one ORM lookup and one INSERT per
    line. Returns (lines added, seconds)."""
    bank = engine.banks.get(bank_name)
    fmt = engine.registry.hashlist_format("text")
    sigs = engine.registry.signal_types
    added = 0
    t0 = time.perf_counter()
    with engine.db.session() as s:
        for parsed in fmt.parse(file_lines(path)):
            if isinstance(parsed, RejectedLine):
                continue
            sig = sigs[parsed.signal_type]
            value = sig.normalize(parsed.value)
            digest = value_digest(value)
            exists = s.scalar(select(BankEntryRow.id).where(
                BankEntryRow.bank_id == bank.id, BankEntryRow.signal_type == sig.name,
                BankEntryRow.value_digest == digest))
            if exists is None:
                s.add(BankEntryRow(bank_id=bank.id, signal_type=sig.name, value=value, value_digest=digest, labels=[],
                                   source="naive", added_by="bench", note="", meta={}, created_at=utcnow()))
                s.flush()
                added += 1
    return added, time.perf_counter() - t0


def bulk_import(engine: Engine, bank_name: str, path: Path) -> tuple[Any, float]:
    """Seawall's importer alone (the store write), without the index refresh that follows it."""
    bank = engine.banks.get(bank_name)
    fmt = engine.registry.hashlist_format("text")
    t0 = time.perf_counter()
    report = import_entries(engine.db, engine.registry, bank, fmt, file_lines(path), added_by="bench",
                            source=path.name)
    return report, time.perf_counter() - t0


def matchable_delays(port: int, key: str, engine: Engine, bank: str, trials: int,
                     seed: int) -> tuple[list[float], list[float], list[float]]:
    """Seconds from a write to the first lookup that finds the new hash: (a) written through
    ``POST /v1/banks/{name}/entries`` on the server, (b) written by another process straight into the
    store (a CLI import or another node), which the server picks up from its change cursor.
    Also returns plain lookup round trips for scale."""
    http = Http(port, key)
    fresh = hashes_hex(random_hashes(2 * trials, seed))
    fmt = engine.registry.hashlist_format("text")
    api: list[float] = []
    other: list[float] = []
    rtt: list[float] = []
    try:
        http.json("GET", f"/v1/banks/{bank}")  # the key's first use runs argon2; that is not freshness
        for k in range(2 * trials):
            value = fresh[k]
            path = f"/v1/lookup?signal_type=pdq&value={value}"
            t0 = time.perf_counter()
            if k % 2 == 0:
                http.json("POST", f"/v1/banks/{bank}/entries", {"signal_type": "pdq", "value": value})
            else:
                b = engine.banks.get(bank)
                rep = import_entries(engine.db, engine.registry, b, fmt, [f"pdq {value}"], added_by="other-node")
                assert rep.added == 1
            while True:
                t1 = time.perf_counter()
                found = http.json("GET", path)["matches"]
                rtt.append(time.perf_counter() - t1)
                if found:
                    (api if k % 2 == 0 else other).append(time.perf_counter() - t0)
                    break
                if time.perf_counter() - t0 > 30:
                    raise RuntimeError("a new hash was not matchable within 30 s")
                time.sleep(0.005)
    finally:
        http.close()
    return api, other, rtt


def run_backend(label: str, tmp: Path, bank_file: Path, sample_file: Path, n: int, sample: int,
                database_url: str | None, trials: int, seed: int) -> tuple[list[list[object]], list[list[object]]]:
    """All import measurements for one database; returns (throughput rows, freshness rows)."""
    data_dir = tmp / f"data-{label.lower()}"
    settings = Settings(data_dir=data_dir, database_url=database_url)
    engine = build_engine(settings)
    rows: list[list[object]] = []
    fresh_rows: list[list[object]] = []
    try:
        for name in ("naive", "bulk"):
            engine.banks.create(name, description="benchmark", kind="block", default_action="block", labels=[],
                                thresholds={})
        added, naive_s = naive_import(engine, "naive", sample_file)
        naive_rate = sample / naive_s
        rows.append([label, "peer: ORM lookup + INSERT per line", f"{sample:,}", added, f"{naive_s:.1f}",
                     f"{naive_rate:,.0f}", "1.0×", ""])
        report, bulk_s = bulk_import(engine, "bulk", bank_file)
        rate = n / bulk_s
        rows.append([label, "Seawall bulk import", f"{n:,}", f"{report.added:,}", f"{bulk_s:.1f}", f"{rate:,.0f}",
                     f"{rate / naive_rate:.0f}×", "yes" if rate >= GOAL_LINES_PER_S else "NO"])
        again, again_s = bulk_import(engine, "bulk", bank_file)
        rows.append([label, "Seawall re-import (same file)", f"{n:,}", f"{again.added:,}", f"{again_s:.1f}",
                     f"{n / again_s:,.0f}", f"{n / again_s / naive_rate:.0f}×",
                     "yes (adds 0)" if again.added == 0 and again.duplicates == n else "NO"])
        t0 = time.perf_counter()
        loaded = engine.refresh()
        rows.append([label, "index load of the stored entries (engine.refresh)", f"{loaded:,}", "—",
                     f"{time.perf_counter() - t0:.1f}", f"{loaded / (time.perf_counter() - t0):,.0f}", "—", ""])

        env = seawall_env(data_dir, database_url=database_url)
        key = create_admin_key(env)
        with seawall_server(data_dir, tmp / f"server-{label}.log", database_url=database_url) as server:
            api, other, rtt = matchable_delays(server.port, key, engine, "bulk", trials, seed)
            rss = rss_mb(server.pid)
            ready = server.started_in
        for name, vals in (("POST /v1/banks/bulk/entries, then lookup", api),
                           ("written by another process, then lookup", other)):
            fresh_rows.append([label, name, len(vals), f"{statistics.median(vals) * 1000:.0f} ms",
                               f"{max(vals) * 1000:.0f} ms", f"{statistics.median(rtt) * 1000:.1f} ms",
                               "yes" if max(vals) < GOAL_MATCHABLE_S else "NO"])
        fresh_rows.append([label, f"(server start to ready with {n + sample:,} entries: {ready:.1f} s, "
                                  f"RSS {rss:.0f} MiB)", "", "", "", "", ""])
    finally:
        engine.close()
    return rows, fresh_rows


def cli_import_row(tmp: Path, bank_file: Path, n: int) -> list[object]:
    """``seawall bank import`` end to end in a fresh SQLite data dir: process start, migrations,
    import and the index refresh the CLI does afterwards."""
    env = seawall_env(tmp / "data-cli")
    run_cli(["bank", "create", "cli"], env)
    t0 = time.perf_counter()
    out = run_cli(["bank", "import", "cli", str(bank_file)], env, timeout=1800).stdout.strip().splitlines()[-1]
    took = time.perf_counter() - t0
    return ["SQLite", f"`seawall bank import` CLI, wall clock ({out})", f"{n:,}", "—", f"{took:.1f}",
            f"{n / took:,.0f}", "—", "yes" if n / took >= GOAL_LINES_PER_S else "NO"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="100k lines instead of 1M (smoke run)")
    ap.add_argument("--no-postgres", action="store_true", help="SQLite only")
    ap.add_argument("--seed", type=int, default=23)
    args = ap.parse_args()
    n, sample, trials = (100_000, 2_000, 3) if args.quick else (1_000_000, 10_000, 10)
    started = time.perf_counter()
    print(f"# Bulk import benchmark\n\n{machine_summary()}; {n:,} random `pdq <hex>` lines; the peer is timed "
          f"on {sample:,} other lines into another bank of the same database.\n", flush=True)
    throughput: list[list[object]] = []
    freshness: list[list[object]] = []
    with tempdir("seawall-bench-import-") as t:
        tmp = Path(t)
        bank_file, sample_file = tmp / "bank.txt", tmp / "sample.txt"
        write_hash_file(bank_file, random_hashes(n, args.seed))
        write_hash_file(sample_file, random_hashes(sample, args.seed + 1))
        backends: list[tuple[str, AbstractContextManager[str | None]]] = [("SQLite", nullcontext(None))]
        if not args.no_postgres:
            backends.append(("PostgreSQL", postgres_database()))
        for label, ctx in backends:
            with ctx as url:
                rows, fresh = run_backend(label, tmp, bank_file, sample_file, n, sample, url, trials,
                                          args.seed + 2)
            throughput += rows
            freshness += fresh
            print(f"… {label} done ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
        throughput.append(cli_import_row(tmp, bank_file, n))
    print("## Import throughput (goal ≥ 50,000 lines/s)\n")
    print(markdown_table(["database", "path", "lines", "added", "seconds", "lines/s", "vs peer", "goal met"],
                         throughput))
    print("\n## New hash → matchable on a running server (goal < 1 s)\n")
    print(markdown_table(["database", "write", "trials", "median", "max", "lookup round trip (median)",
                          "goal met"], freshness))
    print(f"\n_total {time.perf_counter() - started:.0f} s_")


if __name__ == "__main__":
    main()
