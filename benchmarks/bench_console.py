"""Review console at scale: queue and case pages with 100,000 open cases over 1,000,000 items.

Why: a lead opens the queue many times an hour and every reviewer opens a case per decision; with a
backlog after a crisis both must stay fast. The queue is filtered and ordered by the database
(:mod:`seawall.review.search`) and only one page comes back. The peer, measured in the same run on
the same data, is what the console did before: read the 2,000 most urgent rows and order them by the
score in Python — the ratio is what travels between machines.

    .venv/bin/python benchmarks/bench_console.py [--items 1000000] [--cases 100000] [--repeat 60] \
        [--database postgres|sqlite]

Data is generated inside the database (PostgreSQL's ``generate_series``, a recursive series on SQLite;
no content, no hashes of anything real) in a throwaway database; pages are requested in-process through
the ASGI app, so the time measured is server time (routing, session check, queries, template), not the
network.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine_summary, markdown_table, percentile, postgres_database, time_per_call


def _fill(url: str, items: int, cases: int) -> float:
    """Items, matches for every case's item, open cases across tiers and kinds; seconds taken."""
    import sqlalchemy as sa

    t0 = time.perf_counter()
    eng = sa.create_engine(url)
    if eng.dialect.name == "sqlite":
        _fill_sqlite(eng, items, cases)
        eng.dispose()
        return time.perf_counter() - t0
    with eng.begin() as c:
        c.execute(sa.text("""
            INSERT INTO banks (name, description, kind, default_action, labels, thresholds, enabled, created_at,
                               updated_at)
            VALUES ('watch', '', 'block', 'review', '["behaviour:glorification"]', '{}', true, now(), now())"""))
        c.execute(sa.text(f"""
            INSERT INTO items (id, content_id, account_id, content_type, received_at, size_bytes, signals, verdict,
                               reasons, submitted_by, status, error, reach)
            SELECT md5(i::text), 'post-' || i, 'acct-' || (i % 50000), 'image',
                   now() - (i || ' seconds')::interval, 1000, '[]', 'review', '[]', NULL, 'complete', NULL,
                   CASE WHEN i % 3 = 0 THEN NULL ELSE (i::bigint * 7919) % 1000000 END
            FROM generate_series(1, {items}) AS i"""))
        c.execute(sa.text(f"""
            INSERT INTO matches (item_id, bank_id, bank_name, bank_kind, entry_id, signal_type, distance, labels,
                                 action, variant)
            SELECT md5(i::text), 1, 'watch', 'block', i % 5000 + 1, 'pdq', i % 20,
                   CASE WHEN i % 4 = 0 THEN '["behaviour:recruitment"]' ELSE '["behaviour:glorification"]' END::jsonb,
                   'review', NULL
            FROM generate_series(1, {cases}) AS i"""))
        c.execute(sa.text(f"""
            INSERT INTO cases (item_id, reason, source, priority, status, assignee_id, created_at, sla_due_at,
                               decided_at, kind, queue, report_count, appeal_id, assigned_at)
            SELECT md5(i::text), 'rule bank-review', 'queue', (i % 4) * 10 + 1 + i % 5, 'open', NULL,
                   now() - (i || ' seconds')::interval, now() + ((72 - i % 80) || ' hours')::interval, NULL,
                   CASE WHEN i % 10 = 0 THEN 'report' ELSE 'review' END,
                   CASE WHEN i % 25 = 0 THEN 'senior' ELSE 'standard' END, i % 3, NULL, NULL
            FROM generate_series(1, {cases}) AS i"""))
        from seawall.store.case_tags import backfill_case_tags

        backfill_case_tags(c)  # the bulk load bypasses open_case, so tag the cases as the migration does
        c.execute(sa.text("ANALYZE"))
    eng.dispose()
    return time.perf_counter() - t0


def _fill_sqlite(eng: Any, items: int, cases: int) -> None:
    """The same rows as on PostgreSQL, from a recursive series (SQLite has no ``generate_series``)."""
    import sqlalchemy as sa

    def series(n: int) -> str:
        return f"WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < {n}) "

    def ago(expr: str) -> str:  # SQLAlchemy's SQLite DateTime text form
        return f"strftime('%Y-%m-%d %H:%M:%S', 'now', {expr}) || '.000000'"

    key = "printf('%032x', i)"
    with eng.begin() as c:
        c.execute(sa.text("""
            INSERT INTO banks (name, description, kind, default_action, labels, thresholds, enabled, created_at,
                               updated_at)
            VALUES ('watch', '', 'block', 'review', '["behaviour:glorification"]', '{}', 1,
                    strftime('%Y-%m-%d %H:%M:%S', 'now') || '.000000',
                    strftime('%Y-%m-%d %H:%M:%S', 'now') || '.000000')"""))
        c.execute(sa.text(series(items) + f"""
            INSERT INTO items (id, content_id, account_id, content_type, received_at, size_bytes, signals, verdict,
                               reasons, submitted_by, status, error, reach)
            SELECT {key}, 'post-' || i, 'acct-' || (i % 50000), 'image', {ago("'-' || i || ' seconds'")}, 1000,
                   '[]', 'review', '[]', NULL, 'complete', NULL,
                   CASE WHEN i % 3 = 0 THEN NULL ELSE (i * 7919) % 1000000 END
            FROM g"""))
        c.execute(sa.text(series(cases) + f"""
            INSERT INTO matches (item_id, bank_id, bank_name, bank_kind, entry_id, signal_type, distance, labels,
                                 action, variant)
            SELECT {key}, 1, 'watch', 'block', i % 5000 + 1, 'pdq', i % 20,
                   CASE WHEN i % 4 = 0 THEN '["behaviour:recruitment"]' ELSE '["behaviour:glorification"]' END,
                   'review', NULL
            FROM g"""))
        c.execute(sa.text(series(cases) + f"""
            INSERT INTO cases (item_id, reason, source, priority, status, assignee_id, created_at, sla_due_at,
                               decided_at, kind, queue, report_count, appeal_id, assigned_at)
            SELECT {key}, 'rule bank-review', 'queue', (i % 4) * 10 + 1 + i % 5, 'open', NULL,
                   {ago("'-' || i || ' seconds'")}, {ago("(72 - i % 80) || ' hours'")}, NULL,
                   CASE WHEN i % 10 = 0 THEN 'report' ELSE 'review' END,
                   CASE WHEN i % 25 = 0 THEN 'senior' ELSE 'standard' END, i % 3, NULL, NULL
            FROM g"""))
        from seawall.store.case_tags import backfill_case_tags

        backfill_case_tags(c)
        c.execute(sa.text("ANALYZE"))


@contextmanager
def sqlite_database() -> Iterator[str]:
    """A throwaway SQLite file, removed afterwards; yields its SQLAlchemy URL."""
    with tempfile.TemporaryDirectory(prefix="seawall_bench_console_") as d:
        yield f"sqlite:///{d}/seawall.db"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=60)
    ap.add_argument("--database", choices=("postgres", "sqlite"), default="postgres")
    args = ap.parse_args()

    from fastapi.testclient import TestClient
    from sqlalchemy import select

    from seawall.api.app import create_app
    from seawall.composition import build_engine, report_service, review_service
    from seawall.config import Settings
    from seawall.review.search import CaseFilter
    from seawall.review.users import ConsoleUsers
    from seawall.store.tables import CaseRow, ItemRow, utcnow

    sha = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"git {sha} · {machine_summary()}")
    print("load before:", Path("/proc/loadavg").read_text().strip())
    print("database:", args.database)
    place = sqlite_database() if args.database == "sqlite" else postgres_database("seawall_bench_console")
    with place as url:
        engine = build_engine(Settings(database_url=url))
        try:
            seconds = _fill(url, args.items, args.cases)
            print(f"generated {args.items:,} items and {args.cases:,} open cases in {seconds:.0f} s")
            ConsoleUsers(engine.db).create("lead", "correct horse battery", "senior")
            review = review_service(engine)

            def naive_queue() -> None:
                """The peer: the 2,000 most urgent rows, scored and sorted in Python (the old queue)."""
                now = utcnow()
                q = (select(CaseRow, ItemRow.reach).join(ItemRow, ItemRow.id == CaseRow.item_id)
                     .where(CaseRow.status != "decided").order_by(CaseRow.priority.desc(), CaseRow.created_at)
                     .limit(2000))
                with engine.db.session() as s:
                    views = [review._view(s, r, reach=reach) for r, reach in s.execute(q).all()]
                views.sort(key=lambda v: (-v.score(now).value, v.created_at, v.id))

            def old_label_filter() -> None:
                """The peer for the filters: bank + label looked up in every match's JSON labels (the old query)."""
                from sqlalchemy import String, cast, exists

                from seawall.review.search import case_query
                from seawall.store.tables import MatchRow

                m = select(MatchRow.id).where(MatchRow.item_id == CaseRow.item_id, MatchRow.bank_name == "watch",
                                              cast(MatchRow.labels, String).like('%"behaviour:recruitment"%'))
                q = case_query(review_filter()).where(exists(m))
                with engine.db.session() as s:
                    s.execute(q.limit(100)).all()

            with TestClient(create_app(engine=engine, follow_writes=False)) as client:
                page = client.get("/console/login")
                import re

                csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
                assert csrf
                r = client.post("/console/login", data={"username": "lead", "password": "correct horse battery",
                                                        "csrf_token": csrf.group(1)}, follow_redirects=False)
                assert r.status_code == 303, r.text
                some_case = review.search(review_filter(), limit=1)[0].id

                lead = ConsoleUsers(engine.db).by_name("lead")
                assert lead is not None

                def case_reads() -> None:
                    """The case page's reads as the page does them now: one transaction."""
                    from seawall.review.case_page import read_case_page

                    read_case_page(review, engine.accounts, some_case, lead)

                def old_case_reads() -> None:
                    """The peer: the same reads with a session per question, as the case page did them before."""
                    from seawall.review.access import ensure_case_open_to
                    from seawall.review.context import case_context
                    from seawall.sharing.provenance import provenance

                    ensure_case_open_to(review.db, some_case, lead)
                    case = review.get(some_case)
                    item = engine.items.get(case.item_id)
                    case_context(engine.db, engine.accounts, item)
                    review.revealed(some_case, lead)
                    provenance(engine.db, [m.entry_id for m in item.verdict.matches])
                    report_service(engine).for_case(some_case)
                    review.cluster(some_case, lead)
                    review.exposure_today(lead.username)

                def get(path: str) -> None:
                    resp = client.get(path)
                    assert resp.status_code == 200, (path, resp.status_code)

                runs = {
                    "queue page (priority)": lambda: get("/console/queue"),
                    "queue page, bank + label filter": lambda: get(
                        "/console/queue?bank=watch&label=behaviour:recruitment"),
                    "queue page, overdue by SLA": lambda: get("/console/queue?sla=red&sort=sla"),
                    "queue page, one account": lambda: get("/console/queue?account_id=acct-77"),
                    "case page": lambda: get(f"/console/cases/{some_case}"),
                    "case page reads, one transaction (service)": case_reads,
                    "peer: case page reads, a session per question (service)": old_case_reads,
                    "API GET /v1/cases?limit=50 (service)": lambda: review.search(review_filter(), limit=50),
                    "API bank + label filter, limit=50 (service)": lambda: review.search(
                        CaseFilter(bank="watch", label="behaviour:recruitment"), limit=50),
                    "peer: old bank + label filter (matches' JSON, 100 rows, query only)": old_label_filter,
                    "peer: old queue read (2,000 rows scored in Python, no page)": naive_queue,
                }
                if importlib.util.find_spec("seawall.review.case_page") is None:  # sources before it existed
                    del runs["case page reads, one transaction (service)"]
                rows = []
                results = {}
                for name, fn in runs.items():
                    samples = time_per_call(fn, repeat=args.repeat, warmup=3)
                    results[name] = samples
                    rows.append((name, f"{percentile(samples, 50) * 1000:.1f} ms",
                                 f"{percentile(samples, 95) * 1000:.1f} ms"))
            print(markdown_table(("request", "p50 server time", "p95 server time"), rows))
            peer = percentile(results["peer: old queue read (2,000 rows scored in Python, no page)"], 95)
            mine = percentile(results["API GET /v1/cases?limit=50 (service)"], 95)
            print(f"ratio (peer p95 / case search p95): {peer / mine:.1f}x")
            if "case page reads, one transaction (service)" in results:
                peer = percentile(results["peer: case page reads, a session per question (service)"], 95)
                mine = percentile(results["case page reads, one transaction (service)"], 95)
                print(f"ratio (case reads, session per question p95 / one transaction p95): {peer / mine:.1f}x")
            peer = percentile(results["peer: old bank + label filter (matches' JSON, 100 rows, query only)"], 95)
            mine = percentile(results["API bank + label filter, limit=50 (service)"], 95)
            print(f"ratio (old label filter p95 / tagged label filter p95): {peer / mine:.1f}x")
        finally:
            engine.close()
    print("load after:", Path("/proc/loadavg").read_text().strip())


def review_filter() -> object:
    from seawall.review.search import CaseFilter

    return CaseFilter()


if __name__ == "__main__":
    main()
