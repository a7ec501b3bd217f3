"""Where an initial feed sync spends its time, on both sides: the publisher serving pages and the
subscriber verifying, parsing and writing them.

The publisher (``seawall serve`` on PostgreSQL) runs under py-spy, which writes a flame-graph-ready
collapsed-stack file; the subscriber's sync runs in this process under cProfile. Both summaries are
printed (top functions by own time) so the costs that matter can be named before changing anything.

    .venv/bin/python benchmarks/profile_sync.py [--entries 100000] [--store sqlite|postgresql]
        [--page-size 5000] [--py-spy /path/to/py-spy]

Hashes are random; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import io
import os
import pstats
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_sharing import Server, _env, drop_db, make_db
from seawall.composition import build_engine
from seawall.config import Settings


class SpiedServer(Server):
    """A ``seawall serve`` started under ``py-spy record``."""

    def __init__(self, name: str, env: dict[str, str], log: Path, py_spy: str, out: Path) -> None:
        super().__init__(name, env, log)
        self.py_spy, self.out = py_spy, out

    def start(self) -> None:
        self.key = subprocess.run([sys.executable, "-m", "seawall", "apikey", "create", "--role", "admin"],
                                  env=self.env, capture_output=True, text=True, check=True).stdout.strip()
        with self.log.open("ab") as fh:
            self.proc = subprocess.Popen(
                [self.py_spy, "record", "--format", "raw", "--rate", "200", "-o", str(self.out), "--",
                 sys.executable, "-m", "seawall", "serve"],
                env=self.env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        import httpx

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not start: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        """SIGINT: py-spy writes its samples when interrupted (and passes the signal on to the server)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            self.proc.wait(timeout=60)


def own_time(collapsed: Path, top: int = 25) -> str:
    """Top frames by samples where they were the innermost frame, from py-spy's collapsed stacks."""
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        frames = stack.split(";")
        own[frames[-1]] += n
    lines = [f"{n / max(total, 1):6.1%}  {frame}" for frame, n in own.most_common(top)]
    return f"{total} samples\n" + "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--page-size", type=int, default=5000)
    ap.add_argument("--py-spy", default=str(Path(sys.executable).parent / "py-spy"))
    ap.add_argument("--no-cprofile", action="store_true",
                    help="leave the subscriber unprofiled (to sample it from outside, e.g. py-spy --gil)")
    args = ap.parse_args()
    n = args.entries
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        rng = np.random.default_rng(13)
        lines = [f"pdq {r.tobytes().hex()}" for r in rng.integers(0, 256, (n, 32), dtype=np.uint8)]
        pub_db, pub_url = make_db()
        eng = build_engine(Settings(data_dir=tmp / "pub", database_url=pub_url, source_sync=False,
                                    retro_window_days=0))
        try:
            eng.banks.create("shared")
            assert eng.import_entries("shared", "text", iter(lines), added_by="bench").added == n
            made = eng.feeds.create("f", ["shared"], ["sub"])
        finally:
            eng.close()
        out = tmp / "publisher.txt"
        pub = SpiedServer("publisher", _env(tmp / "pub", SEAWALL_DATABASE_URL=pub_url, SEAWALL_SOURCE_SYNC="false",
                                            SEAWALL_RETRO_WINDOW_DAYS="0"), tmp / "pub.log", args.py_spy, out)
        dbname, url = make_db() if args.store == "postgresql" else ("", None)
        try:
            pub.start()
            sub = build_engine(Settings(data_dir=tmp / "sub", database_url=url, source_sync=False,
                                        retro_window_days=0, webhook_allow_hosts="127.0.0.1"))
            try:
                sub.sources.create({"name": "a", "kind": "seawall", "url": pub.url, "feed": "f",
                                    "public_key": made["public_key"], "token": made["partners"][0]["token"],
                                    "page_size": args.page_size, "bank": "synced", "action": "block"},
                                   created_by="bench")
                prof = cProfile.Profile()
                t0 = time.perf_counter()
                if not args.no_cprofile:
                    prof.enable()
                rep = sub.sources.sync("a")
                prof.disable()
                took = time.perf_counter() - t0
                assert rep.error is None and rep.added == n, rep.to_dict()
            finally:
                sub.close()
        finally:
            pub.stop()
            drop_db(pub_db)
            if dbname:
                drop_db(dbname)
        print(f"sync of {n:,} entries into {args.store}: {took:.1f} s ({n / took:,.0f} entries/s"
              f"{'' if args.no_cprofile else ', under cProfile'})")
        if not args.no_cprofile:
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(30)
            print("\n== subscriber (cProfile, own time) ==\n" + buf.getvalue())
        for _ in range(50):
            if out.exists():
                break
            time.sleep(0.2)
        if out.exists():
            print("== publisher (py-spy, own samples) ==\n" + own_time(out))


if __name__ == "__main__":
    main()
