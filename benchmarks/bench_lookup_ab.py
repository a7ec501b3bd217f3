"""``GET /v1/lookup`` (issue 13, target c) served by two builds of Seawall, alternating in one run.

Why: the machine is shared, so a figure measured minutes apart from its comparison says as much about
the neighbours as about the code. Here each round starts ``seawall serve --workers N`` from one source
tree, loads it with wrk, stops it, then does the same with the other tree, and the rounds alternate
which goes first; the table gives every round and the median of each build.

    .venv/bin/python benchmarks/bench_lookup_ab.py --code before=/tmp/old/src --code after=src \
        [--entries 10000000] [--rounds 3] [--seconds 20]

The bank is the one ``bench_targets13.py --only c`` builds and caches (``<bank-root>/seawall-t13-lookup-N``)
and the queries are the same: 1,000 rotating values, 10 % near-duplicates of bank entries, 90 % random.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_targets13 import (
    Sampler,
    bank_paths,
    bank_sample,
    build_bank,
    group_pids,
    lookup_check,
    lua_lookup_for,
    serve,
    thread_report,
    thread_sampler,
)
from common import (
    cpu_seconds,
    create_admin_key,
    flip_bits,
    hashes_hex,
    machine_summary,
    markdown_table,
    random_hashes,
    run_wrk,
    seawall_env,
    tempdir,
)


def say(*lines: str) -> None:
    print("\n".join(lines), flush=True)


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def spread(samples: list[dict[int, int]]) -> str:
    seen = sorted({tuple(sorted(s.values(), reverse=True)) for s in samples if s})
    return ", ".join(":".join(str(n) for n in split) for split in seen) or "none seen"


def connections_by_process(port: int) -> dict[int, int]:
    """Established connections to ``port`` per server process (``ss``): how the kernel spread wrk's
    connections over the processes, which bounds how evenly they share the load."""
    out = subprocess.run(["ss", "-tnpH", "state", "established", f"( sport = :{port} )"], capture_output=True,
                         text=True, check=False).stdout
    counts: dict[int, int] = {}
    for pid in re.findall(r"pid=(\d+)", out):
        counts[int(pid)] = counts.get(int(pid), 0) + 1
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--code", action="append", required=True,
                    help="NAME=SRC: a build served with PYTHONPATH=SRC (a source tree; give two or more)")
    ap.add_argument("--entries", type=int, default=10_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--conc", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--bank-root", default="/tmp")
    args = ap.parse_args()
    builds = [(name, os.pathsep.join(str(Path(p).resolve()) for p in src.split(os.pathsep)))
              for name, _, src in (c.partition("=") for c in args.code)]
    say(f"# GET /v1/lookup, {', '.join(n for n, _ in builds)} alternating\n",
        f"{machine_summary()}; load {load()} at start. wrk runs on the same cores as the servers.\n")
    info = build_bank(Path(args.bank_root), args.entries, 13, False)
    data_dir, _, _ = bank_paths(Path(args.bank_root), args.entries)
    say(f"Bank: {info['entries']:,} random PDQ hashes in {data_dir} (SQLite). `seawall serve --workers "
        f"{args.workers}`, wrk at concurrency {args.conc} for {args.seconds:g} s per run.",
        "Queries: 1,000 rotating values, 10 % near-duplicates of bank entries (8 bits flipped), 90 % random.",
        "Builds: " + "; ".join(f"{n} = {src}" for n, src in builds) + "\n")
    key = create_admin_key(seawall_env(data_dir))
    members = bank_sample(args.entries, 13, 100)
    near = hashes_hex(flip_bits(members, 8, 14))
    far = hashes_hex(random_hashes(900, 15))
    queries = near + far
    np.random.default_rng(16).shuffle(queries)
    rows: list[list[Any]] = []
    by_build: dict[str, list[Any]] = {n: [] for n, _ in builds}
    with tempdir("seawall-lookup-ab-") as t:
        tmp = Path(t)
        for rnd in range(args.rounds):
            order = builds if rnd % 2 == 0 else builds[::-1]
            for name, src in order:
                extra = {"PYTHONPATH": src}
                before_load = load()
                server = serve(data_dir, tmp / f"{name}-{rnd}.log", args.workers, extra_env=extra)
                server.start(timeout=3600)
                try:
                    check = lookup_check(server.port, key, near[:20], far[:20])
                    cpu0 = cpu_seconds(server.pid)
                    with thread_sampler(server.pid) as threads, \
                            Sampler(lambda p=server.port: connections_by_process(p), every=2.0) as conns:
                        r = run_wrk(server.base, lua_lookup_for(key, queries), connections=args.conc,
                                    seconds=args.seconds, workdir=tmp)
                    cpu_us = (cpu_seconds(server.pid) - cpu0) / max(1, r.requests) * 1e6
                    pids = group_pids(server.pid)
                finally:
                    server.stop()
                by_build[name].append((r, cpu_us))
                rows.append([rnd + 1, name, f"{r.rps:,.0f}", f"{r.p50_ms:.2f}", f"{r.p90_ms:.2f}", f"{r.p99_ms:.2f}",
                             f"{r.max_ms:.1f}", r.errors, f"{cpu_us:.0f}", before_load])
                say(f"round {rnd + 1}, {name}: {r.rps:,.0f} req/s, p50 {r.p50_ms:.2f} ms, p99 {r.p99_ms:.2f} ms, "
                    f"max {r.max_ms:.1f} ms, errors {r.errors}, server CPU {cpu_us:.0f} µs per request",
                    f"  check: {check}; load before {before_load}",
                    f"  processes {len(pids)}; threads (max of 1 s samples): {thread_report(threads.samples)}",
                    f"  wrk connections per server process (2 s samples): {spread(conns.samples)}")
    say("", markdown_table(["round", "build", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors",
                            "server CPU µs/req", "load (1/5/15 min) before"], rows), "")
    med = []
    for n, runs in by_build.items():
        rps = statistics.median(r.rps for r, _ in runs)
        p99 = statistics.median(r.p99_ms for r, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        med.append([n, f"{rps:,.0f}", f"{p99:.2f}", f"{cpu:.0f}", "yes" if rps >= 3000 and p99 < 10 else "no"])
    say("Medians over the rounds (goal: ≥ 3,000 req/s and p99 < 10 ms). Server CPU is user + system time of every "
        "server process during the wrk run divided by the requests answered: the figure the load of other "
        "processes on the machine disturbs least.\n",
        markdown_table(["build", "req/s", "p99 ms", "server CPU µs/req", "goal met"], med),
        f"\nLoad at the end: {load()}.")


if __name__ == "__main__":
    main()
