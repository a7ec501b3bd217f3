"""API latency and throughput on loopback, Seawall against a naive peer served in the same run.

Why: a platform calls Seawall before it publishes an upload, so the verdict's latency is added to
every post, and partners call ``/v1/lookup`` in bulk. Absolute figures on a shared 2-core machine
are noisy; the ratio against a peer measured minutes apart on the same machine is what travels.

The peer is a bare FastAPI/uvicorn app (``common.baseline_app``) holding the same hashes: no auth, no
storage, full JPEG decode, one PDQ orientation, and an exact numpy XOR+popcount scan over every hash
per query — what a straightforward first implementation does. Seawall does strictly more per request
(auth, eight dihedral hashes, a stored item with its verdict), so a ratio above 1× is its index and
decoding paying for that extra work.

    .venv/bin/python benchmarks/bench_api.py [--quick]

Load comes from Debian's ``wrk`` (C, epoll) with Lua scripts that send the API key and rotate bodies
and query values. Everything binds 127.0.0.1 on free ports; servers are stopped with their process
group even if a step fails. Images and hashes are generated.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pdqhash

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    Http,
    Server,
    WrkResult,
    baseline_server,
    cpu_seconds,
    create_admin_key,
    encode_jpeg,
    flip_bits,
    hashes_hex,
    lua_string,
    machine_summary,
    markdown_table,
    multipart,
    random_hashes,
    rss_mb,
    run_cli,
    run_wrk,
    seawall_env,
    seawall_server,
    synthetic_image,
    tempdir,
    write_hash_file,
)

GOAL_UPLOAD_P99_MS = 50.0
GOAL_TEXT_RPS = 1000.0
GOAL_LOOKUP_RPS = 3000.0
GOAL_LOOKUP_P99_MS = 10.0


@dataclass(frozen=True, slots=True)
class Sizes:
    upload_bank: int
    lookup_bank: int
    upload_s: float
    text_s: float
    lookup_s: float
    baseline_lookup_s: float
    lookup_conc: tuple[int, ...]

    @classmethod
    def pick(cls, quick: bool) -> Sizes:
        if quick:
            return cls(20_000, 100_000, 4, 4, 4, 3, (1, 8, 32))
        return cls(100_000, 1_000_000, 20, 15, 30, 15, (1, 8, 32))


# --------------------------------------------------------------------------------------------------
# Lua scripts for wrk
# --------------------------------------------------------------------------------------------------

LUA_THREADS = """
local counter = 0
setup = function(thread)
  thread:set("offset", counter)
  counter = counter + 1
end
"""


def lua_lookup(key: str, queries: list[str]) -> str:
    """GETs rotating over ``queries``; each wrk thread starts at a different point of the list."""
    values = ",\n".join(f'"{q}"' for q in queries)
    auth = f'{{["Authorization"] = "Bearer " .. {lua_string(key)}}}' if key else "{}"
    return LUA_THREADS + f"""
local queries = {{{values}}}
local n = #queries
local i = 0
local headers = {auth}
init = function(args) i = ((offset or 0) * 397) % n end
request = function()
  i = i % n + 1
  return wrk.format("GET", "/v1/lookup?signal_type=pdq&value=" .. queries[i], headers)
end
"""


def lua_upload(key: str, bodies: list[Path], content_types: list[str]) -> str:
    """Multipart POSTs rotating over prebuilt bodies (read once per wrk thread)."""
    files = ",".join(lua_string(str(p)) for p in bodies)
    ctypes = ",".join(lua_string(c) for c in content_types)
    return LUA_THREADS + f"""
local paths = {{{files}}}
local ctypes = {{{ctypes}}}
local bodies = {{}}
for k, p in ipairs(paths) do
  local f = assert(io.open(p, "rb"))
  bodies[k] = f:read("*all")
  f:close()
end
local key = {lua_string(key)}
local n = #bodies
local i = 0
init = function(args) i = ((offset or 0) * 5) % n end
request = function()
  i = i % n + 1
  local h = {{["Content-Type"] = ctypes[i]}}
  if key ~= "" then h["Authorization"] = "Bearer " .. key end
  return wrk.format("POST", "/v1/items", h, bodies[i])
end
"""


def lua_text(key: str, path: str) -> str:
    """JSON text items, each with its own content id and a distinct generated sentence."""
    return LUA_THREADS + f"""
local key = {lua_string(key)}
local i = 0
local words = {{"harbour", "ferry", "market", "festival", "library", "garden", "bridge", "concert"}}
request = function()
  i = i + 1
  local w = words[(i % #words) + 1]
  local body = string.format('{{"content_id":"t%d-%d","account_id":"a%d",'
    .. '"text":"community %s notice number %d for the weekend schedule"}}', offset or 0, i, i % 97, w, i)
  local h = {{["Content-Type"] = "application/json"}}
  if key ~= "" then h["Authorization"] = "Bearer " .. key end
  return wrk.format("POST", {lua_string(path)}, h, body)
end
"""


# --------------------------------------------------------------------------------------------------
# Setup
# --------------------------------------------------------------------------------------------------

def cli_import(env: dict[str, str], bank: str, path: Path) -> tuple[float, str]:
    """Import through the CLI, as an operator would; returns wall time and the CLI's summary line."""
    t0 = time.perf_counter()
    proc = run_cli(["bank", "import", bank, str(path), "--source", "bench"], env, timeout=1800)
    return time.perf_counter() - t0, proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""


def upload_bodies(workdir: Path, n_known: int, n_unknown: int,
                  seed: int) -> tuple[list[str], list[Path], str]:
    """Generated 1 MP originals: ``n_known`` of them go in the bank (hashed as a partner would, from the
    original pixels) and are uploaded as q80 re-encodes; ``n_unknown`` unrelated ones should be allowed.
    Returns (bank hashes, multipart body files, their shared content type)."""
    known_hashes: list[str] = []
    paths: list[Path] = []
    ctype = ""
    for k in range(n_known + n_unknown):
        pixels = synthetic_image(seed + k, 1024, 1024)
        if k < n_known:
            bits, _ = pdqhash.compute(pixels)
            known_hashes.append(np.packbits(bits.astype(np.uint8)).tobytes().hex())
        data = encode_jpeg(pixels, 80)
        tag = "known" if k < n_known else "new"
        body, ct = multipart({"content_id": f"{tag}-{k}", "account_id": f"acct-{k % 3}"}, "file",
                             f"{tag}-{k}.jpg", data)
        # One boundary for all bodies keeps a single Content-Type header value.
        if not ctype:
            ctype = ct
        else:
            old = ct.split("boundary=")[1]
            body = body.replace(old.encode(), ctype.split("boundary=")[1].encode())
        path = workdir / f"upload-{k}.body"
        path.write_bytes(body)
        paths.append(path)
    return known_hashes, paths, ctype


def check_uploads(port: int, key: str, bodies: list[Path], ctype: str, n_known: int, path: str) -> str:
    """Send each body once and compare verdicts with what they should be, so speed is never reported
    for a server that answers wrongly."""
    http = Http(port, key)
    ok_known = ok_new = 0
    try:
        for k, p in enumerate(bodies):
            status, data = http.request("POST", path, p.read_bytes(), ctype)
            if status != 200:
                raise RuntimeError(f"upload check: HTTP {status}: {data[:300]!r}")
            verdict = json.loads(data).get("verdict")
            if k < n_known:
                ok_known += verdict == "block"
            else:
                ok_new += verdict == "allow"
    finally:
        http.close()
    n_new = len(bodies) - n_known
    return f"{ok_known}/{n_known} re-encoded bank images blocked, {ok_new}/{n_new} new allowed"


def check_lookups(port: int, key: str, near: list[str], far: list[str]) -> str:
    http = Http(port, key)
    hit = miss = 0
    try:
        for q in near:
            hit += bool(http.json("GET", f"/v1/lookup?signal_type=pdq&value={q}")["matches"])
        for q in far:
            miss += not http.json("GET", f"/v1/lookup?signal_type=pdq&value={q}")["matches"]
    finally:
        http.close()
    return f"{hit}/{len(near)} near-duplicates (8 bits flipped) found, {miss}/{len(far)} random misses empty"


def row(name: str, r: WrkResult, peer: WrkResult | None, goal: str) -> list[object]:
    ratio = f"{r.rps / peer.rps:.1f}×" if peer and peer.rps > 0 else "—"
    p99_ratio = f"{peer.p99_ms / r.p99_ms:.1f}×" if peer and r.p99_ms > 0 else "—"
    return [name, r.connections, f"{r.rps:,.0f}", f"{r.p50_ms:.2f}", f"{r.p99_ms:.2f}", f"{r.max_ms:.1f}",
            r.errors, ratio, p99_ratio, goal]


HEAD = ["server", "conc.", "req/s", "p50 ms", "p99 ms", "max ms", "errors", "req/s vs peer",
        "p99: peer ÷ Seawall", "goal met"]


# --------------------------------------------------------------------------------------------------
# Phases
# --------------------------------------------------------------------------------------------------

def phase_upload(tmp: Path, sz: Sizes, seed: int) -> list[str]:
    """Upload→verdict and text items against a bank of ``sz.upload_bank`` hashes."""
    out: list[str] = []
    data_dir = tmp / "upload-data"
    env = seawall_env(data_dir)
    key = create_admin_key(env)
    run_cli(["bank", "create", "uploads", "--description", "benchmark bank"], env)
    n_known, n_new = 8, 8
    known, bodies, ctype = upload_bodies(tmp, n_known, n_new, seed)
    hashes = hashes_hex(random_hashes(sz.upload_bank - n_known, seed + 1)) + known
    hash_file = tmp / "upload-bank.txt"
    hash_file.write_text("".join(f"pdq {h}\n" for h in hashes))
    took, summary = cli_import(env, "uploads", hash_file)
    out.append(f"Bank: {len(hashes):,} PDQ hashes ({n_known} of them from generated originals), imported by "
               f"`seawall bank import` in {took:.1f} s ({summary}).")

    seawall = seawall_server(data_dir, tmp / "seawall-upload.log")
    peer = baseline_server(hash_file, tmp / "peer-upload.log")
    results: dict[tuple[str, str, int], WrkResult] = {}
    text_cpu: dict[tuple[str, int], float] = {}  # server CPU seconds during each text run
    try:
        seawall.start()
        peer.start()
        out.append(f"Seawall ready {seawall.started_in:.1f} s after start; verdict check: "
                   + check_uploads(seawall.port, key, bodies, ctype, n_known, "/v1/items") + ".")
        out.append("Peer verdict check: "
                   + check_uploads(peer.port, "", bodies, ctype, n_known, "/v1/items") + ".")
        up_lua = {"seawall": lua_upload(key, bodies, [ctype] * len(bodies)),
                  "peer": lua_upload("", bodies, [ctype] * len(bodies))}
        txt_lua = {"seawall": lua_text(key, "/v1/items"), "peer": lua_text("", "/v1/text")}
        servers: dict[str, Server] = {"seawall": seawall, "peer": peer}
        for conc in (1, 8):  # interleave Seawall and peer so drifting machine load hits both
            for name in ("seawall", "peer"):
                results[("upload", name, conc)] = run_wrk(servers[name].base, up_lua[name], connections=conc,
                                                          seconds=sz.upload_s, workdir=tmp)
        for conc in (1, 8):
            for name in ("seawall", "peer"):
                cpu0 = cpu_seconds(servers[name].pid)
                results[("text", name, conc)] = run_wrk(servers[name].base, txt_lua[name], connections=conc,
                                                        seconds=sz.text_s, workdir=tmp)
                text_cpu[(name, conc)] = cpu_seconds(servers[name].pid) - cpu0
        out.append(f"RSS after load: Seawall {rss_mb(seawall.pid):.0f} MiB, peer {rss_mb(peer.pid):.0f} MiB.")
    finally:
        seawall.stop()
        peer.stop()

    rows = []
    for conc in (1, 8):
        s, p = results[("upload", "seawall", conc)], results[("upload", "peer", conc)]
        rows.append(row("Seawall", s, p, "yes" if s.p99_ms <= GOAL_UPLOAD_P99_MS else "NO"))
        rows.append(row("peer", p, None, ""))
    out.append(f"\n### Upload → verdict, 1024×1024 JPEG (q80, ~{bodies[0].stat().st_size // 1024} KiB), "
               f"{sz.upload_s:.0f} s per run (goal p99 ≤ 50 ms)\n")
    out.append(markdown_table(HEAD, rows))
    rows = []
    for conc in (1, 8):
        s, p = results[("text", "seawall", conc)], results[("text", "peer", conc)]
        rows.append(row("Seawall", s, p, "yes" if s.rps >= GOAL_TEXT_RPS else "NO"))
        rows.append(row("peer", p, None, ""))
    out.append(f"\n### Text items (JSON, stored with verdict), {sz.text_s:.0f} s per run (goal ≥ 1,000/s)\n")
    out.append(markdown_table(HEAD, rows))
    cpu = [f"{name} conc. {conc}: {1000 * text_cpu[(name, conc)] / max(1, results[('text', name, conc)].requests):.2f}"
           for conc in (1, 8) for name in ("seawall", "peer")]
    out.append("\nServer CPU ms per text item (user + system of the server process over the run): "
               + ", ".join(cpu) + ".")
    return out


def phase_lookup(tmp: Path, sz: Sizes, seed: int) -> list[str]:
    """``GET /v1/lookup`` against ``sz.lookup_bank`` hashes at several concurrencies."""
    out: list[str] = []
    data_dir = tmp / "lookup-data"
    env = seawall_env(data_dir)
    key = create_admin_key(env)
    run_cli(["bank", "create", "lookups", "--description", "benchmark bank"], env)
    bank = random_hashes(sz.lookup_bank, seed + 2)
    hash_file = tmp / "lookup-bank.txt"
    write_hash_file(hash_file, bank)
    took, summary = cli_import(env, "lookups", hash_file)
    out.append(f"Bank: {sz.lookup_bank:,} random PDQ hashes, imported by `seawall bank import` in "
               f"{took:.1f} s ({summary}).")
    rng = np.random.default_rng(seed + 3)
    near = hashes_hex(flip_bits(bank[rng.choice(len(bank), 100, replace=False)], 8, seed + 4))
    far = hashes_hex(random_hashes(900, seed + 5))
    queries = near + far
    rng.shuffle(queries)
    out.append("Queries: 1,000 rotating values, 10% near-duplicates of bank entries (8 bits flipped), "
               "90% random (no match).")

    seawall = seawall_server(data_dir, tmp / "seawall-lookup.log")
    peer = baseline_server(hash_file, tmp / "peer-lookup.log")
    results: dict[tuple[str, int], WrkResult] = {}
    try:
        seawall.start(timeout=900)
        check = check_lookups(seawall.port, key, near[:20], far[:20])
        out.append(f"Seawall ready {seawall.started_in:.1f} s after start (index built from the store), "
                   f"RSS {rss_mb(seawall.pid):.0f} MiB; check: {check}.")
        peer.start(timeout=300)
        out.append(f"Peer ready {peer.started_in:.1f} s after start, RSS {rss_mb(peer.pid):.0f} MiB; check: "
                   f"{check_lookups(peer.port, '', near[:20], far[:20])}.")
        lua_s, lua_p = lua_lookup(key, queries), lua_lookup("", queries)
        for conc in sz.lookup_conc:
            results[("seawall", conc)] = run_wrk(seawall.base, lua_s, connections=conc, seconds=sz.lookup_s,
                                                 workdir=tmp)
            results[("peer", conc)] = run_wrk(peer.base, lua_p, connections=conc,
                                              seconds=sz.baseline_lookup_s, workdir=tmp, timeout_s=30)
        out.append(f"RSS after load: Seawall {rss_mb(seawall.pid):.0f} MiB, peer {rss_mb(peer.pid):.0f} MiB.")
    finally:
        seawall.stop()
        peer.stop()
    rows = []
    for conc in sz.lookup_conc:
        s, p = results[("seawall", conc)], results[("peer", conc)]
        met = s.rps >= GOAL_LOOKUP_RPS and s.p99_ms < GOAL_LOOKUP_P99_MS
        rows.append(row("Seawall", s, p, "yes" if met else "NO"))
        rows.append(row("peer", p, None, ""))
    out.append(f"\n### GET /v1/lookup, {sz.lookup_bank:,}-hash bank, Seawall {sz.lookup_s:.0f} s and peer "
               f"{sz.baseline_lookup_s:.0f} s per run (goal ≥ 3,000 req/s, p99 < 10 ms)\n")
    out.append(markdown_table(HEAD, rows))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small banks and short runs (smoke run)")
    ap.add_argument("--only", choices=("upload", "lookup"), help="run one phase")
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    sz = Sizes.pick(args.quick)
    started = time.perf_counter()
    print(f"# API benchmark\n\n{machine_summary()}; load generator wrk on the same machine (it shares the "
          "2 cores with the server). Peer: bare FastAPI/uvicorn app, no auth or storage, full decode, "
          "numpy brute-force scan over the same hashes.\n", flush=True)
    with tempdir("seawall-bench-api-") as t:
        tmp = Path(t)
        if args.only in (None, "upload"):
            print("## Upload → verdict and text items\n")
            for line in phase_upload(tmp, sz, args.seed):
                print(line, flush=True)
            print()
        if args.only in (None, "lookup"):
            print("## Lookup\n")
            for line in phase_lookup(tmp, sz, args.seed):
                print(line, flush=True)
            print()
    print(f"_total {time.perf_counter() - started:.0f} s_")


if __name__ == "__main__":
    main()
