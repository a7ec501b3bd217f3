"""What each step of a test's engine-and-client fixture costs in CPU, so the fixed per-test cost can be cut.

Every API test builds an engine on a copied SQLite store, an app, and a TestClient; the fast test loop
runs hundreds of them, so a few tens of milliseconds per step add up to minutes. This times each step
(process CPU, which includes the TestClient portal thread and engine threads) over a number of rounds
and prints the median per step.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import shutil
import sqlite3
import statistics
import tempfile
import time
import uuid
from pathlib import Path

os.environ.setdefault("SEAWALL_PASSWORD_HASH_PROFILE", "cheapest")
os.environ.setdefault("SEAWALL_GC_FREEZE", "false")
os.environ.setdefault("SEAWALL_WARM_UP", "false")

from fastapi.testclient import TestClient

from seawall.api.app import create_app
from seawall.composition import build_engine
from seawall.config import Settings
from seawall.review.users import ConsoleUsers
from seawall.store.db import upgrade

PASSWORD = "correct horse battery staple"
STEPS = ("template copy", "build_engine", "create_app", "client enter", "first request",
         "console page", "console user", "console login", "client exit", "engine close")


def one_round(template: Path, tmp: Path, cpu: dict[str, list[float]], wall: dict[str, list[float]]) -> None:
    data = tmp / uuid.uuid4().hex
    marks: list[tuple[str, float, float]] = []

    def mark(label: str) -> None:
        marks.append((label, time.process_time(), time.perf_counter()))

    mark("")
    data.mkdir()
    shutil.copyfile(template, data / "seawall.db")
    with sqlite3.connect(data / "seawall.db") as conn:
        conn.execute("UPDATE store_identity SET store_id = ? WHERE id = 1", (uuid.uuid4().hex,))
    conn.close()
    mark("template copy")
    engine = build_engine(Settings(data_dir=data))
    mark("build_engine")
    app = create_app(engine=engine, follow_writes=False)
    mark("create_app")
    client = TestClient(app)
    client.__enter__()
    mark("client enter")
    client.get("/healthz")
    mark("first request")
    page = client.get("/console/login")
    mark("console page")
    ConsoleUsers(engine.db).create("reviewer", PASSWORD, "reviewer")
    mark("console user")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    r = client.post("/console/login", data={"username": "reviewer", "password": PASSWORD, "csrf_token": csrf.group(1)},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    client.get("/console/queue")
    mark("console login")
    client.__exit__(None, None, None)
    mark("client exit")
    engine.close()
    mark("engine close")
    for (_, c0, w0), (label, c1, w1) in itertools.pairwise(marks):
        cpu[label].append(c1 - c0)
        wall[label].append(w1 - w0)
    shutil.rmtree(data, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    cpu: dict[str, list[float]] = {s: [] for s in STEPS}
    wall: dict[str, list[float]] = {s: [] for s in STEPS}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        template = tmp / "template.db"
        upgrade(f"sqlite:///{template}")
        one_round(template, tmp, {s: [] for s in STEPS}, {s: [] for s in STEPS})  # imports, first-use caches
        for _ in range(args.rounds):
            one_round(template, tmp, cpu, wall)
    print(f"{'step':<16}{'cpu ms (median)':>18}{'wall ms (median)':>18}")
    for s in STEPS:
        print(f"{s:<16}{statistics.median(cpu[s]) * 1000:>18.1f}{statistics.median(wall[s]) * 1000:>18.1f}")
    total_cpu = sum(statistics.median(cpu[s]) for s in STEPS)
    print(f"{'total':<16}{total_cpu * 1000:>18.1f}")


if __name__ == "__main__":
    main()
