"""Start-up time of light CLI commands (``--help``, ``bank list``, ``apikey create``), two source trees side by side.

Why: operators script these commands, and every one used to build the whole engine (indexes, numba,
media decoders) first. The peer is another checkout of Seawall (e.g. ``main``) run in the same loop,
interleaved command by command, so machine load hits both alike; the ratio is what to read. CPU seconds
(user + system of the command's process) are printed beside wall time: on a busy machine they move far
less than wall time does.

    .venv/bin/python benchmarks/bench_cli_start.py --peer /path/to/other/src [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = (["--help"], ["bank", "list"], ["apikey", "create", "--role", "submitter"])


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _time(src: str, args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds of one ``seawall ARGS`` process."""
    c0, t0 = _cpu(), time.perf_counter()
    subprocess.run([sys.executable, "-m", "seawall", *args], env={**env, "PYTHONPATH": src}, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0, _cpu() - c0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--peer", required=True, help="the other checkout's src directory")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    here = str(Path(__file__).resolve().parents[1] / "src")
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"this": here, "peer": args.peer}
        envs = {}
        for name, src in trees.items():
            env = {**os.environ, "SEAWALL_DATA_DIR": str(Path(tmp) / name)}
            _time(src, ["bank", "list"], env)  # creates the store; byte-compiles both trees
            envs[name] = env
        print(f"{'command':32} {'this median s':>14} {'peer median s':>14} {'this/peer':>10} "
              f"{'this cpu s':>11} {'peer cpu s':>11} {'cpu ratio':>10}")
        for cmd in COMMANDS:
            runs: dict[str, list[tuple[float, float]]] = {"this": [], "peer": []}
            for _ in range(args.runs):
                for name, src in trees.items():
                    runs[name].append(_time(src, list(cmd), envs[name]))
            a, b = (statistics.median(w for w, _ in runs[n]) for n in ("this", "peer"))
            ca, cb = (statistics.median(c for _, c in runs[n]) for n in ("this", "peer"))
            print(f"{' '.join(cmd):32} {a:14.3f} {b:14.3f} {a / b:10.2f} {ca:11.3f} {cb:11.3f} {ca / cb:10.2f}")


if __name__ == "__main__":
    main()
