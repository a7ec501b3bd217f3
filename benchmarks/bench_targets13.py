"""Issue 13's targets, each measured by one run of this script, with a peer in the same run.

Why: the issue's performance targets were written down but never measured with a dated result file.
This driver runs each of them end to end against real ``seawall serve`` processes and prints one
summary table (target, measured, peer) so the whole set can be re-run on a quiet machine in one go::

    PYTHONPATH=src .venv/bin/python benchmarks/record.py t13-all -- \\
        .venv/bin/python benchmarks/bench_targets13.py [--only a,b,c,d,e] [sizes…]

Parts (``--only`` takes any comma-separated subset):

a. upload→verdict of a 1 MP JPEG with caption text, OCR on (stage 2, off the request path), offered
   ``--upload-rate`` uploads/s open loop (``loadgen.py``), against the same run with OCR off; stage-2
   OCR throughput and backlog from the server's ``/healthz`` beside it.
b. saturation of ``seawall serve --workers 2`` (closed loop, wrk): image uploads/s and text items/s,
   against the naive peer of ``bench_api.py``.
c. ``GET /v1/lookup`` against a ``--lookup-entries`` PDQ bank at concurrency 8 with ``--workers 2`` and
   ``--workers 1``; threads per server process counted from ``/proc/<pid>/task`` during the run. The
   bank is built once by ``seawall bank import`` under ``--bank-root`` and reused by later runs.
d. ``seawall bank import`` on PostgreSQL (``--import-lines``) against the row-by-row peer of
   ``bench_import.py`` on a sample.
e. first upload after start through HTTP within 2× the median of the next ``--first-n``.

Inputs are generated (noise images with drawn captions, random hashes); servers bind 127.0.0.1 on
free ports and are stopped with their process groups.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    Http,
    Server,
    baseline_server,
    cpu_seconds,
    create_admin_key,
    encode_jpeg,
    flip_bits,
    free_port,
    hashes_hex,
    machine_summary,
    markdown_table,
    multipart,
    postgres_database,
    random_hashes,
    rss_mb,
    run_cli,
    run_wrk,
    seawall_env,
    seawall_exe,
    synthetic_image,
    tempdir,
    write_hash_file,
)

SUMMARY_HEAD = ["target", "goal", "measured", "peer (same run)", "met"]


@dataclass(slots=True)
class Summary:
    """Rows of the final table, filled by each part as it finishes."""

    rows: list[list[object]] = field(default_factory=list)

    def add(self, target: str, goal: str, measured: str, peer: str, met: bool | None) -> None:
        self.rows.append([target, goal, measured, peer, "—" if met is None else ("yes" if met else "NO")])


def say(*lines: str) -> None:
    for line in lines:
        print(line, flush=True)


def progress(text: str) -> None:
    """A line on stderr so a long run can be followed; not part of the result."""
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------------
# Servers and process facts
# --------------------------------------------------------------------------------------------------

def serve(data_dir: Path, log: Path, workers: int, extra_env: dict[str, str] | None = None,
          database_url: str | None = None) -> Server:
    """``seawall serve --workers N`` as an operator starts it; ready once ``/readyz`` says so."""
    port = free_port()
    env = seawall_env(data_dir, port=port, database_url=database_url)
    env.update(extra_env or {})
    return Server([seawall_exe(), "serve", "--workers", str(workers)], env, port, log, ready_path="/readyz")


def group_pids(leader: int) -> list[int]:
    """Every process in the server's process group (the supervisor and its worker processes)."""
    pids: list[int] = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[2]) == leader:
                pids.append(int(stat.parent.name))
    return sorted(pids)


def thread_count(pid: int) -> int:
    with contextlib.suppress(OSError):
        return len(os.listdir(f"/proc/{pid}/task"))
    return 0


def describe(pid: int) -> str:
    with contextlib.suppress(OSError):
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        text = " ".join(c.decode(errors="replace") for c in cmd if c)
        return text if len(text) < 90 else text[:87] + "…"
    return "?"


class Sampler:
    """Polls something once per ``every`` seconds on a thread while a load runs."""

    def __init__(self, fn: Any, every: float = 1.0) -> None:
        self.fn = fn
        self.every = every
        self.samples: list[Any] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(Exception):
                self.samples.append(self.fn())
            self._stop.wait(self.every)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def thread_sampler(leader: int) -> Sampler:
    return Sampler(lambda: {pid: thread_count(pid) for pid in group_pids(leader)}, every=1.0)


def thread_report(samples: list[dict[int, int]]) -> str:
    """Max threads seen per server process during the run, with what each process is."""
    most: dict[int, int] = {}
    for s in samples:
        for pid, n in s.items():
            most[pid] = max(most.get(pid, 0), n)
    return "; ".join(f"pid {pid} ({describe(pid)}): {n} threads" for pid, n in sorted(most.items()))


# --------------------------------------------------------------------------------------------------
# (c) the big bank, built once
# --------------------------------------------------------------------------------------------------

def bank_paths(root: Path, entries: int) -> tuple[Path, Path, Path]:
    base = root / f"seawall-t13-lookup-{entries}"
    return base / "data", base / "bank.txt", base / "built.json"


def build_bank(root: Path, entries: int, seed: int, rebuild: bool) -> dict[str, Any]:
    """A SQLite store holding ``entries`` random PDQ hashes in bank ``lookups``, imported by
    ``seawall bank import``; reused when a previous run finished building it."""
    data_dir, hash_file, marker = bank_paths(root, entries)
    if marker.exists() and not rebuild:
        info = dict(json.loads(marker.read_text()))
        info["reused"] = True
        return info
    import shutil

    shutil.rmtree(data_dir.parent, ignore_errors=True)
    data_dir.mkdir(parents=True)
    t0 = time.perf_counter()
    with hash_file.open("w", encoding="ascii") as fh:
        for start in range(0, entries, 1_000_000):
            rows = random_hashes(min(1_000_000, entries - start), seed + start)
            fh.write("".join(f"pdq {h}\n" for h in hashes_hex(rows)))
    gen_s = time.perf_counter() - t0
    env = seawall_env(data_dir)
    run_cli(["bank", "create", "lookups", "--description", "benchmark bank"], env)
    t0 = time.perf_counter()
    out = run_cli(["bank", "import", "lookups", str(hash_file), "--source", "bench"], env, timeout=6 * 3600)
    took = time.perf_counter() - t0
    info = {"entries": entries, "seed": seed, "generate_s": round(gen_s, 1), "import_s": round(took, 1),
            "import_lines_per_s": round(entries / took), "cli": out.stdout.strip().splitlines()[-1:],
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    marker.write_text(json.dumps(info))
    info["reused"] = False
    return info


def bank_sample(entries: int, seed: int, picks: int) -> np.ndarray:
    """``picks`` hashes of the bank (regenerated from the seeds the build used)."""
    rng = np.random.default_rng(seed + 7)
    chunk = int(rng.integers(0, (entries + 999_999) // 1_000_000))
    start = chunk * 1_000_000
    rows = random_hashes(min(1_000_000, entries - start), seed + start)
    return rows[rng.choice(len(rows), min(picks, len(rows)), replace=False)]


# --------------------------------------------------------------------------------------------------
# (a) open-loop uploads with OCR on and off
# --------------------------------------------------------------------------------------------------

CAPTIONS = ("WEEKEND MARKET AT THE HARBOUR", "FERRY TIMES CHANGE ON SUNDAY", "BRING YOUR OWN BAGS PLEASE")


def captioned_jpeg(seed: int) -> bytes:
    """A 1024×1024 photo-like JPEG (q80) with three lines of caption text on a light band, the kind
    of image OCR is there to read."""
    img = Image.fromarray(synthetic_image(seed, 1024, 1024), "RGB")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=44)
    draw.rectangle((0, 820, 1024, 1024), fill=(245, 245, 240))
    for k, line in enumerate(CAPTIONS):
        draw.text((40, 835 + 60 * k), f"{line} {seed % 100}", fill=(10, 10, 10), font=font)
    return encode_jpeg(np.asarray(img), 80)


def stage2_backlog(port: int) -> int:
    """Uploads whose stage 2 has not finished, as the server's ``/healthz`` reports them."""
    http = Http(port)
    try:
        status, data = http.request("GET", "/healthz")
    finally:
        http.close()
    queue = json.loads(data).get("queue", {}) if status in (200, 503) else {}
    return int(queue.get("stage2_backlog") or 0)


def wait_backlog(port: int, limit_s: float) -> tuple[float, list[tuple[float, int]]]:
    """Poll the backlog until it is empty (or ``limit_s`` passed); returns (seconds, samples)."""
    t0 = time.perf_counter()
    samples: list[tuple[float, int]] = []
    while True:
        n = stage2_backlog(port)
        samples.append((time.perf_counter() - t0, n))
        if n == 0 or time.perf_counter() - t0 > limit_s:
            return time.perf_counter() - t0, samples
        time.sleep(0.5)


def part_a(args: argparse.Namespace, tmp: Path, summary: Summary) -> None:
    from loadgen import http_request, open_loop

    say("## (a) Upload→verdict, 1 MP JPEG with caption text, open loop\n")
    hash_file = tmp / "a-bank.txt"
    write_hash_file(hash_file, random_hashes(args.upload_bank, args.seed + 1))
    keys: dict[str, str] = {}
    data_dirs: dict[str, Path] = {}
    for mode in ("ocr-on", "ocr-off"):  # one store each: OCR-on items still in stage 2 never reach the other
        data_dirs[mode] = tmp / f"a-data-{mode}"
        env = seawall_env(data_dirs[mode])
        keys[mode] = create_admin_key(env)
        run_cli(["bank", "create", "uploads", "--description", "benchmark bank"], env)
        run_cli(["bank", "import", "uploads", str(hash_file), "--source", "bench"], env, timeout=1800)
    parts = [multipart({"content_id": f"cap-{k}", "account_id": f"acct-{k % 5}"}, "file", f"cap-{k}.jpg",
                       captioned_jpeg(args.seed + 100 + k)) for k in range(args.upload_images)]
    bodies = {mode: [http_request("POST", "/v1/items", body=body,
                                  headers={"Authorization": f"Bearer {key}", "Content-Type": ctype})
                     for body, ctype in parts] for mode, key in keys.items()}
    size_kib = len(parts[0][0]) // 1024
    say(f"Bank: {args.upload_bank:,} random PDQ hashes. Bodies: {len(parts)} distinct 1024×1024 JPEGs (q80, "
        f"~{size_kib} KiB) with three caption lines each, cycled. Offered {args.upload_rate:g} uploads/s for "
        f"{args.upload_seconds:g} s per run (open loop, latency from each request's due time), "
        f"`seawall serve --workers {args.workers}`.")
    results: dict[str, Any] = {}
    for mode in ("ocr-on", "ocr-off") * args.upload_repeats:
        progress(f"(a) {mode}: starting the server")
        extra = {"SEAWALL_OCR_ENABLED": "true" if mode == "ocr-on" else "false"}
        server = serve(data_dirs[mode], tmp / f"a-{mode}.log", args.workers, extra)
        with server:
            http = Http(server.port, keys[mode])
            try:  # first uploads of each process are not the steady state being measured
                for k in range(6):
                    body, ctype = parts[k % len(parts)]
                    status, data = http.request("POST", "/v1/items", body, ctype)
                    if status != 200:
                        raise RuntimeError(f"warm-up upload: HTTP {status}: {data[:300]!r}")
                    item = json.loads(data)
            finally:
                http.close()
            check = (f"verdict {item.get('verdict')}, final {item.get('final')}, pending {item.get('pending')}")
            drained, _ = wait_backlog(server.port, args.drain_limit)
            progress(f"(a) {mode}: open-loop run")
            cpu0 = cpu_seconds(server.pid)
            before = stage2_backlog(server.port)  # the warm-up's, when the drain limit passed first
            with Sampler(lambda port=server.port: stage2_backlog(port), every=1.0) as backlog:
                res = open_loop("127.0.0.1", server.port, rate=args.upload_rate, seconds=args.upload_seconds,
                                requests=bodies[mode])
            cpu = cpu_seconds(server.pid) - cpu0
            at_end = stage2_backlog(server.port)
            drain_s, _ = wait_backlog(server.port, args.drain_limit)
            left = stage2_backlog(server.port)
        # items stage 2 had to finish: the run's answered uploads plus what was left from the warm-up
        ocr_items = res.ok + before if mode == "ocr-on" else 0
        busy_s = res.wall_seconds + drain_s
        entry = {"res": res, "check": check, "cpu": cpu, "max_backlog": max(backlog.samples or [0]),
                 "at_end": at_end, "drain_s": drain_s, "left": left,
                 "ocr_rate": (ocr_items - left) / busy_s if ocr_items else 0.0,
                 "ocr_rate_run": (ocr_items - at_end) / res.wall_seconds if ocr_items else 0.0}
        results.setdefault(mode, []).append(entry)
        say(f"\n{mode}: warm-up check {check}; settled backlog before the run took {drained:.1f} s.",
            f"  sent {res.sent}, answered 2xx {res.ok}, statuses {res.statuses}, errors {res.errors}"
            f"{f' {res.error_kinds}' if res.error_kinds else ''}, "
            f"client late starts {res.late_starts}, connections {res.connections}, wall {res.wall_seconds:.1f} s",
            f"  latency p50 {res.pct_ms(50):.1f} ms, p90 {res.pct_ms(90):.1f} ms, p99 {res.pct_ms(99):.1f} ms, "
            f"max {res.pct_ms(100):.1f} ms; answered {res.achieved_rate:.1f}/s; server CPU {cpu:.1f} s "
            f"({1000 * cpu / max(1, res.ok):.0f} ms per upload, stage 2 included)",
            f"  stage-2 backlog (/healthz): max {entry['max_backlog']} during the run, {at_end} at its end, "
            f"drained in {drain_s:.1f} s after it ({left} left; {before} waiting when the run started)")
        if mode == "ocr-on":
            say(f"  stage-2 OCR throughput: {entry['ocr_rate_run']:.1f} images/s during the run, "
                f"{entry['ocr_rate']:.1f} images/s from the run's start until the backlog was empty or the drain "
                f"limit passed")
    on, off = results["ocr-on"][-1], results["ocr-off"][-1]
    rows = []
    for mode, runs in results.items():
        for e in runs:
            r = e["res"]
            rows.append([mode, f"{args.upload_rate:g}", r.ok, f"{r.pct_ms(50):.1f}", f"{r.pct_ms(99):.1f}",
                         f"{r.pct_ms(100):.0f}", r.errors + sum(n for s, n in r.statuses.items() if s >= 300),
                         e["max_backlog"], f"{e['ocr_rate_run']:.1f}" if mode == "ocr-on" else "—"])
    say("", markdown_table(["run", "offered/s", "answered", "p50 ms", "p99 ms", "max ms", "errors",
                            "max stage-2 backlog", "OCR images/s (during run)"], rows), "")
    p99_on, p99_off = on["res"].pct_ms(99), off["res"].pct_ms(99)
    ratio = p99_on / p99_off if p99_off > 0 else float("nan")
    summary.add(f"(a) upload p99 at {args.upload_rate:g}/s offered, OCR on", "≤ 50 ms", f"{p99_on:.1f} ms",
                f"OCR off {p99_off:.1f} ms", p99_on <= 50.0)
    summary.add("(a) p99 OCR on ÷ OCR off", "≤ 1.3×", f"{ratio:.2f}×", "", ratio <= 1.3)
    summary.add("(a) stage-2 OCR throughput / backlog", "(reported)",
                f"{on['ocr_rate_run']:.1f} img/s in run; backlog max {on['max_backlog']}, {on['at_end']} at end, "
                f"{on['left']} left after {on['drain_s']:.0f} s more",
                f"OCR off: backlog max {off['max_backlog']} (region hashes), {off['left']} left after "
                f"{off['drain_s']:.0f} s", None)


# --------------------------------------------------------------------------------------------------
# (b) saturation, closed loop
# --------------------------------------------------------------------------------------------------

def part_b(args: argparse.Namespace, tmp: Path, summary: Summary) -> None:
    from bench_api import lua_text, lua_upload, upload_bodies

    say(f"## (b) Saturation, `seawall serve --workers {args.workers}`, wrk closed loop at concurrency "
        f"{args.sat_conc}, {args.sat_seconds:g} s per run"
        + (f" after {args.sat_warmup:g} s of the same load" if args.sat_warmup > 0 else "") + "\n")
    kinds = [k for k in ("image", "text") if k in args.sat_kinds.split(",")]
    data_dir = tmp / "b-data"
    env = seawall_env(data_dir)
    key = create_admin_key(env)
    run_cli(["bank", "create", "uploads", "--description", "benchmark bank"], env)
    known, body_paths, ctype = upload_bodies(tmp, 8, 8, args.seed) if "image" in kinds else ([], [], "")
    hash_file = tmp / "b-bank.txt"
    hash_file.write_text("".join(f"pdq {h}\n" for h in hashes_hex(random_hashes(args.upload_bank, args.seed + 1))
                                 + known))
    if "image" in kinds:
        run_cli(["bank", "import", "uploads", str(hash_file), "--source", "bench"], env, timeout=1800)
    seawall = serve(data_dir, tmp / "b-seawall.log", args.workers)
    peer = baseline_server(hash_file, tmp / "b-peer.log")
    res: dict[tuple[str, str], Any] = {}
    try:
        seawall.start()
        peer.start()
        servers = {"seawall": seawall, "peer": peer}
        lua = {("text", "seawall"): lua_text(key, "/v1/items"), ("text", "peer"): lua_text("", "/v1/text")}
        if "image" in kinds:
            lua[("image", "seawall")] = lua_upload(key, body_paths, [ctype] * len(body_paths))
            lua[("image", "peer")] = lua_upload("", body_paths, [ctype] * len(body_paths))
        cpu_ms: dict[tuple[str, str], float] = {}
        drained: list[str] = []
        for kind in kinds:
            if kind == "text" and "image" in kinds:
                # the image run leaves OCR work queued on the Seawall server; running text beside it would
                # measure the text path with the cores shared with that backlog, so wait for it first
                left = stage2_backlog(seawall.port)
                took, _ = wait_backlog(seawall.port, args.drain_limit)
                after = stage2_backlog(seawall.port)
                drained.append(f"Stage-2 backlog left by the image run: {left} uploads; waited {took:.1f} s for it "
                               f"before the text runs, {after} left when they started"
                               + (" (drain limit reached)" if after else "") + ".")
                progress(drained[-1])
            for name in ("seawall", "peer"):
                if args.sat_warmup > 0:
                    run_wrk(servers[name].base, lua[(kind, name)], connections=args.sat_conc,
                            seconds=args.sat_warmup, workdir=tmp)
                cpu0 = cpu_seconds(servers[name].pid)
                res[(kind, name)] = run_wrk(servers[name].base, lua[(kind, name)], connections=args.sat_conc,
                                            seconds=args.sat_seconds, workdir=tmp)
                # server CPU per item: on a loaded machine far steadier than items/s
                used = cpu_seconds(servers[name].pid) - cpu0
                cpu_ms[(kind, name)] = 1000 * used / max(1, res[(kind, name)].requests)
        backlog = stage2_backlog(seawall.port)
    finally:
        seawall.stop()
        peer.stop()
    rows = [[kind, name, f"{r.rps:,.0f}", f"{r.p50_ms:.1f}", f"{r.p99_ms:.1f}", r.errors, f"{cpu_ms[(kind, name)]:.2f}"]
            for (kind, name), r in res.items()]
    say(markdown_table(["items", "server", "per s", "p50 ms", "p99 ms", "errors", "server CPU ms/item"], rows),
        *(f"\n{line}" for line in drained),
        f"\nStage-2 backlog on the Seawall server after the runs: {backlog} (OCR on, as configured by default).\n")
    for kind, goal in (("image", 200.0), ("text", 3000.0)):
        if kind not in kinds:
            continue
        s, p = res[(kind, "seawall")], res[(kind, "peer")]
        summary.add(f"(b) saturation, {kind} {'uploads' if kind == 'image' else 'items'}/s", f"≥ {goal:,.0f}/s",
                    f"{s.rps:,.0f}/s ({s.errors} errors)", f"{p.rps:,.0f}/s ({s.rps / p.rps:.2f}×)",
                    s.rps >= goal and s.errors == 0)


# --------------------------------------------------------------------------------------------------
# (c) lookup against the big bank
# --------------------------------------------------------------------------------------------------

def lua_lookup_for(key: str, queries: list[str]) -> str:
    from bench_api import lua_lookup

    return lua_lookup(key, queries)


def lookup_check(port: int, key: str, near: list[str], far: list[str]) -> str:
    from bench_api import check_lookups

    return check_lookups(port, key, near, far)


def part_c(args: argparse.Namespace, tmp: Path, summary: Summary) -> None:
    say(f"## (c) GET /v1/lookup against {args.lookup_entries:,} PDQ entries, concurrency {args.lookup_conc}\n")
    info = build_bank(Path(args.bank_root), args.lookup_entries, 13, args.rebuild_bank)
    data_dir, hash_file, _ = bank_paths(Path(args.bank_root), args.lookup_entries)
    say(f"Bank {'reused from' if info['reused'] else 'built in'} {data_dir.parent}: {info['entries']:,} random "
        f"hashes, `seawall bank import` took {info['import_s']} s ({info['import_lines_per_s']:,} lines/s, "
        f"SQLite, built {info['built_at']})." + (f" Note: {info['note']}." if info.get("note") else ""))
    env = seawall_env(data_dir)
    key = create_admin_key(env)
    members = bank_sample(args.lookup_entries, 13, 100)
    near = hashes_hex(flip_bits(members, 8, 14))
    far = hashes_hex(random_hashes(900, 15))
    queries = near + far
    np.random.default_rng(16).shuffle(queries)
    say("Queries: 1,000 rotating values, 10 % near-duplicates of bank entries (8 bits flipped), 90 % random.")
    results: dict[str, Any] = {}
    for workers in args.lookup_workers:
        server = serve(data_dir, tmp / f"c-w{workers}.log", workers)
        server.start(timeout=3600)
        try:
            check = lookup_check(server.port, key, near[:20], far[:20])
            rss = sum(rss_mb(p) for p in group_pids(server.pid))
            with thread_sampler(server.pid) as threads:
                r = run_wrk(server.base, lua_lookup_for(key, queries), connections=args.lookup_conc,
                            seconds=args.lookup_seconds, workdir=tmp)
            results[f"--workers {workers}"] = r
            say(f"\n--workers {workers}: ready {server.started_in:.0f} s after start, RSS of all processes "
                f"{rss:,.0f} MiB; check: {check}.",
                f"  {r.rps:,.0f} req/s, p50 {r.p50_ms:.2f} ms, p90 {r.p90_ms:.2f} ms, p99 {r.p99_ms:.2f} ms, "
                f"max {r.max_ms:.1f} ms, errors {r.errors}",
                f"  threads per server process during the run (max of 1 s samples): {thread_report(threads.samples)}")
        finally:
            server.stop()
    peer_txt = ""
    if args.lookup_peer:
        peer = baseline_server(hash_file, tmp / "c-peer.log")
        peer.start(timeout=3600)
        try:
            p = run_wrk(peer.base, lua_lookup_for("", queries), connections=args.lookup_conc,
                        seconds=args.lookup_peer_seconds, workdir=tmp, timeout_s=60)
            peer_txt = (f"{p.rps:,.1f} req/s, p99 {p.p99_ms:,.0f} ms" if p.requests else
                        f"no lookup finished within the {args.lookup_peer_seconds:g} s run")
            say(f"\nNaive peer (numpy scan over every hash): {peer_txt}, errors {p.errors}.")
        finally:
            peer.stop()
    rows = [[name, f"{r.rps:,.0f}", f"{r.p50_ms:.2f}", f"{r.p99_ms:.2f}", f"{r.max_ms:.1f}", r.errors]
            for name, r in results.items()]
    say("", markdown_table(["server", "req/s", "p50 ms", "p99 ms", "max ms", "errors"], rows), "")
    for name, r in results.items():
        summary.add(f"(c) lookup, {args.lookup_entries:,} entries, c={args.lookup_conc}, {name}",
                    "≥ 3,000/s, p99 < 10 ms", f"{r.rps:,.0f}/s, p99 {r.p99_ms:.2f} ms", peer_txt,
                    r.rps >= 3000 and r.p99_ms < 10 and r.errors == 0)


# --------------------------------------------------------------------------------------------------
# (d) PostgreSQL import
# --------------------------------------------------------------------------------------------------

def part_d(args: argparse.Namespace, tmp: Path, summary: Summary) -> None:
    from bench_import import naive_import
    from seawall.composition import build_engine
    from seawall.config import Settings

    n, sample = args.import_lines, args.import_peer_lines
    say(f"## (d) `seawall bank import` of {n:,} PDQ lines into PostgreSQL\n")
    bank_file, sample_file = tmp / "d-bank.txt", tmp / "d-sample.txt"
    write_hash_file(bank_file, random_hashes(n, args.seed + 30))
    write_hash_file(sample_file, random_hashes(sample, args.seed + 31))
    with postgres_database("seawall_t13") as url:
        env = seawall_env(tmp / "d-data", database_url=url)
        run_cli(["bank", "create", "cli", "--description", "benchmark bank"], env)
        run_cli(["bank", "create", "naive", "--description", "benchmark bank"], env)
        t0 = time.perf_counter()
        out = run_cli(["bank", "import", "cli", str(bank_file), "--source", "bench"], env, timeout=6 * 3600)
        took = time.perf_counter() - t0
        line = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
        engine = build_engine(Settings(data_dir=tmp / "d-data", database_url=url))
        try:
            added, naive_s = naive_import(engine, "naive", sample_file)
        finally:
            engine.close()
    rate, peer_rate = n / took, sample / naive_s
    say(f"CLI wall clock (process start, schema check, import): {took:.1f} s, {rate:,.0f} lines/s ({line}).",
        f"Peer (ORM lookup + INSERT per line, one transaction) on {sample:,} other lines: {naive_s:.1f} s, "
        f"{peer_rate:,.0f} lines/s ({added:,} added).\n")
    summary.add(f"(d) PostgreSQL import, {n:,} lines (CLI wall clock)", "≥ 50,000 lines/s", f"{rate:,.0f} lines/s",
                f"{peer_rate:,.0f} lines/s ({rate / peer_rate:.0f}×)", rate >= 50_000)


# --------------------------------------------------------------------------------------------------
# (e) first upload after start, over HTTP
# --------------------------------------------------------------------------------------------------

def server_cpu_ns(leader: int | None) -> int:
    """CPU nanoseconds used so far by every thread of the server's processes (``/proc/<pid>/task/*/schedstat``).

    Why: on a loaded machine a single request's wall time is mostly waiting for a core, so the first upload
    against the median of the next hundred is also compared in server CPU, which waiting does not add to.
    """
    if leader is None:
        return 0
    total = 0
    for pid in group_pids(leader):
        for task in Path(f"/proc/{pid}/task").glob("*/schedstat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                total += int(task.read_text().split()[0])
    return total


def first_and_rest(port: int, key: str, bodies: list[tuple[bytes, str]], path: str,
                   key_first: bool = False, cpu_of: int | None = None,
                   cpu: list[float] | None = None) -> tuple[list[float], float]:
    """Seconds per request, one keep-alive connection (so one server process), in order; the first is
    the first upload after start. With ``key_first`` an authenticated ``GET /v1/banks`` goes first on
    the same connection and its time is returned too: a process checks an API key with argon2 on its
    first use, which is a cost of the first request, not of the upload."""
    http = Http(port, key)
    times: list[float] = []
    key_s = float("nan")
    try:
        if key_first:
            t0 = time.perf_counter()
            status, data = http.request("GET", "/v1/banks")
            key_s = time.perf_counter() - t0
            if status != 200:
                raise RuntimeError(f"GET /v1/banks: HTTP {status}: {data[:300]!r}")
        for body, ctype in bodies:
            c0 = server_cpu_ns(cpu_of)
            t0 = time.perf_counter()
            status, data = http.request("POST", path, body, ctype)
            times.append(time.perf_counter() - t0)
            if cpu is not None:
                cpu.append((server_cpu_ns(cpu_of) - c0) / 1e9)
            if status != 200:
                raise RuntimeError(f"{path}: HTTP {status}: {data[:300]!r}")
    finally:
        http.close()
    return times, key_s


def part_e(args: argparse.Namespace, tmp: Path, summary: Summary) -> None:
    say(f"## (e) First upload after start over HTTP, against the median of the next {args.first_n}\n")
    n = args.first_n
    images = [multipart({"content_id": f"first-{k}"}, "file", f"f{k}.jpg", captioned_jpeg(args.seed + 500 + k))
              for k in range(min(n + 1, 24))]
    image_bodies = [images[k % len(images)] for k in range(n + 1)]
    text_bodies = [(json.dumps({"content_id": f"t{k}", "text": f"notice {k} about the weekend market"}).encode(),
                    "application/json") for k in range(n + 1)]
    rows = []
    kinds = [k for k in ("image", "text") if k in args.first_kinds.split(",")]
    peer_ratio = ""
    if "image" in kinds:
        hash_file = tmp / "e-peer.txt"
        write_hash_file(hash_file, random_hashes(1000, args.seed))
        with baseline_server(hash_file, tmp / "e-peer.log") as peer:
            pt, _ = first_and_rest(peer.port, "", image_bodies, "/v1/items")
        peer_med = statistics.median(pt[1:])
        peer_ratio = f"{pt[0] / peer_med:.2f}× ({pt[0] * 1000:.0f} / {peer_med * 1000:.0f} ms)"
    for kind in kinds:
        for key_first in (False, True):
            data_dir = tmp / f"e-{kind}-{key_first}"
            env = seawall_env(data_dir)
            key = create_admin_key(env)
            with serve(data_dir, tmp / f"e-{kind}-{key_first}.log", args.workers) as server:
                cpu: list[float] = []
                times, key_s = first_and_rest(server.port, key, image_bodies if kind == "image" else text_bodies,
                                              "/v1/items", key_first, cpu_of=server.pid, cpu=cpu)
            first, med = times[0], statistics.median(times[1:])
            cpu_first, cpu_med = cpu[0], statistics.median(cpu[1:])
            label = f"{kind}, {'after one GET with the key' if key_first else 'as the first request'}"
            rows.append([label, f"{first * 1000:.1f}", f"{med * 1000:.1f}", f"{first / med:.2f}",
                         "—" if key_s != key_s else f"{key_s * 1000:.0f}",
                         peer_ratio if kind == "image" else "", f"{server.started_in:.1f}",
                         f"{cpu_first * 1000:.2f} / {cpu_med * 1000:.2f} ms = {cpu_first / cpu_med:.2f}"])
            summary.add(f"(e) first {label} ÷ median of next {n} (HTTP)", "≤ 2×",
                        f"{first / med:.2f}× ({first * 1000:.0f} / {med * 1000:.0f} ms)",
                        peer_ratio if kind == "image" else "", first / med <= 2.0)
            summary.add(f"(e) first {label}, server CPU ÷ median of next {n}", "(wall time is the goal)",
                        f"{cpu_first / cpu_med:.2f}× ({cpu_first * 1000:.2f} / {cpu_med * 1000:.2f} ms)", "", None)
    say("Each row on a fresh `seawall serve` (new SQLite store and key), requests on one keep-alive connection "
        "(one server process) once `/readyz` said ready.\n",
        markdown_table(["upload", "first ms", "median next ms", "first ÷ median", "GET with the key first, ms",
                        "peer first ÷ median (image)", "start to ready s",
                        "server CPU: first / median next = ratio"], rows),
        "\nServer CPU: every thread of the server's processes, read from /proc before and after each request "
        "(the other worker's idle background threads included); unlike wall time it does not grow while a "
        "request waits for a core on a loaded machine.\n")


# --------------------------------------------------------------------------------------------------

PARTS = {"a": part_a, "b": part_b, "c": part_c, "d": part_d, "e": part_e}


@contextlib.contextmanager
def timed(label: str) -> Iterator[None]:
    t0 = time.perf_counter()
    yield
    say(f"_{label}: {time.perf_counter() - t0:.0f} s_\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default="a,b,c,d,e", help="comma-separated parts to run (a–e)")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--workers", type=int, default=2, help="server processes for (a), (b) and (e)")
    ap.add_argument("--upload-rate", type=float, default=50.0)
    ap.add_argument("--upload-seconds", type=float, default=30.0)
    ap.add_argument("--upload-images", type=int, default=24)
    ap.add_argument("--upload-bank", type=int, default=20_000)
    ap.add_argument("--upload-repeats", type=int, default=1, help="OCR on/off pairs to run, alternating")
    ap.add_argument("--drain-limit", type=float, default=600.0, help="longest wait for the stage-2 backlog")
    ap.add_argument("--sat-seconds", type=float, default=15.0)
    ap.add_argument("--sat-conc", type=int, default=16)
    ap.add_argument("--sat-warmup", type=float, default=0.0,
                    help="seconds of the same load before each timed (b) run (models loaded, caches warm)")
    ap.add_argument("--sat-kinds", default="image,text",
                    help="items (b) saturates with, in this order: image,text, or one of them (text alone: no "
                         "stage-2 OCR backlog from the image run shares the cores with the text run)")
    ap.add_argument("--lookup-entries", type=int, default=10_000_000)
    ap.add_argument("--lookup-conc", type=int, default=8)
    ap.add_argument("--lookup-seconds", type=float, default=20.0)
    ap.add_argument("--lookup-workers", default="2,1", help="--workers values to run (c) with")
    ap.add_argument("--lookup-peer", action=argparse.BooleanOptionalAction, default=True,
                    help="also run the naive numpy-scan peer against the same hashes")
    ap.add_argument("--lookup-peer-seconds", type=float, default=10.0)
    ap.add_argument("--bank-root", default="/tmp", help="where the (c) bank is built once and reused")
    ap.add_argument("--rebuild-bank", action="store_true")
    ap.add_argument("--import-lines", type=int, default=10_000_000)
    ap.add_argument("--import-peer-lines", type=int, default=10_000)
    ap.add_argument("--first-kinds", default="image,text",
                    help="uploads (e) measures, in this order: image,text, or one of them (text alone: no image "
                         "peer and no image servers)")
    ap.add_argument("--first-n", type=int, default=100)
    args = ap.parse_args()
    args.lookup_workers = [int(w) for w in args.lookup_workers.split(",")]
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        ap.error(f"unknown parts {unknown}; choose from a–e")
    say(f"# Issue 13 targets\n\n{machine_summary()}; load {' '.join(f'{x:.2f}' for x in os.getloadavg())} at "
        f"start. Load generators (wrk, loadgen.py) run on the same cores as the servers.\n")
    summary = Summary()
    with tempdir("seawall-t13-") as t:
        for p in parts:
            progress(f"part ({p}) starts")
            with timed(f"part ({p})"):
                PARTS[p](args, Path(t), summary)
    say(f"## Summary (load {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end)\n",
        markdown_table(SUMMARY_HEAD, summary.rows))


if __name__ == "__main__":
    main()
