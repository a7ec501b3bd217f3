"""Start-up time of light CLI commands (``--help``, ``bank list``, ``apikey create``), two source trees side by side.

Why: operators script these commands, and every one used to build the whole engine (indexes, numba,
media decoders) first. The peer is another checkout of Seawall (e.g. ``main``) run in the same loop,
interleaved command by command, so machine load hits both alike; the ratio is what to read.

    .venv/bin/python benchmarks/bench_cli_start.py --peer /path/to/other/src [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = (["--help"], ["bank", "list"], ["apikey", "create", "--role", "submitter"])


def _time(src: str, args: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "seawall", *args], env={**env, "PYTHONPATH": src}, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


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
        print(f"{'command':28} {'this median s':>14} {'peer median s':>14} {'this/peer':>10}")
        for cmd in COMMANDS:
            runs: dict[str, list[float]] = {"this": [], "peer": []}
            for _ in range(args.runs):
                for name, src in trees.items():
                    runs[name].append(_time(src, list(cmd), envs[name]))
            a, b = statistics.median(runs["this"]), statistics.median(runs["peer"])
            print(f"{' '.join(cmd):28} {a:14.3f} {b:14.3f} {a / b:10.2f}")


if __name__ == "__main__":
    main()
