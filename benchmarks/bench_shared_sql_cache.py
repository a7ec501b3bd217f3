"""What a test's engine, app and few requests cost with and without one SQL compile cache per process.

The test process builds hundreds of SQLite engines; ``tests/shared_sql_cache.py`` gives them one dialect
and compiled-statement cache. This builds an engine on a copied migrated store, an app and a TestClient,
creates a key and sends four requests, closing everything; rounds with Seawall's own ``make_engine`` and
with the shared one alternate in one process so machine load hits both alike. It prints the median CPU
milliseconds of a round each way and their ratio (the figure to compare across machines).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

os.environ.setdefault("SEAWALL_PASSWORD_HASH_PROFILE", "cheapest")
os.environ.setdefault("SEAWALL_GC_FREEZE", "false")
os.environ.setdefault("SEAWALL_WARM_UP", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastapi.testclient import TestClient
from tests import shared_sql_cache

import seawall.store.db as store_db
from seawall.api.app import create_app
from seawall.composition import build_engine
from seawall.config import Settings


def one_round(template: Path, tmp: Path) -> float:
    started = time.process_time()
    data = tmp / uuid.uuid4().hex
    data.mkdir()
    shutil.copyfile(template, data / "seawall.db")
    engine = build_engine(Settings(data_dir=data))
    app = create_app(engine=engine, follow_writes=False)
    key = engine.api_keys.create("admin", "bench")[0]
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        assert client.post("/v1/banks", json={"name": "b"}, headers=headers).status_code == 201
        assert client.post("/v1/items", json={"content_type": "text", "text": "hello"}, headers=headers).status_code
        assert client.get("/v1/banks", headers=headers).status_code == 200
    engine.close()
    spent = time.process_time() - started
    shutil.rmtree(data, ignore_errors=True)
    return spent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=40)
    args = ap.parse_args()
    ways = {"own cache per engine": store_db.make_engine, "one shared cache": shared_sql_cache.make_engine}
    spent: dict[str, list[float]] = {name: [] for name in ways}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        template = tmp / "template.db"
        store_db.upgrade(f"sqlite:///{template}")
        for make in ways.values():  # imports and first-use caches, both ways
            store_db.make_engine = make
            one_round(template, tmp)
        for _ in range(args.rounds):
            for name, make in ways.items():
                store_db.make_engine = make
                spent[name].append(one_round(template, tmp))
    medians = {name: statistics.median(values) * 1000 for name, values in spent.items()}
    for name, ms in medians.items():
        print(f"{name:<24}{ms:8.1f} CPU ms a round (median of {args.rounds})")
    own, shared = medians.values()
    print(f"ratio own / shared: {own / shared:.2f}x")


if __name__ == "__main__":
    main()
