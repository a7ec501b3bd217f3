"""Hash sharing: propagation between two real instances, streamed initial sync, retro-matching of a sync.

Three measurements, each against a peer measured in the same run (this machine is shared and noisy):

1. **Initial sync** of N random PDQ entries from a file feed (``kind: file``) into SQLite and into
   PostgreSQL, page by page with its checkpoint, against Seawall's own bulk ``bank import`` of the same
   file (the fastest path into the store, one transaction, no provenance). Then a re-sync of the
   unchanged feed from scratch, which must add nothing. Peak RSS growth shows memory stays bounded.
2. **Propagation A→B**: two ``seawall serve`` processes on loopback (A on PostgreSQL publishes a feed,
   B on SQLite subscribes with its live long poll); an MD5 added on A until an upload of those bytes is
   blocked on B, repeated; p50/p99 against the 10 minutes hasher-matcher-actioner documents.
3. **Retro-matching of synced entries**: a sync of R new entries (some near copies of stored items)
   into an instance holding I past image items, then one retro-matching pass, against a vectorised
   NumPy XOR/popcount scan of the same item hashes held in memory.

    .venv/bin/python benchmarks/bench_sharing.py [--entries 200000] [--rounds 20] [--items 100000]
        [--retro-entries 5000]

Hashes are random; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from hashlib import md5
from pathlib import Path

import httpx
import numpy as np
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_retro import VARIANTS, _naive, _store_items
from common import write_pdq_feed
from seawall.composition import build_engine
from seawall.config import Settings

REPO = Path(__file__).resolve().parents[1]
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
HMA_STALENESS_S = 600.0


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_db() -> tuple[str, str]:
    name = f"seawall_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def drop_db(name: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def initial_sync(n: int, tmp: Path) -> None:
    feed = tmp / "feed.txt"
    write_pdq_feed(feed, n)
    print(f"\n== 1. initial sync of {n:,} PDQ entries from a file feed ({feed.stat().st_size / 1e6:.0f} MB) ==")
    print(f"{'store':<11}{'sync s':>9}{'entries/s':>12}{'import s':>10}{'sync/import':>13}{'re-sync s':>11}"
          f"{'re-added':>10}{'RSS +MB':>9}")
    for backend in ("sqlite", "postgresql"):
        dbname, url = make_db() if backend == "postgresql" else ("", None)
        try:
            eng = build_engine(Settings(data_dir=tmp / backend, database_url=url, source_sync=False,
                                  retro_window_days=0))
            try:
                before = rss_mb()
                eng.sources.create({"name": "feed", "kind": "file", "path": str(feed), "bank": "synced",
                                    "action": "block"}, created_by="bench")
                t0 = time.perf_counter()
                rep = eng.sources.sync("feed")
                sync_s = time.perf_counter() - t0
                grown = rss_mb() - before
                assert rep.error is None and rep.added == n, rep.to_dict()
                eng.banks.create("imported")
                t0 = time.perf_counter()
                with feed.open() as fh:
                    imp = eng.import_entries("imported", "text", (ln.rstrip("\n") for ln in fh), added_by="bench")
                import_s = time.perf_counter() - t0
                assert imp.added == n
                eng.sources.update("feed", {"checkpoint": None})
                t0 = time.perf_counter()
                again = eng.sources.sync("feed")
                resync_s = time.perf_counter() - t0
                print(f"{backend:<11}{sync_s:>9.1f}{n / sync_s:>12,.0f}{import_s:>10.1f}{sync_s / import_s:>12.2f}x"
                      f"{resync_s:>11.1f}{again.added:>10,}{grown:>9.0f}")
            finally:
                eng.close()
        finally:
            if dbname:
                drop_db(dbname)


def feed_sync(n: int, tmp: Path, page_size: int, import_peer: bool = True,
              stores: tuple[str, ...] = ("sqlite", "postgresql")) -> None:
    """Initial sync of ``n`` PDQ entries from another Seawall's signed feed over HTTP: a ``seawall serve``
    publisher (PostgreSQL) pages, signs and serves; this process verifies, parses and stores, into
    SQLite and into PostgreSQL in turn, against the bulk import of the same hashes into the same store."""
    feed_file = tmp / "pub-feed.txt"
    rng = np.random.default_rng(13)
    with feed_file.open("w") as fh:
        for start in range(0, n, 100_000):
            block = rng.integers(0, 256, (min(100_000, n - start), 32), dtype=np.uint8)
            fh.write("".join(f"pdq {r.tobytes().hex()}\n" for r in block))
    pub_db, pub_url = make_db()
    pub_env = _env(tmp / "pub", SEAWALL_DATABASE_URL=pub_url, SEAWALL_SOURCE_SYNC="false",
                   SEAWALL_RETRO_WINDOW_DAYS="0")
    pub = Server("publisher", pub_env, tmp / "pub.log")
    t0 = time.perf_counter()
    eng = build_engine(Settings(data_dir=tmp / "pub", database_url=pub_url, source_sync=False, retro_window_days=0))
    try:
        eng.banks.create("shared")
        with feed_file.open() as fh:
            assert eng.import_entries("shared", "text", (ln.rstrip("\n") for ln in fh), added_by="bench").added == n
        made = eng.feeds.create("f", ["shared"], ["sub"])
    finally:
        eng.close()
    setup_s = time.perf_counter() - t0
    print(f"\n== 1b. initial sync of {n:,} PDQ entries from a Seawall feed over HTTP (publisher on PostgreSQL, "
          f"{page_size:,} entries a page; publisher filled in {setup_s:.0f} s) ==")
    print(f"{'store':<11}{'sync s':>9}{'entries/s':>12}{'pages':>7}{'import s':>10}{'sync/import':>13}"
          f"{'re-sync s':>11}{'re-added':>10}{'RSS +MB':>9}")
    print("  (CPU s: of the subscriber process, of the publisher process, of the PostgreSQL backends of the "
          "publisher's and the subscriber's databases; on a shared machine compare these, not wall time)")
    try:
        pub.start()
        for backend in stores:
            dbname, url = make_db() if backend == "postgresql" else ("", None)
            try:
                sub = build_engine(Settings(data_dir=tmp / f"sub-{backend}", database_url=url, source_sync=False,
                                      retro_window_days=0, webhook_allow_hosts="127.0.0.1"))
                try:
                    before = rss_mb()
                    sub.sources.create({"name": "a", "kind": "seawall", "url": pub.url, "feed": "f",
                                        "public_key": made["public_key"], "token": made["partners"][0]["token"],
                                        "page_size": page_size, "bank": "synced", "action": "block"},
                                       created_by="bench")
                    cpu0 = _cpu(pub_db, dbname, pub)
                    t0 = time.perf_counter()
                    rep = sub.sources.sync("a")
                    sync_s = time.perf_counter() - t0
                    sync_cpu = _cpu_spent(cpu0, _cpu(pub_db, dbname, pub))
                    grown = rss_mb() - before
                    assert rep.error is None and rep.added == n, rep.to_dict()
                    import_s = float("nan")
                    if import_peer:
                        sub.banks.create("imported")
                        t0 = time.perf_counter()
                        with feed_file.open() as fh:
                            imp = sub.import_entries("imported", "text", (ln.rstrip("\n") for ln in fh),
                                                     added_by="b")
                        import_s = time.perf_counter() - t0
                        assert imp.added == n
                    sub.sources.update("a", {"checkpoint": None})
                    cpu0 = _cpu(pub_db, dbname, pub)
                    t0 = time.perf_counter()
                    again = sub.sources.sync("a")
                    resync_s = time.perf_counter() - t0
                    resync_cpu = _cpu_spent(cpu0, _cpu(pub_db, dbname, pub))
                    assert again.error is None, again.to_dict()
                    print(f"{backend:<11}{sync_s:>9.1f}{n / sync_s:>12,.0f}{rep.pages:>7}{import_s:>10.1f}"
                          f"{sync_s / import_s:>12.2f}x{resync_s:>11.1f}{again.added:>10,}{grown:>9.0f}", flush=True)
                    print(f"  CPU s  sync: {sync_cpu}   re-sync: {resync_cpu}   load {os.getloadavg()[0]:.1f}",
                          flush=True)
                finally:
                    sub.close()
            finally:
                if dbname:
                    drop_db(dbname)
    finally:
        pub.stop()
        drop_db(pub_db)


def _proc_cpu(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _backends_cpu(dbname: str) -> float:
    """CPU seconds of the PostgreSQL backends connected to ``dbname`` now (pooled: they last the run)."""
    if not dbname:
        return 0.0
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        pids = [r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (dbname,))]
    return sum(_proc_cpu(pid) for pid in pids)


def _cpu(pub_db: str, sub_db: str, pub: Server) -> tuple[float, float, float, float]:
    """(subscriber process, publisher process, publisher's backends, subscriber's backends) CPU seconds."""
    assert pub.proc is not None
    return (time.process_time(), _proc_cpu(pub.proc.pid), _backends_cpu(pub_db), _backends_cpu(sub_db))


def _cpu_spent(before: tuple[float, ...], after: tuple[float, ...]) -> str:
    sub, pub, pub_pg, sub_pg = (a - b for a, b in zip(after, before, strict=True))
    return f"subscriber {sub:.1f}, publisher {pub:.1f}, publisher PG {pub_pg:.1f}, subscriber PG {sub_pg:.1f}"


class Server:
    def __init__(self, name: str, env: dict[str, str], log: Path) -> None:
        self.name, self.env, self.log = name, env, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.key = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.env['SEAWALL_PORT']}"

    def start(self) -> None:
        self.key = subprocess.run([sys.executable, "-m", "seawall", "apikey", "create", "--role", "admin"],
                                  env=self.env, capture_output=True, text=True, check=True).stdout.strip()
        with self.log.open("ab") as fh:
            self.proc = subprocess.Popen([sys.executable, "-m", "seawall", "serve"], env=self.env,
                                         stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not start: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            self.proc.wait(timeout=60)

    def api(self, method: str, path: str, **kw: object) -> httpx.Response:
        return httpx.request(method, self.url + path, headers={"authorization": f"Bearer {self.key}"},
                             timeout=30, **kw)  # type: ignore[arg-type]


def _env(data: Path, **extra: str) -> dict[str, str]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEAWALL_")}
    env.update(SEAWALL_DATA_DIR=str(data), SEAWALL_PORT=str(port), SEAWALL_OCR_ENABLED="false",
               PYTHONPATH=str(REPO / "src"), **extra)
    return env


def propagation(rounds: int, tmp: Path) -> None:
    print(f"\n== 2. propagation A (PostgreSQL) → B (SQLite), {rounds} entries ==")
    dbname, url = make_db()
    a = Server("A", _env(tmp / "a", SEAWALL_DATABASE_URL=url), tmp / "a.log")
    b = Server("B", _env(tmp / "b", SEAWALL_WEBHOOK_ALLOW_HOSTS="127.0.0.1"), tmp / "b.log")
    try:
        a.start()
        b.start()
        assert a.api("POST", "/v1/banks", json={"name": "known"}).status_code == 201
        feed = a.api("POST", "/v1/feeds", json={"name": "f", "banks": ["known"], "partners": ["b"]}).json()
        r = b.api("POST", "/v1/sources", json={"name": "a", "kind": "seawall", "url": a.url, "feed": "f",
                                               "public_key": feed["public_key"],
                                               "token": feed["partners"][0]["token"], "bank": "from-a",
                                               "action": "block"})
        assert r.status_code == 201, r.text
        time.sleep(2)
        lat: list[float] = []
        for i in range(rounds):
            data = secrets.token_bytes(1024)
            t0 = time.perf_counter()
            assert a.api("POST", "/v1/banks/known/entries",
                         json={"signal_type": "md5", "value": md5(data).hexdigest()}).status_code in (200, 201)
            while True:
                up = httpx.post(b.url + "/v1/items", headers={"authorization": f"Bearer {b.key}"}, timeout=30,
                                data={"content_id": f"p-{i}-{time.perf_counter()}"},
                                files={"file": ("x.bin", data, "application/octet-stream")}).json()
                verdict = up["verdict"]["verdict"] if isinstance(up["verdict"], dict) else up["verdict"]
                if verdict == "block":
                    break
                assert time.perf_counter() - t0 < 120, "entry never propagated"
                time.sleep(0.05)
            lat.append(time.perf_counter() - t0)
        lat.sort()
        p99 = lat[min(len(lat) - 1, round(0.99 * (len(lat) - 1)))]
        print(f"entry on A → upload blocked on B: p50 {statistics.median(lat):.2f} s, p99 {p99:.2f} s, "
              f"max {lat[-1]:.2f} s (upload polled every 50 ms)")
        print(f"vs HMA's documented staleness of {HMA_STALENESS_S:.0f} s: p99 is {HMA_STALENESS_S / p99:,.0f}x sooner")
    finally:
        b.stop()
        a.stop()
        drop_db(dbname)


def retro(items: int, entries: int, tmp: Path) -> None:
    print(f"\n== 3. retro-matching of {entries:,} synced entries against {items:,} past image items (SQLite) ==")
    rng = np.random.default_rng(11)
    hashes = rng.integers(0, 256, (items, VARIANTS, 32), dtype=np.uint8)
    near = max(1, entries // 20)
    targets = rng.choice(items, near, replace=False)
    new = rng.integers(0, 256, (entries, 32), dtype=np.uint8)
    for k, t in enumerate(targets):
        e = hashes[t, int(rng.integers(0, VARIANTS))].copy()
        bits = np.unpackbits(e)
        bits[rng.choice(256, int(rng.integers(0, 21)), replace=False)] ^= 1
        new[k] = np.packbits(bits)
    feed = tmp / "retro-feed.txt"
    feed.write_text("".join(f"pdq {r.tobytes().hex()}\n" for r in new))
    eng = build_engine(Settings(data_dir=tmp / "retro", source_sync=False, retro_window_days=180))
    try:
        _store_items(eng, hashes, rng)
        eng.sources.create({"name": "partner", "kind": "file", "path": str(feed), "bank": "partner",
                            "action": "block"}, created_by="bench")
        t0 = time.perf_counter()
        rep = eng.sources.sync("partner")
        sync_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        report = eng.retro.run()
        retro_s = time.perf_counter() - t0
    finally:
        eng.close()
    words = hashes.view(np.uint64)
    t0 = time.perf_counter()
    found = _naive(words, new.view(np.uint64))
    naive_s = time.perf_counter() - t0
    print(f"sync {rep.added:,} entries: {sync_s:.1f} s; retro pass: {retro_s:.1f} s, {report.items_matched:,} items "
          f"matched (planted {near:,}); naive NumPy scan (hashes in memory): {naive_s:.1f} s, {len(found):,} found")
    print(f"retro pass / naive scan: {retro_s / naive_s:.2f}x")
    assert report.items_matched == len(found) == near, (report.items_matched, len(found), near)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entries", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--retro-entries", type=int, default=5_000)
    ap.add_argument("--page-size", type=int, default=5000, help="entries a page of the Seawall feed (1b)")
    ap.add_argument("--no-import-peer", action="store_true",
                    help="1b without the bulk import of the same hashes (saves minutes at 2,000,000 entries)")
    ap.add_argument("--stores", default="sqlite,postgresql", help="stores 1b syncs into, in order")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: sync, feed, propagation, retro")
    args = ap.parse_args()
    skip = set(args.skip.split(","))
    print(json.dumps({"cpus": os.cpu_count(), "load": os.getloadavg()}))
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        if "sync" not in skip:
            initial_sync(args.entries, tmp)
        if "feed" not in skip:
            feed_sync(args.entries, tmp, args.page_size, import_peer=not args.no_import_peer,
                      stores=tuple(args.stores.split(",")))
        if "propagation" not in skip:
            propagation(args.rounds, tmp)
        if "retro" not in skip:
            retro(args.items, args.retro_entries, tmp)


if __name__ == "__main__":
    main()
