"""CPU of ``seawall bank import`` on PostgreSQL, the command's and its database backend's, two trees side by side.

Why: the import overlaps parsing with the database's writing, so its wall time is the larger of the two
CPU costs; on a machine shared with other work, wall time says little and CPU seconds say which side an
import waits for. The command's CPU is its rusage; the backend's is read from ``/proc/<pid>/stat`` of
every server process connected to the benchmark's database, sampled until the command exits (the server
must run on this host). Runs alternate between this tree and ``--peer`` (another checkout's ``src``).

    .venv/bin/python benchmarks/bench_pg_import_cpu.py --peer /path/to/other/src [--lines 1000000] [--runs 1]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    PG_ADMIN,
    postgres_database,
    random_hashes,
    run_cli,
    seawall_env,
    seawall_exe,
    tempdir,
    write_hash_file,
)

TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICK


def _one(src: str, bank_file: Path, tmp: Path, lines: int) -> tuple[float, float, float]:
    """Wall seconds, command CPU seconds and backend CPU seconds of one import into a fresh database."""
    with postgres_database("seawall_importcpu") as url:
        dbname = url.rsplit("/", 1)[1]
        env = {**seawall_env(tmp / f"data-{time.monotonic_ns()}", database_url=url), "PYTHONPATH": src}
        run_cli(["bank", "create", "bench"], env)
        seen: dict[int, float] = {}
        stop = threading.Event()

        def sample() -> None:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                while not stop.is_set():
                    for (pid,) in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s",
                                               (dbname,)).fetchall():
                        cpu = _proc_cpu(pid)
                        if cpu is not None:
                            seen[pid] = cpu
                    time.sleep(0.1)

        sampler = threading.Thread(target=sample)
        sampler.start()
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        try:
            proc = subprocess.run([seawall_exe(), "bank", "import", "bench", str(bank_file), "--source", "bench"],
                                  env=env, capture_output=True, text=True, check=False)
        finally:
            took = time.perf_counter() - t0
            stop.set()
            sampler.join()
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0 or f"added {lines:,}" not in proc.stdout:
            raise RuntimeError(f"import failed: {proc.stdout[-500:]} {proc.stderr[-2000:]}")
        client = r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime
        return took, client, sum(seen.values())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--peer", required=True, help="the other checkout's src directory")
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=13)
    args = ap.parse_args()
    here = str(Path(__file__).resolve().parents[1] / "src")
    trees = {"this": here, "peer": args.peer}
    with tempdir("seawall-importcpu-") as tmp_name:
        tmp = Path(tmp_name)
        bank_file = tmp / "bank.txt"
        write_hash_file(bank_file, random_hashes(args.lines, args.seed))
        runs: dict[str, list[tuple[float, float, float]]] = {"this": [], "peer": []}
        for i in range(args.runs):
            for name in (("peer", "this") if i % 2 == 0 else ("this", "peer")):
                runs[name].append(_one(trees[name], bank_file, tmp, args.lines))
                w, c, b = runs[name][-1]
                print(f"run {i + 1} {name:4}: wall {w:7.2f} s ({args.lines / w:>9,.0f} lines/s), "
                      f"command CPU {c:6.2f} s, backend CPU {b:6.2f} s, load {os.getloadavg()[0]:.1f}", flush=True)
    print(f"\n{args.lines:,} PDQ lines, medians of {args.runs} run(s) each")
    print(f"{'tree':6} {'wall s':>8} {'lines/s':>10} {'command CPU s':>14} {'backend CPU s':>14} "
          f"{'lines/backend CPU-s':>20}")
    for name in ("this", "peer"):
        w, c, b = (statistics.median(r[k] for r in runs[name]) for k in range(3))
        print(f"{name:6} {w:8.2f} {args.lines / w:10,.0f} {c:14.2f} {b:14.2f} {args.lines / b:20,.0f}")


if __name__ == "__main__":
    main()
