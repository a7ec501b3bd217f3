"""One SQLAlchemy dialect and compiled-statement cache for every SQLite engine a test process builds.

SQLAlchemy caches each statement's compiled SQL per engine, keyed by the engine's dialect object. A
serving process builds one engine and compiles each statement once; a test process builds hundreds
(every test's store, app and client), so each test compiled the start-up queries, the API key look-up
and every route's statements again: 61 against 48 CPU ms for an engine, app, key and four requests
(``benchmarks/bench_shared_sql_cache.py``, ``benchmarks/results/2026-12-03-h-fast-shared-sql-cache.txt``).

Here every SQLite engine built through :func:`seawall.store.db.make_engine` is given the dialect and
the cache of one in-process prototype engine after it is made. Nothing else changes: each engine keeps
its own URL, pool, connections and ``connect`` hooks (WAL, foreign keys, busy timeout), and a
pysqlite dialect holds no per-database state (its settings come from the SQLite library, which is the
same for every engine in the process). PostgreSQL engines are left as Seawall builds them.
"""

from __future__ import annotations

import threading

from sqlalchemy import Engine, create_engine

import seawall.store.db as store_db

#: Room for the distinct statements of a whole test run (SQLAlchemy's per-engine default is 500).
CACHE_SIZE = 5000

_shipped = store_db.make_engine
_lock = threading.Lock()
_prototype: list[Engine] = []


def _shared() -> Engine:
    """The engine whose dialect and cache every SQLite engine uses: connected once so its dialect is
    initialised (server version, capabilities) before any other engine runs a statement through it."""
    with _lock:
        if not _prototype:
            engine = create_engine("sqlite://", query_cache_size=CACHE_SIZE)
            with engine.connect():
                pass
            _prototype.append(engine)
        return _prototype[0]


def make_engine(url: str, options: dict[str, bool] | None = None) -> Engine:
    """:func:`seawall.store.db.make_engine`, then the shared dialect and compiled cache for SQLite."""
    engine = _shipped(url, options)
    if engine.dialect.name != "sqlite":
        return engine
    shared = _shared()
    engine.dialect = shared.dialect
    engine.pool._dialect = shared.dialect
    engine._compiled_cache = shared._compiled_cache
    return engine


def install() -> None:
    """Route every engine this process builds through :func:`make_engine` (idempotent)."""
    store_db.make_engine = make_engine
