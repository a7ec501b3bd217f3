"""Run one benchmark command and keep its output as a dated result file.

The performance figures in the docs must each be backed by a file under `benchmarks/results/` that says
exactly how it was produced: the command, the git commit (and whether the tree had local changes), the
machine's core count and its load average before and after. A figure measured on a busy machine is
still useful as a ratio against the peer measured in the same run, but only if the load is on record.

Usage::

    python benchmarks/record.py NAME -- python benchmarks/bench_index.py --sizes 1000000

writes `benchmarks/results/<YYYY-MM-DD>-NAME.txt` (a run on the same day with the same name is
appended as a further run) and exits with the command's own exit status.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import subprocess
import sys
from pathlib import Path

from common import machine_summary

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parent.parent


def git_state() -> str:
    """The commit the run measured, marked when the work tree differs from it."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{sha} (with local changes)" if dirty else sha


def load_average() -> str:
    """The 1/5/15-minute load averages, the honest context for every timing in the file."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name", help="short name of the run, e.g. index-1m")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- followed by the command to run")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    if not all(ch.isalnum() or ch in "-_." for ch in args.name):
        parser.error("the name may hold letters, digits, '-', '_' and '.' only")

    started = dt.datetime.now(dt.UTC)
    header = [
        f"# command: {shlex.join(command)}",
        f"# git: {git_state()}",
        f"# started: {started.isoformat(timespec='seconds')}",
        f"# machine: {machine_summary()}; load average before: {load_average()}",
    ]
    print("\n".join(header), flush=True)
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:
        sys.stdout.write(line)
        lines.append(line.rstrip("\n"))
    status = proc.wait()
    finished = dt.datetime.now(dt.UTC)
    footer = [
        f"# finished: {finished.isoformat(timespec='seconds')} "
        f"({(finished - started).total_seconds():.0f} s); load average after: {load_average()}; exit {status}",
    ]
    print(footer[0])

    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{started.date().isoformat()}-{args.name}.txt"
    with path.open("a", encoding="utf-8") as out:
        if path.stat().st_size:
            out.write("\n## Another run\n")
        out.write("\n".join(header + lines + footer) + "\n")
    print(f"# written to {path.relative_to(REPO)}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
