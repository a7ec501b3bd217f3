"""What a test's store costs: migrating a fresh database versus copying a migrated template.

The test fixtures (tests/conftest.py) copy a migrated SQLite file and create PostgreSQL databases
``… TEMPLATE`` a migrated one; this measures both ways, interleaved in the same run so machine load
hits them alike, and prints the ratio (the figure to compare across machines).
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from seawall.store.db import upgrade

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/{}"


def sqlite_fresh(tmp: Path) -> None:
    upgrade(f"sqlite:///{tmp / uuid.uuid4().hex}.db")


def sqlite_copy(template: Path, tmp: Path) -> None:
    target = tmp / f"{uuid.uuid4().hex}.db"
    shutil.copyfile(template, target)
    with sqlite3.connect(target) as conn:
        conn.execute("UPDATE store_identity SET store_id = ? WHERE id = 1", (uuid.uuid4().hex,))
    conn.close()
    upgrade(f"sqlite:///{target}")  # what build_engine(settings) does: a version check at head


def pg_fresh(names: list[str]) -> None:
    name = f"seawall_bench_{uuid.uuid4().hex[:12]}"
    names.append(name)
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    upgrade(PG_URL.format(name))


def pg_copy(template: str, names: list[str]) -> None:
    name = f"seawall_bench_{uuid.uuid4().hex[:12]}"
    names.append(name)
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    upgrade(PG_URL.format(name))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    times: dict[str, list[float]] = {"sqlite fresh": [], "sqlite copy": [], "pg fresh": [], "pg template": []}
    names: list[str] = []
    template_pg = f"seawall_bench_tmpl_{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        template = tmp / "template.db"
        upgrade(f"sqlite:///{template}")
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{template_pg}"')
        upgrade(PG_URL.format(template_pg))
        try:
            for _ in range(args.rounds):
                for label, fn in (("sqlite fresh", lambda: sqlite_fresh(tmp)),
                                  ("sqlite copy", lambda: sqlite_copy(template, tmp)),
                                  ("pg fresh", lambda: pg_fresh(names)),
                                  ("pg template", lambda: pg_copy(template_pg, names))):
                    t = time.perf_counter()
                    fn()
                    times[label].append(time.perf_counter() - t)
        finally:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                for name in [*names, template_pg]:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{'store':<14} {'median s':>9}   (rounds: {args.rounds}, interleaved)")
    for k, v in med.items():
        print(f"{k:<14} {v:>9.3f}")
    print(f"sqlite: copying the template is {med['sqlite fresh'] / med['sqlite copy']:.1f}x faster than migrating")
    print(f"postgres: CREATE DATABASE … TEMPLATE is {med['pg fresh'] / med['pg template']:.1f}x faster than migrating")


if __name__ == "__main__":
    main()
