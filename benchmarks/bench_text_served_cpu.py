"""Server CPU per JSON text item over HTTP (``seawall serve --workers 2``, wrk closed loop), for several source
trees in alternation.

Why: items/s of a saturation run on a shared 2-core machine moves by tens of percent from one minute to the
next; the server's CPU seconds per answered item (every process of the server, read from /proc) is what a
change alters and what the saturation target divides the cores by. Each round starts a fresh server per
tree (new SQLite store and key) on the same items as ``bench_targets13.py`` part (b) sends, warms it with
the same load, then times it; the trees alternate round after round, so both see the same machine.

    PYTHONPATH=src .venv/bin/python benchmarks/record.py text-served-cpu -- .venv/bin/python \\
        benchmarks/bench_text_served_cpu.py --src before=/tmp/before/src --src after=src [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_targets13 as t13
from bench_api import lua_text
from common import cpu_seconds, create_admin_key, machine_summary, run_wrk, seawall_env, tempdir


def one_run(src: str, args: argparse.Namespace, tmp: Path, tag: str) -> dict[str, float]:
    """Server CPU ms per item, items/s and latencies of one timed wrk run against a fresh server."""
    data = tmp / f"data-{tag}"
    env = seawall_env(data)
    env["PYTHONPATH"] = src
    key = create_admin_key(env)
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = src  # the server inherits it through seawall_env
    try:
        server = t13.serve(data, tmp / f"{tag}.log", args.workers)
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old
    lua = lua_text(key, "/v1/items")
    with server:
        run_wrk(server.base, lua, connections=args.connections, seconds=args.warmup, workdir=tmp)
        cpu0 = cpu_seconds(server.pid)
        res = run_wrk(server.base, lua, connections=args.connections, seconds=args.seconds, workdir=tmp)
        used = cpu_seconds(server.pid) - cpu0
    return {"cpu_ms": 1000 * used / max(1, res.requests), "rps": res.rps, "p50": res.p50_ms, "p99": res.p99_ms,
            "errors": float(res.errors)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", action="append", required=True, help="NAME=PATH of a source tree (repeat)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=3.0)
    args = ap.parse_args()
    trees = [tuple(s.split("=", 1)) for s in args.src]
    print(machine_summary())
    print(f"\n`seawall serve --workers {args.workers}`, wrk -c{args.connections}, {args.seconds:g} s timed after "
          f"{args.warmup:g} s of the same load, {args.rounds} round(s)\n")
    print("| round | tree | server CPU ms/item | items/s | p50 ms | p99 ms | errors |\n|---|---|---|---|---|---|---|")
    runs: dict[str, list[dict[str, float]]] = {name: [] for name, _ in trees}
    with tempdir("seawall-text-served-") as tmp_name:
        tmp = Path(tmp_name)
        for r in range(1, args.rounds + 1):
            for name, path in trees:
                fig = one_run(str(Path(path).resolve()), args, tmp, f"r{r}-{name}")
                runs[name].append(fig)
                print(f"| {r} | {name} | {fig['cpu_ms']:.3f} | {fig['rps']:,.0f} | {fig['p50']:.1f} | "
                      f"{fig['p99']:.1f} | {fig['errors']:.0f} |", flush=True)
    print("\n| tree | min server CPU ms/item | median server CPU ms/item | median items/s |\n|---|---|---|---|")
    for name, figs in runs.items():
        cpu = [f["cpu_ms"] for f in figs]
        print(f"| {name} | {min(cpu):.3f} | {statistics.median(cpu):.3f} | "
              f"{statistics.median(f['rps'] for f in figs):,.0f} |")
    print(f"\nLoad average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
