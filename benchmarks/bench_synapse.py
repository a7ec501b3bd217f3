"""Latency the Seawall module adds to sending a Matrix message, against the same Synapse without it.

Why: every message a user sends waits for Seawall's verdict before Synapse accepts it, so the cost that
matters is the added time per message, at the median and in the tail. Two homeservers run side by side
from the same Synapse install and config, one with ``seawall_synapse.SeawallModule`` (default settings:
keep content, once per event) and one without; messages go to both alternately on keep-alive
connections, so machine noise hits both alike. Seawall's own ``POST /v1/items`` latency for the same
kind of text is measured too, to show how much of the added time is Seawall's work and how much the
module's round trip through Synapse.

    .venv/bin/python benchmarks/bench_synapse.py [--messages 500] [--bank-entries 1000]

Needs Synapse in .synapse-venv (``bash scripts/test-prereqs``) or ``SEAWALL_SYNAPSE_PYTHON``. Runs on
loopback with temporary SQLite stores; all text is generated.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.synapse_server import running_homeservers

from common import (
    Http,
    create_admin_key,
    machine_summary,
    markdown_table,
    percentile,
    run_cli,
    seawall_server,
    tempdir,
)

WORDS = ("river", "market", "train", "garden", "meeting", "photo", "weekend", "coffee", "update", "question",
         "project", "music", "weather", "holiday", "dinner", "school", "ticket", "report", "city", "evening")


def sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 18))) + f" #{rng.randint(0, 10**9)}"


def send(conn: Http, room: str, body: str) -> float:
    """Seconds for one message send, answered 200."""
    payload = json.dumps({"msgtype": "m.text", "body": body}).encode()
    started = time.perf_counter()
    status, data = conn.request("PUT", f"/_matrix/client/v3/rooms/{quote(room)}/send/m.room.message/"
                                       f"{uuid.uuid4().hex}", payload, "application/json")
    elapsed = time.perf_counter() - started
    if status != 200:
        raise RuntimeError(f"send → {status}: {data[:300]!r}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=500)
    ap.add_argument("--bank-entries", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = random.Random(args.seed)

    with tempdir("seawall-bench-synapse") as tmp:
        root = Path(tmp)
        server = seawall_server(root / "seawall", root / "seawall.log")
        with server:
            admin = Http(server.port, create_admin_key(server.env))
            submitter_key = run_cli(["apikey", "create", "--role", "submitter", "--name", "synapse"],
                                    server.env).stdout.strip().splitlines()[-1]
            admin.json("POST", "/v1/banks", {"name": "tvec"})
            for i in range(args.bank_entries):
                admin.json("POST", "/v1/banks/tvec/entries", {
                    "signal_type": "sha256", "value": hashlib.sha256(f"banned {i}".encode()).hexdigest()})
            seawall_direct = Http(server.port, submitter_key)

            module = [{"module": "seawall_synapse.SeawallModule",
                       "config": {"seawall_url": server.base, "api_key": submitter_key, "timeout_s": 5.0}}]
            with running_homeservers([(root / "with", module), (root / "without", [])]) as [with_hs, without_hs]:
                rooms, conns = {}, {}
                for name, hs in (("with", with_hs), ("without", without_hs)):
                    user = hs.register("bench")
                    rooms[name] = user.create_room()
                    conns[name] = Http(hs.port, user.token)
                for _ in range(args.warmup):
                    for name in ("with", "without"):
                        send(conns[name], rooms[name], sentence(rng))
                times: dict[str, list[float]] = {"with": [], "without": [], "seawall": []}
                for i in range(args.messages):
                    order = ("with", "without") if i % 2 == 0 else ("without", "with")
                    for name in order:
                        times[name].append(send(conns[name], rooms[name], sentence(rng)))
                    body = json.dumps({"content_id": f"direct-{i}", "account_id": "@bench:localhost",
                                       "text": sentence(rng), "keep": True}).encode()
                    started = time.perf_counter()
                    status, _ = seawall_direct.request("POST", "/v1/items", body, "application/json")
                    times["seawall"].append(time.perf_counter() - started)
                    if status != 200:
                        raise RuntimeError(f"POST /v1/items → {status}")

    def ms(values: list[float], p: float) -> float:
        return percentile(values, p) * 1000

    rows = []
    for label, key in (("Synapse without module", "without"), ("Synapse with Seawall module", "with"),
                       ("Seawall POST /v1/items alone", "seawall")):
        rows.append([label, f"{ms(times[key], 50):.1f}", f"{ms(times[key], 99):.1f}"])
    added50 = ms(times["with"], 50) - ms(times["without"], 50)
    added99 = ms(times["with"], 99) - ms(times["without"], 99)
    rows.append(["added by the module", f"{added50:+.1f}", f"{added99:+.1f}"])
    rows.append(["ratio with / without", f"{ms(times['with'], 50) / ms(times['without'], 50):.2f}×",
                 f"{ms(times['with'], 99) / ms(times['without'], 99):.2f}×"])
    print(f"{machine_summary()}; {args.messages} messages per homeserver, sent one at a time, "
          f"bank of {args.bank_entries} text hashes")
    print(markdown_table(["message send latency", "p50 ms", "p99 ms"], rows))


if __name__ == "__main__":
    main()
