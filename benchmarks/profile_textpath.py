"""Where the server CPU of one JSON text item goes over HTTP: py-spy samples of ``seawall serve`` under wrk.

Why: a text item costs Seawall milliseconds of CPU where the naive peer spends a fraction of one. Before
cutting, see which stage takes what: the middleware stack, the API-key gate, JSON parsing, each text
signal, matching, the rules, the store writes, the act stage (actions, audit, webhooks) and metrics.

The server runs exactly as ``benchmarks/bench_api.py`` starts it (``seawall serve``, SQLite in a fresh
data dir, one worker process so every sample belongs to it); wrk sends the same JSON text items. py-spy
(``--py-spy PATH``, not a project dependency) samples every thread on CPU; a stage's share of the samples
times the server CPU seconds per item gives its milliseconds per item (inclusive: a stage's figure contains
what it calls).

    PYTHONPATH=src .venv/bin/python benchmarks/profile_textpath.py --py-spy /path/to/py-spy [--seconds 15]
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_api import lua_text
from common import (
    Server,
    cpu_seconds,
    create_admin_key,
    free_port,
    machine_summary,
    run_wrk,
    seawall_env,
    seawall_exe,
    wrk_exe,
)

#: (stage, substrings any of which marks a frame "function (file:line)" as that stage)
STAGES: list[tuple[str, tuple[str, ...]]] = [
    ("request in the app (all of Starlette/FastAPI)", ("__call__ (starlette/applications.py",)),
    ("middleware: security headers", ("seawall/api/headers.py",)),
    ("middleware: address rate limit", ("seawall/api/ratelimit.py",)),
    ("middleware: slow-client body timeout", ("seawall/api/slowclients.py",)),
    ("middleware: NUL guard", ("seawall/api/edge.py",)),
    ("middleware: body limit", ("seawall/api/limits.py",)),
    ("route dispatch + dependency solving (fastapi)", ("solve_dependencies (fastapi/",)),
    ("auth / key gate (principal_from)", ("principal_from (seawall/api/auth.py",)),
    ("submit_item (route body)", ("submit_item (seawall/api/routes/items.py",)),
    ("JSON parse + validate (_text_item)", ("_text_item (seawall/api/routes/items.py",)),
    ("engine.submit (thread)", ("submit (seawall/engine.py",)),
    ("checks (ids, context)", ("_check_id (seawall/ingest.py", "_check_context (seawall/ingest.py")),
    ("signals: all (compute_signals)", ("compute_signals (seawall/ingest.py",)),
    ("signals: text normalization", ("seawall/normalize/text.py",)),
    ("signals: URL signals", ("seawall/normalize/urls.py",)),
    ("language detection", ("language (seawall/media/content.py", "seawall/media/language.py")),
    ("matching (Matcher.match)", ("match (seawall/matching.py",)),
    ("decide: facts (facts_for)", ("facts_for (seawall/verdicts.py",)),
    ("decide: rules evaluate", ("seawall/rules/evaluate.py",)),
    ("decide: all (ItemDecider/decide)", ("__call__ (seawall/verdicts.py", "decide (seawall/verdicts.py")),
    ("store: group commit (all writes)", ("run (seawall/store/group_commit.py",)),
    ("store: item insert (_write closure)", ("write (seawall/ingest.py",)),
    ("store: commit", ("commit (sqlalchemy/orm/session.py",)),
    ("act: after_write (actions, audit, webhooks)", ("after_write", "seawall/actions/runner.py")),
    ("webhooks outbox", ("seawall/webhooks/",)),
    ("upload watch (accounts)", ("note (seawall/accounts/watch.py",)),
    ("metrics (observe_item)", ("observe_item (seawall/api/metrics.py",)),
    ("response (to_dict + JSONResponse)", ("to_dict (seawall/domain/models.py", "render (starlette/responses.py")),
    ("threadpool hand-off (anyio)", ("anyio/_backends/_asyncio.py",)),
    ("uvicorn HTTP protocol", ("uvicorn/protocols/http/",)),
    ("SQLAlchemy (anywhere)", ("sqlalchemy/",)),
    ("sqlite3 execute (anywhere)", ("execute (sqlalchemy/engine/default.py",)),
    ("pydantic (anywhere)", ("pydantic",)),
    ("logging (anywhere)", ("logging/__init__.py",)),
]


#: Leaf frames of a thread that is waiting, not computing: py-spy cannot always tell (a wait with a timeout, the
#: event loop inside uvloop's C code), so their samples are left out.
IDLE_LEAVES = ("Condition.wait (threading.py", "Runner.run (asyncio/runners.py", "Event.wait (threading.py",
               "select (selectors.py", "Thread.join (threading.py", "Queue.get (queue.py", "_worker (concurrent/",
               "wait (threading.py")


def _stacks(path: Path) -> list[tuple[list[str], int]]:
    """(frames root first, samples) per distinct stack, idle stacks left out."""
    out: list[tuple[list[str], int]] = []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        if not frames or any(frames[-1].startswith(m) or m in frames[-1] for m in IDLE_LEAVES):
            continue
        out.append((frames, int(count_s)))
    return out


def threads(path: Path) -> collections.Counter[str]:
    """Samples per thread kind: the frame that a thread's run() calls (or the main thread's event loop)."""
    out = collections.Counter[str]()
    for frames, count in _stacks(path):
        names = [short(f).split(" (")[0] for f in frames]
        if "Thread.run" in names:
            i = names.index("Thread.run")
            kind = names[i + 1] if i + 1 < len(names) else "Thread.run"
        elif "WorkerThread.run" in names:
            kind = "anyio worker thread (request work off the event loop)"
        else:
            kind = "main thread (event loop)" if "Runner.run" in names else names[0]
        out[kind] += count
    return out


def parse_raw(path: Path) -> tuple[collections.Counter[str], collections.Counter[str], int]:
    """Inclusive samples per frame, self samples per frame, and all samples, from py-spy's raw format."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for frames, count in _stacks(path):
        total += count
        for f in set(frames):
            inclusive[f] += count
        if frames:
            own[frames[-1]] += count
    return inclusive, own, total


def stage_samples(inclusive_stacks: Path) -> dict[str, int]:
    """Samples whose stack holds a frame of each stage (a stack counts once per stage)."""
    out = collections.Counter[str]()
    for frames, count in _stacks(inclusive_stacks):
        stack = ";".join(frames)
        for name, marks in STAGES:
            if any(m in stack for m in marks):
                out[name] += count
    return dict(out)


def short(frame: str) -> str:
    for cut in ("site-packages/", "/src/", "/lib/python3.11/"):
        if cut in frame:
            head, _, tail = frame.partition("(")
            return f"{head}({tail.split(cut, 1)[1]}" if cut in tail else frame
    return frame


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--py-spy", required=True, help="the py-spy executable")
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--gil", action="store_true",
                    help="sample only the thread holding the GIL (Python CPU; C work with the GIL released, such as "
                         "SQLite's own statement execution, is then not seen)")
    ap.add_argument("--keep-raw", type=Path, help="copy py-spy's raw stacks here")
    args = ap.parse_args()
    wrk_exe()
    print(f"# Text-item CPU profile\n\n{machine_summary()}; `seawall serve --workers 1` (SQLite), wrk -c"
          f"{args.connections} for {args.seconds:.0f} s on the same machine, py-spy at {args.rate} Hz.\n")
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        data_dir = tmp / "data"
        env = seawall_env(data_dir)
        key = create_admin_key(env)
        port = free_port()
        server = Server([seawall_exe(), "serve", "--workers", "1"], seawall_env(data_dir, port=port),
                        port, tmp / "server.log", ready_path="/readyz")
        with server:
            lua = lua_text(key, "/v1/items")
            run_wrk(server.base, lua, connections=args.connections, seconds=3, workdir=tmp)  # warm
            idle0 = cpu_seconds(server.pid)
            time.sleep(5.0)
            idle_cpu_s = (cpu_seconds(server.pid) - idle0) / 5.0  # background threads, no requests
            raw = tmp / "profile.txt"
            spy = subprocess.Popen([args.py_spy, "record", "--pid", str(server.pid), "--subprocesses", "--format",
                                    "raw", "--rate", str(args.rate), "--duration", str(int(args.seconds) + 2),
                                    "--nonblocking", "-o", str(raw), *(["--gil"] if args.gil else [])],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(1.0)
            cpu0 = cpu_seconds(server.pid)
            res = run_wrk(server.base, lua, connections=args.connections, seconds=args.seconds, workdir=tmp)
            cpu = cpu_seconds(server.pid) - cpu0
            _, err = spy.communicate(timeout=120)
            if not raw.exists():
                raise SystemExit(f"py-spy wrote nothing: {err.decode(errors='replace')[-2000:]}")
            if args.keep_raw:
                shutil.copyfile(raw, args.keep_raw)
        ms_item = 1000 * cpu / max(1, res.requests)
        print(f"{res.requests:,} text items in {res.seconds:.1f} s ({res.rps:,.0f}/s, p50 {res.p50_ms:.1f} ms, "
              f"p99 {res.p99_ms:.1f} ms, errors {res.errors}); server CPU {cpu:.1f} s = "
              f"**{ms_item:.2f} ms per item**. Sampling: {'GIL holder only' if args.gil else 'all threads on CPU'}.\n")
        print(f"Idle server (no requests, 5 s): {1000 * idle_cpu_s:.0f} ms CPU per second; at this run's rate "
              f"that is {1000 * idle_cpu_s / max(res.rps, 1e-9):.2f} ms of the per-item figure.\n")
        inclusive, own, total = parse_raw(raw)
        per = ms_item / max(1, total)
        stages = stage_samples(raw)
        print(f"py-spy samples on CPU (waiting threads left out): {total:,}; ms per item = share of samples × "
              f"{ms_item:.2f} ms.\n")
        print("## Threads\n\n| thread | share | ms per item |\n|---|---|---|")
        for kind, n in threads(raw).most_common(12):
            print(f"| {kind} | {100 * n / total:.1f}% | {n * per:.3f} |")
        print()
        print("## Stages (inclusive)\n\n| stage | share | ms per item |\n|---|---|---|")
        for name, _ in STAGES:
            n = stages.get(name, 0)
            print(f"| {name} | {100 * n / max(1, total):.1f}% | {n * per:.3f} |")
        print(f"\n## Top {args.top} functions by inclusive samples\n")
        print("| function | share | ms per item |\n|---|---|---|")
        for frame, n in inclusive.most_common(args.top):
            print(f"| `{short(frame)}` | {100 * n / total:.1f}% | {n * per:.3f} |")
        print(f"\n## Top {args.top} functions by own samples\n\n| function | share | ms per item |\n|---|---|---|")
        for frame, n in own.most_common(args.top):
            print(f"| `{short(frame)}` | {100 * n / total:.1f}% | {n * per:.3f} |")


if __name__ == "__main__":
    main()
