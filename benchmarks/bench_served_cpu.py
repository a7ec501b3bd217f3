"""CPU per served image upload, split by process: the two request processes of ``seawall serve --workers 2``
(stage 1) and the low-priority stage-2 processes, for one or more source trees in the same run.

Why: on a shared machine the latency of an open-loop run swings with the other load, and the server CPU
that ``bench_targets13.py`` reports mixes stage 1 with whatever stage 2 managed to run meanwhile. The CPU
seconds each process spends per answered upload is the figure the saturation target divides the cores by.
Several ``--src`` trees (a checkout of an older commit, e.g. ``git archive <sha> src | tar -x -C /tmp/old``)
run alternately on the same generated uploads::

    PYTHONPATH=src .venv/bin/python benchmarks/record.py served-cpu -- .venv/bin/python \\
        benchmarks/bench_served_cpu.py --src src --src /tmp/old/src [--rate 10] [--seconds 15] [--rounds 1]

The stage-2 figure includes the Tesseract subprocesses those processes ran and reaped (the larger part of
an OCR'd upload's CPU; the kernel books it to the parent only as children's time). By default only the
CPU spent during the window is counted, so a stage 2 that falls behind looks cheaper than it is; with
``--drain`` the run waits for the backlog to empty before reading the counters.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_targets13 as t13
from common import (
    Http,
    create_admin_key,
    machine_summary,
    multipart,
    random_hashes,
    run_cli,
    seawall_env,
    tempdir,
    write_hash_file,
)
from loadgen import http_request, open_loop


def process_cpu(pid: int, *, children: bool = False) -> float:
    """User + system CPU seconds of one process; with ``children``, plus those of its children it has
    waited for (the Tesseract runs of a stage-2 process: each is a subprocess, reaped when it ends)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15 if children else 13]) / os.sysconf("SC_CLK_TCK")


def parent(pid: int) -> int:
    """The parent process id (0 once the process is gone)."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def one_run(src: str, args: argparse.Namespace, tmp: Path, tag: str) -> dict[str, float]:
    """CPU ms per answered upload of the request processes and of the stage-2 processes, and latencies."""
    data = tmp / f"data-{tag}"
    env = seawall_env(data)
    env["PYTHONPATH"] = src
    key = create_admin_key(env)
    run_cli(["bank", "create", "uploads", "--description", "benchmark bank"], env)
    bank = tmp / "bank.txt"
    write_hash_file(bank, random_hashes(args.bank, args.seed))
    run_cli(["bank", "import", "uploads", str(bank), "--source", "bench"], env)
    parts = [multipart({"content_id": f"c-{k}", "account_id": f"a-{k % 5}"}, "file", f"c{k}.jpg",
                       t13.captioned_jpeg(args.seed + 100 + k)) for k in range(24)]
    bodies = [http_request("POST", "/v1/items", body=b, headers={"Authorization": f"Bearer {key}",
                                                                  "Content-Type": c}) for b, c in parts]
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = src  # the server inherits it through seawall_env
    try:
        server = t13.serve(data, tmp / f"{tag}.log", 2)
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old
    with server:
        http = Http(server.port, key)
        try:
            for k in range(8):
                body, ctype = parts[k % len(parts)]
                status, reply = http.request("POST", "/v1/items", body, ctype)
                if status != 200:
                    raise RuntimeError(f"warm-up upload: HTTP {status}: {reply[:300]!r}")
        finally:
            http.close()
        t13.wait_backlog(server.port, args.drain_limit)
        pids = [p for p in t13.group_pids(server.pid) if p != server.pid
                and "resource_tracker" not in t13.describe(p)]
        # request processes are the supervisor's children; the stage-2 pools are started by them and
        # their Tesseract runs are theirs (counted once reaped)
        requests = {p for p in pids if parent(p) == server.pid}
        before = {p: process_cpu(p, children=p not in requests) for p in pids}
        res = open_loop("127.0.0.1", server.port, rate=args.rate, seconds=args.seconds, requests=bodies)
        if args.drain:  # the stage-2 work the window left queued is part of what these uploads cost
            t13.wait_backlog(server.port, args.drain_limit)
        spent = {p: process_cpu(p, children=p not in requests) - before[p] for p in pids
                 if Path(f"/proc/{p}").exists()}
    n = max(1, res.ok)
    return {"stage1": 1000 * sum(v for p, v in spent.items() if p in requests) / n,
            "stage2": 1000 * sum(v for p, v in spent.items() if p not in requests) / n,
            "p50": res.pct_ms(50), "p99": res.pct_ms(99), "ok": float(res.ok)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", action="append", required=True, help="a source tree (its src directory); repeatable")
    ap.add_argument("--rate", type=float, default=10.0)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--bank", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--drain-limit", type=float, default=60.0)
    ap.add_argument("--drain", action="store_true",
                    help="count the stage-2 CPU until the backlog is empty (else only during the window)")
    args = ap.parse_args()
    print(machine_summary())
    results: dict[str, list[dict[str, float]]] = {s: [] for s in args.src}
    with tempdir("seawall-served-cpu-") as tmp_name:
        tmp = Path(tmp_name)
        for r in range(args.rounds):
            for i, src in enumerate(args.src):
                results[src].append(one_run(src, args, tmp, f"r{r}-s{i}"))
    print(f"\n{args.rate:g} uploads/s offered for {args.seconds:g} s (1 MP captioned JPEGs, OCR on), "
          f"{args.rounds} round(s); CPU ms per answered upload, median of the rounds; stage 2 with its "
          f"Tesseract runs, {'until the backlog drained' if args.drain else 'during the window only'}\n")
    print("| source tree | request processes (stage 1) | stage-2 processes | p50 ms | p99 ms | answered |")
    print("|---|---|---|---|---|---|")
    for src, runs in results.items():
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        print(f"| {src} | {med['stage1']:.1f} | {med['stage2']:.1f} | {med['p50']:.0f} | {med['p99']:.0f} | "
              f"{med['ok']:.0f} |")


if __name__ == "__main__":
    main()
