"""PDQ radius search: Seawall's PdqIndex vs faiss IndexBinaryFlat vs faiss IndexBinaryMultiHash.

Every system runs in its own subprocess (so resident memory is its own) on the same seeded data and
queries, in the same invocation, pinned to the same thread count. Stored hashes are uniform random or
clustered (centres with 0-40-bit perturbations); queries are half near-duplicates of stored hashes
at distance 0-32 and half uniform random. Recall is measured against IndexBinaryFlat, which is exact.
Snapshot load time is measured in a fresh process (as when a server restarts), page cache warm.

    python benchmarks/bench_index.py --sizes 1000000,10000000

needs faiss-cpu (the ``bench`` extra). Prints a markdown table on stdout, progress on stderr.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

SYSTEMS = ("seawall", "faiss-flat", "faiss-mih")
SYSTEM_LABELS = {
    "seawall": "Seawall PdqIndex",
    "faiss-flat": "faiss IndexBinaryFlat",
    "faiss-mih": "faiss IndexBinaryMultiHash(256,16,16) nflip=1",
}


# ------------------------------------------------------------------------------------------ data


def _words_to_bytes(w: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint8]:
    return np.ascontiguousarray(w.astype(">u8")).view(np.uint8).reshape(-1, 32)


def _random_words(rng: np.random.Generator, n: int) -> npt.NDArray[np.uint64]:
    return rng.integers(0, 2**64, size=(n, 4), dtype=np.uint64, endpoint=False)


def _flip_random_bits(rng: np.random.Generator, w: npt.NDArray[np.uint64], k: npt.NDArray[np.int64],
                      distinct: bool) -> None:
    """Flip ``k[i]`` bits of row ``i`` in place (distinct positions if asked, else with repeats)."""
    kmax = int(k.max()) if k.size else 0
    if distinct:
        # Random keys per bit; the k smallest keys of a row are k distinct positions.
        for start in range(0, w.shape[0], 200_000):
            rows = slice(start, start + 200_000)
            pos = np.argsort(rng.random((w[rows].shape[0], 256)), axis=1)[:, :kmax]
            for j in range(kmax):
                sel = np.nonzero(k[rows] > j)[0]
                p = pos[sel, j]
                w[rows][sel, p >> 6] ^= np.uint64(1) << (63 - (p & 63)).astype(np.uint64)
        return
    for j in range(kmax):
        sel = np.nonzero(k > j)[0]
        p = rng.integers(0, 256, sel.shape[0])
        w[sel, p >> 6] ^= np.uint64(1) << (63 - (p & 63)).astype(np.uint64)


def make_data(dataset: str, n: int, nq: int, seed: int
              ) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """Deterministic (stored hashes, queries) for a dataset name and size."""
    rng = np.random.default_rng(seed)
    if dataset == "uniform":
        w = _random_words(rng, n)
    elif dataset == "clustered":
        centres = _random_words(rng, min(100_000, max(1, n // 10)))
        w = centres[rng.integers(0, centres.shape[0], n)]
        _flip_random_bits(rng, w, rng.integers(0, 41, n), distinct=False)
    else:
        raise ValueError(dataset)
    near = nq // 2
    q = np.empty((nq, 4), dtype=np.uint64)
    q[:near] = w[rng.integers(0, n, near)]
    _flip_random_bits(rng, q[:near], rng.integers(0, 33, near), distinct=True)
    q[near:] = _random_words(rng, nq - near)
    return _words_to_bytes(w), _words_to_bytes(q)


# ------------------------------------------------------------------------------------------ worker


def _rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size in MiB."""
    cur = peak = 0.0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                cur = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    if not peak:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return cur, peak


def _flatten(results: list[list[int]]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    lims = np.zeros(len(results) + 1, dtype=np.int64)
    lims[1:] = np.cumsum([len(r) for r in results])
    ids = np.fromiter((i for r in results for i in r), dtype=np.int64, count=int(lims[-1]))
    return lims, ids


def _load_in_fresh_process(system: str, snap: Path) -> float:
    """Seconds to load a snapshot in a new process, as a restarting server would."""
    cmd = [sys.executable, __file__, "--load-only", system, str(snap)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return float(proc.stdout.strip().splitlines()[-1])


def run_load_only(system: str, snap: str) -> None:
    """Import first (not timed), then time only the load itself."""
    if system == "seawall":
        from seawall.signals.pdq.index import PdqIndex

        t = time.perf_counter()
        PdqIndex.load(snap)
    else:
        import faiss

        t = time.perf_counter()
        faiss.read_index_binary(snap)
    print(time.perf_counter() - t, flush=True)


def run_worker(args: argparse.Namespace) -> None:
    """Build, time and measure one system on one dataset; JSON on the last line of stdout."""
    hashes, queries = make_data(args.dataset, args.size, args.queries, args.seed)
    n = hashes.shape[0]
    r = args.radius
    single_n = min(args.single, queries.shape[0])
    if args.system == "faiss-flat":
        single_n = min(single_n, 200 if n <= 2_000_000 else 50)
    out: dict[str, Any] = {"system": args.system, "dataset": args.dataset, "size": n}
    tmpdir = Path(tempfile.mkdtemp(prefix="bench-index-"))
    snap = tmpdir / "index.snap"

    if args.system == "seawall":
        from seawall.signals.pdq.index import PdqIndex

        warm = PdqIndex()  # load/compile kernels outside the timed region
        warm.add(np.arange(2), hashes[:2])
        warm.search_batch(queries[:2], r)
        del warm
        t = time.perf_counter()
        idx = PdqIndex()
        idx.add(np.arange(n, dtype=np.int64), hashes)
        idx.wait_for_merge()
        out["build_s"] = time.perf_counter() - t
        del hashes
        gc.collect()
        out["rss_mb"], out["peak_rss_mb"] = _rss_mb()
        out["index_mb"] = idx.memory_bytes() / 2**20
        idx.search_batch(queries[:100], r)

        def batch(q: npt.NDArray[np.uint8]) -> list[list[int]]:
            return [[i for i, _ in res] for res in idx.search_batch(q, r)]

        def single(q: npt.NDArray[np.uint8]) -> None:
            idx.search(q, r)

        def snapshot_load() -> float:
            idx.save(snap)
            loaded = PdqIndex.load(snap)
            assert loaded.search_batch(queries[:50], r) == idx.search_batch(queries[:50], r)
            del loaded
            return _load_in_fresh_process(args.system, snap)
    else:
        import faiss

        faiss.omp_set_num_threads(args.threads)
        t = time.perf_counter()
        index: Any
        if args.system == "faiss-flat":
            index = faiss.IndexBinaryFlat(256)
        else:
            index = faiss.IndexBinaryMultiHash(256, 16, 16)
            index.nflip = 1
        index.add(hashes)
        out["build_s"] = time.perf_counter() - t
        del hashes
        gc.collect()
        out["rss_mb"], out["peak_rss_mb"] = _rss_mb()
        out["index_mb"] = float("nan")

        def batch(q: npt.NDArray[np.uint8]) -> list[list[int]]:
            lims, _, ids = index.range_search(q, r + 1)  # faiss keeps distances strictly below
            return [ids[lims[i] : lims[i + 1]].tolist() for i in range(q.shape[0])]

        def single(q: npt.NDArray[np.uint8]) -> None:
            index.range_search(q[None], r + 1)

        def snapshot_load() -> float:
            faiss.write_index_binary(index, str(snap))
            return _load_in_fresh_process(args.system, snap)

    t = time.perf_counter()
    results = batch(queries)
    out["batch_qps"] = queries.shape[0] / (time.perf_counter() - t)
    lat = np.empty(single_n)
    for i in range(single_n):
        t = time.perf_counter()
        single(queries[i])
        lat[i] = time.perf_counter() - t
    out["single_qps"] = single_n / lat.sum()
    out["p50_ms"] = float(np.percentile(lat, 50) * 1e3)
    out["p99_ms"] = float(np.percentile(lat, 99) * 1e3)
    out["single_n"] = single_n
    gc.collect()
    out["load_s"] = snapshot_load()
    snap.unlink(missing_ok=True)
    tmpdir.rmdir()
    lims, ids = _flatten(results)
    np.savez(args.results, lims=lims, ids=ids)
    print(json.dumps(out), flush=True)


# ------------------------------------------------------------------------------------------ driver


def _recall(truth: Path, got: Path) -> tuple[float, bool]:
    """(recall vs truth, identical result sets for every query)."""
    t, g = np.load(truth), np.load(got)
    found = total = 0
    identical = True
    for i in range(t["lims"].shape[0] - 1):
        a = set(t["ids"][t["lims"][i] : t["lims"][i + 1]].tolist())
        b = set(g["ids"][g["lims"][i] : g["lims"][i + 1]].tolist())
        found += len(a & b)
        total += len(a)
        identical &= a == b
    return (found / total if total else 1.0), identical


def _fmt(x: float, nd: int = 0) -> str:
    if x != x:  # NaN
        return "–"
    return f"{x:,.{nd}f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="1000000", help="comma-separated stored-hash counts")
    p.add_argument("--datasets", default="uniform,clustered")
    p.add_argument("--systems", default=",".join(SYSTEMS))
    p.add_argument("--queries", type=int, default=10_000, help="queries for the batch run")
    p.add_argument("--single", type=int, default=2_000, help="queries timed one at a time")
    p.add_argument("--radius", type=int, default=31)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--worker", nargs=3, metavar=("SYSTEM", "DATASET", "SIZE"), help=argparse.SUPPRESS)
    p.add_argument("--results", help=argparse.SUPPRESS)
    p.add_argument("--load-only", nargs=2, metavar=("SYSTEM", "PATH"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.load_only:
        run_load_only(*args.load_only)
        return
    if args.worker:
        args.system, args.dataset, size = args.worker
        args.size = int(size)
        run_worker(args)
        return

    systems = [s for s in args.systems.split(",") if s]
    if "faiss-flat" not in systems:
        sys.exit("faiss-flat is the exact reference for recall; keep it in --systems")
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parent.parent / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    for var in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(args.threads)
    rows: list[dict[str, Any]] = []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-index-") as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            for dataset in args.datasets.split(","):
                ordered = ["faiss-flat", *[s for s in systems if s != "faiss-flat"]]
                group: dict[str, dict[str, Any]] = {}
                for system in ordered:
                    res_path = Path(tmp) / f"{system}-{dataset}-{size}.npz"
                    cmd = [sys.executable, __file__, "--worker", system, dataset, str(size),
                           "--results", str(res_path), "--queries", str(args.queries),
                           "--single", str(args.single), "--radius", str(args.radius),
                           "--threads", str(args.threads), "--seed", str(args.seed)]
                    print(f"[bench] {system} {dataset} n={size:,} ...", file=sys.stderr, flush=True)
                    t = time.perf_counter()
                    if args.threads < (os.cpu_count() or 1):  # same cores for every system
                        cmd = ["taskset", "-c", ",".join(str(i) for i in range(args.threads)), *cmd]
                    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
                    if proc.returncode != 0:
                        print(proc.stderr, file=sys.stderr)
                        raise SystemExit(f"{system} worker failed")
                    row = json.loads(proc.stdout.strip().splitlines()[-1])
                    row["recall"], row["exact"] = _recall(Path(tmp) / f"faiss-flat-{dataset}-{size}.npz",
                                                          res_path)
                    row["wall_s"] = time.perf_counter() - t
                    print(f"[bench]   {json.dumps(row)}", file=sys.stderr, flush=True)
                    group[system] = row
                flat = group["faiss-flat"]
                for system in ordered:
                    row = group[system]
                    row["x_flat_batch"] = row["batch_qps"] / flat["batch_qps"]
                    row["x_flat_single"] = row["single_qps"] / flat["single_qps"]
                    rows.append(row)

    print(f"\nradius {args.radius}, {args.queries:,} queries (half near-duplicates at distance 0-32, "
          f"half random), {args.threads} threads, seed {args.seed}; 1-min load average "
          f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after (other processes skew timings)\n")
    header = ["data", "stored", "system", "batch q/s", "× flat", "single q/s", "× flat", "p50 ms", "p99 ms",
              "recall", "identical", "build s", "load s", "RSS MB", "peak RSS MB"]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" if i < 3 else "---:" for i in range(len(header))) + "|")
    for row in rows:
        cells = [row["dataset"], f"{row['size']:,}", SYSTEM_LABELS[row["system"]],
                 _fmt(row["batch_qps"]), _fmt(row["x_flat_batch"], 1), _fmt(row["single_qps"]),
                 _fmt(row["x_flat_single"], 1), _fmt(row["p50_ms"], 3), _fmt(row["p99_ms"], 3),
                 f"{row['recall']:.4f}", "yes" if row["exact"] else "no", _fmt(row["build_s"], 1),
                 _fmt(row["load_s"], 2), _fmt(row["rss_mb"]), _fmt(row["peak_rss_mb"])]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
