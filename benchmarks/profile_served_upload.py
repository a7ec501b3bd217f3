"""Where the server CPU of one multipart image upload goes over HTTP: py-spy samples of ``seawall serve``
under wrk, split by stage.

Why: a 1 MP JPEG upload costs about 7.5 ms in the engine (decode, PDQ, the write) and several more in the
served process (HTTP parsing, multipart parsing of a 1 MB body, the middlewares, routing, the thread-pool
hop). Before cutting, see which stage takes what. The server runs as ``benchmarks/profile_textpath.py``
starts it (``seawall serve --workers 1``, SQLite in a fresh data dir); wrk sends the generated uploads of
``bench_targets13.py --only b``. Only the request process is sampled (not the stage-2 processes).

    PYTHONPATH=src .venv/bin/python benchmarks/profile_served_upload.py --py-spy .venv/bin/py-spy [--seconds 15]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_api import lua_upload, upload_bodies
from common import (
    Server,
    create_admin_key,
    free_port,
    machine_summary,
    run_wrk,
    seawall_env,
    seawall_exe,
    wrk_exe,
)
from profile_textpath import parse_raw, short, threads

#: (stage, substrings any of which marks a frame "function (file:line)" as that stage)
STAGES: list[tuple[str, tuple[str, ...]]] = [
    ("uvicorn HTTP protocol (parsing, receive queue)", ("uvicorn/protocols/http/",)),
    ("request in the app (all of Starlette/FastAPI)", ("__call__ (starlette/applications.py",)),
    ("image fast path (all of it)", ("seawall/api/imagepath.py",)),
    ("middleware: security headers", ("seawall/api/headers.py",)),
    ("middleware: address rate limit", ("seawall/api/ratelimit.py",)),
    ("middleware: slow-client body timeout", ("seawall/api/slowclients.py",)),
    ("middleware: NUL guard", ("seawall/api/edge.py",)),
    ("middleware: body limit", ("seawall/api/limits.py",)),
    ("route dispatch + dependency solving (fastapi)", ("solve_dependencies (fastapi/",)),
    ("auth / key gate (principal_from)", ("principal_from (seawall/api/auth.py",)),
    ("submit_item (route body)", ("submit_item (seawall/api/routes/items.py",)),
    ("request.body / stream (starlette)", ("body (starlette/requests.py", "stream (starlette/requests.py")),
    ("multipart parsing (starlette + python-multipart)", ("starlette/formparsers.py", "multipart/multipart.py",
                                                          "python_multipart/")),
    ("sniffing the content type", ("_content_type_for (seawall/api/routes/items.py",)),
    ("engine.submit (thread)", ("submit (seawall/engine.py",)),
    ("image decode (PIL)", ("PIL/",)),
    ("signals: all (compute_signals)", ("compute_signals (seawall/ingest.py",)),
    ("matching (Matcher.match)", ("match (seawall/matching.py",)),
    ("decide: all (ItemDecider/decide)", ("__call__ (seawall/verdicts.py", "decide (seawall/verdicts.py")),
    ("store: group commit (all writes)", ("run (seawall/store/group_commit.py",)),
    ("stage-2 hand-off", ("seawall/stage2/", "spool")),
    ("metrics (observe_item)", ("observe_item (seawall/api/metrics.py",)),
    ("response (to_dict + JSON)", ("to_dict (seawall/", "render (starlette/responses.py", "json_body (seawall/")),
    ("threadpool hand-off (anyio)", ("anyio/_backends/_asyncio.py",)),
    ("SQLAlchemy (anywhere)", ("sqlalchemy/",)),
    ("logging (anywhere)", ("logging/__init__.py",)),
]


def stage_samples(raw: Path) -> dict[str, int]:
    """Samples whose stack holds a frame of each stage (a stack counts once per stage)."""
    from profile_textpath import _stacks

    out: dict[str, int] = {}
    for frames, count in _stacks(raw):
        stack = ";".join(frames)
        for name, marks in STAGES:
            if any(m in stack for m in marks):
                out[name] = out.get(name, 0) + count
    return out


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of one process (not its children)."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:13]) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--py-spy", required=True, help="the py-spy executable")
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--native", action="store_true", help="py-spy --native (C frames too)")
    ap.add_argument("--gil", action="store_true", help="py-spy --gil: only the thread holding the GIL (Python CPU)")
    ap.add_argument("--keep-raw", type=Path, help="copy py-spy's raw stacks here")
    args = ap.parse_args()
    wrk_exe()
    print(f"# Served image-upload CPU profile\n\n{machine_summary()}; `seawall serve --workers 1` (SQLite), wrk -c"
          f"{args.connections} for {args.seconds:.0f} s on the same machine, py-spy at {args.rate} Hz on the "
          "request process.\n")
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        data_dir = tmp / "data"
        env = seawall_env(data_dir)
        key = create_admin_key(env)
        _, paths, ctype = upload_bodies(tmp, 8, 8, args.seed)
        port = free_port()
        server = Server([seawall_exe(), "serve", "--workers", "1"], seawall_env(data_dir, port=port),
                        port, tmp / "server.log", ready_path="/readyz")
        with server:
            lua = lua_upload(key, paths, [ctype] * len(paths))
            run_wrk(server.base, lua, connections=args.connections, seconds=3, workdir=tmp)  # warm
            raw = tmp / "profile.txt"
            spy = subprocess.Popen([args.py_spy, "record", "--pid", str(server.pid), "--format", "raw",
                                    "--rate", str(args.rate), "--duration", str(int(args.seconds) + 2),
                                    "-o", str(raw), *(["--native"] if args.native else ["--nonblocking"]),
                                    *(["--gil"] if args.gil else [])],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(1.0)
            cpu0 = process_cpu(server.pid)
            res = run_wrk(server.base, lua, connections=args.connections, seconds=args.seconds, workdir=tmp)
            cpu = process_cpu(server.pid) - cpu0
            _, err = spy.communicate(timeout=120)
            if not raw.exists():
                raise SystemExit(f"py-spy wrote nothing: {err.decode(errors='replace')[-2000:]}")
            if args.keep_raw:
                args.keep_raw.write_bytes(raw.read_bytes())
        ms_item = 1000 * cpu / max(1, res.requests)
        print(f"{res.requests:,} uploads in {res.seconds:.1f} s ({res.rps:,.0f}/s, p50 {res.p50_ms:.1f} ms, "
              f"p99 {res.p99_ms:.1f} ms, errors {res.errors}); request-process CPU {cpu:.1f} s = "
              f"**{ms_item:.2f} ms per upload**.\n")
        inclusive, own, total = parse_raw(raw)
        per = ms_item / max(1, total)
        stages = stage_samples(raw)
        print(f"py-spy samples on CPU: {total:,}; ms per upload = share of samples × {ms_item:.2f} ms.\n")
        print("## Threads\n\n| thread | share | ms per upload |\n|---|---|---|")
        for kind, n in threads(raw).most_common(12):
            print(f"| {kind} | {100 * n / total:.1f}% | {n * per:.3f} |")
        print("\n## Stages (inclusive)\n\n| stage | share | ms per upload |\n|---|---|---|")
        for name, _ in STAGES:
            n = stages.get(name, 0)
            print(f"| {name} | {100 * n / max(1, total):.1f}% | {n * per:.3f} |")
        print(f"\n## Top {args.top} functions by inclusive samples\n")
        print("| function | share | ms per upload |\n|---|---|---|")
        for frame, n in inclusive.most_common(args.top):
            print(f"| `{short(frame)}` | {100 * n / total:.1f}% | {n * per:.3f} |")
        print(f"\n## Top {args.top} functions by own samples\n\n| function | share | ms per upload |\n|---|---|---|")
        for frame, n in own.most_common(args.top):
            print(f"| `{short(frame)}` | {100 * n / total:.1f}% | {n * per:.3f} |")


if __name__ == "__main__":
    main()
