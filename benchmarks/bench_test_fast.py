"""What ``make test-fast`` costs, in CPU seconds: the figure a shared or small machine can compare.

Wall time on a machine shared with other work says more about the neighbours than about the suite, so
the figure here is the CPU time (user + system) of pytest and every process it waited for: both
xdist workers and the servers and commands tests start. Give ``--tree`` more than once (say a plain
export of main and this checkout) to measure them one after the other in the same run; ``--only``
narrows to a subset of test files when the whole loop is more than the machine can spare;
``--cpu-top N`` lists the N costliest tests by CPU seconds and the CPU seconds of each test file
(``benchmarks/cpu_durations.py``), which ``--durations`` cannot give on a busy machine.

    python benchmarks/record.py test-fast -- python benchmarks/bench_test_fast.py --tree . --tree /tmp/main
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cpu_durations

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
#: What ``make test-fast`` runs, with the test cache off so runs leave nothing behind; ``measure`` sets
#: ``HYPOTHESIS_PROFILE=fast`` as the Makefile does, unless the environment names another profile.
FAST = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2", "-m", "not slow and not e2e and not postgres"]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(tree: Path, only: list[str], durations: int, cpu_top: int,
            no_bytecode_cache: bool = False) -> tuple[float, float, int, str]:
    """CPU and wall seconds of one fast-loop run of ``tree``'s tests against ``tree``'s code."""
    env = {"HYPOTHESIS_PROFILE": "fast", **os.environ, "PYTHONPATH": str(tree / "src")}
    # as make test-fast does: bytecode caches on, unless --no-bytecode-cache measures a run without them
    env["PYTHONDONTWRITEBYTECODE"] = "1" if no_bytecode_cache else ""
    cmd = [sys.executable, *FAST, f"--durations={durations}", *only]
    phases = Path(tempfile.mkstemp(prefix="cpu-durations-", suffix=".tsv")[1])
    if cpu_top:
        # benchmarks/cpu_durations.py: CPU seconds per test phase, each worker appending to one file
        env["PYTHONPATH"] += os.pathsep + str(HERE)
        env[cpu_durations.OUTPUT_ENV] = str(phases)
        cmd += ["-p", "cpu_durations"]
    before_cpu, started = children_cpu(), time.monotonic()
    proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)
    wall = time.monotonic() - started
    cpu = children_cpu() - before_cpu
    lines = proc.stdout.splitlines()
    summary = next((x for x in reversed(lines) if " in " in x and ("passed" in x or "failed" in x)), "no summary")
    slowest = [x for x in lines if x[:1].isdigit() and "s " in x[:10]]
    failed = [x for x in lines if x.startswith(("FAILED ", "ERROR "))]
    report = "\n".join([f"  slowest {len(slowest)}:", *(f"    {x}" for x in slowest), *(f"  {x}" for x in failed),
                         f"  pytest: {summary}"])
    if cpu_top:
        report += "\n" + cpu_report(phases, cpu_top)
    phases.unlink(missing_ok=True)
    return cpu, wall, proc.returncode, report


def cpu_report(phases: Path, top: int) -> str:
    """The costliest tests by CPU seconds (set-up + call + tear-down), what each worker spent before
    its first test, and the CPU per test file: the figures to act on when wall time is noise."""
    per_test: dict[str, float] = {}
    per_file: dict[str, float] = {}
    lines: list[str] = []
    for row in phases.read_text(encoding="utf-8").splitlines():
        seconds, phase, name = row.split("\t", 2)
        if phase in ("startup", "total"):
            lines.append(f"    worker {name} {phase}: {float(seconds):.1f} CPU s")
            continue
        per_test[name] = per_test.get(name, 0.0) + float(seconds)
        file = name.split("::", 1)[0]
        per_file[file] = per_file.get(file, 0.0) + float(seconds)
    ranked = sorted(per_test.items(), key=lambda kv: -kv[1])
    files = sorted(per_file.items(), key=lambda kv: -kv[1])
    return "\n".join([
        f"  CPU seconds in tests: {sum(per_test.values()):.1f} over {len(per_test)} tests",
        *lines,
        f"  costliest {min(top, len(ranked))} tests by CPU seconds (set-up + call + tear-down):",
        *(f"    {s:6.2f}  {name}" for name, s in ranked[:top]),
        "  CPU seconds per test file:",
        *(f"    {s:6.2f}  {name}" for name, s in files),
    ])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tree", action="append", type=Path, help="a Seawall checkout to measure (default: this one)")
    ap.add_argument("--only", nargs="*", default=[], help="test files or node ids instead of the whole fast loop")
    ap.add_argument("--durations", type=int, default=25)
    ap.add_argument("--no-bytecode-cache", action="store_true",
                    help="run with PYTHONDONTWRITEBYTECODE=1 (every process compiles its sources afresh)")
    ap.add_argument("--cpu-top", type=int, default=0,
                    help="also list this many costliest tests by CPU seconds, and CPU seconds per file")
    args = ap.parse_args()
    trees = [t.resolve() for t in (args.tree or [REPO])]
    results: list[tuple[Path, float, float, int]] = []
    for tree in trees:
        cpu, wall, status, report = measure(tree, args.only, args.durations, args.cpu_top, args.no_bytecode_cache)
        results.append((tree, cpu, wall, status))
        print(f"{tree}: {cpu:.1f} CPU s, {wall:.1f} wall s, exit {status}\n{report}", flush=True)
    print("\nCPU seconds (user + system, pytest and every process it waited for):")
    for tree, cpu, wall, status in results:
        print(f"  {cpu:8.1f}  wall {wall:7.1f} s  exit {status}  {tree}")
    if len(results) > 1 and results[-1][1] > 0:
        print(f"  first / last: {results[0][1] / results[-1][1]:.2f}x")
    sys.exit(max(status for *_, status in results))


if __name__ == "__main__":
    main()
