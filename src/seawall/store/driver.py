"""A database URL opened with its driver alone (``sqlite3`` or ``psycopg``), without SQLAlchemy.

Why: ``seawall bank list`` and ``seawall apikey create`` read or write a row or two, and importing
SQLAlchemy cost more than their whole work. This module turns the URLs those commands meet in practice
into the very connection arguments SQLAlchemy's ``pysqlite`` and ``psycopg`` dialects would pass (a
test compares the two), and opens SQLite with the same pragmas :func:`seawall.store.db.make_engine`
sets, which takes them from here. Any other URL (another driver, SQLite URI options, several hosts)
gives ``None`` and the caller uses SQLAlchemy as before.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

#: Seconds a SQLite connection waits for another writer before giving up.
SQLITE_TIMEOUT_S = 30
#: Run on every new SQLite connection: WAL so the API and a CLI import share the file, foreign keys on.
SQLITE_PRAGMAS: tuple[str, ...] = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=30000",
)

_SQLITE_SCHEMES = ("sqlite", "sqlite+pysqlite")
_POSTGRES_SCHEMES = ("postgresql", "postgresql+psycopg")


@dataclass(frozen=True, slots=True)
class DriverTarget:
    """Where a driver connects: a SQLite file, or ``psycopg.connect`` keyword arguments."""

    dialect: Literal["sqlite", "postgresql"]
    sqlite_path: str = ""
    pg_args: dict[str, Any] = field(default_factory=dict)


def driver_target(url: str) -> DriverTarget | None:
    """What the driver needs for ``url``, or None for a URL left to SQLAlchemy."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return None
    if scheme in _SQLITE_SCHEMES:
        return _sqlite_target(rest)
    if scheme in _POSTGRES_SCHEMES:
        return _postgres_target(url)
    return None


def _sqlite_target(rest: str) -> DriverTarget | None:
    if not rest.startswith("/") or "?" in rest or "#" in rest:
        return None  # a host part, URI options or an in-memory store
    database = unquote(rest[1:])
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return DriverTarget("sqlite", sqlite_path=os.path.abspath(database))


def _postgres_target(url: str) -> DriverTarget | None:
    parts = urlsplit(url)
    if parts.netloc.count("@") > 1 or "," in parts.netloc or parts.fragment:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    query = parse_qsl(parts.query, keep_blank_values=True)
    if len({k for k, _ in query}) != len(query):
        return None  # repeated keys (several hosts): SQLAlchemy joins them
    args: dict[str, Any] = {}
    if parts.hostname:
        host = parts.netloc.rpartition("@")[2]
        host = host[1:host.index("]")] if host.startswith("[") else host.partition(":")[0]
        args["host"] = unquote(host)
    database = unquote(parts.path[1:]) if parts.path.startswith("/") else ""
    for key, value in (("dbname", database), ("user", parts.username), ("password", parts.password)):
        if value:
            args[key] = unquote(value)
    if port is not None:
        args["port"] = port
    args.update(query)
    return DriverTarget("postgresql", pg_args=args)


def driver_errors(target: DriverTarget) -> tuple[type[Exception], ...]:
    """The exceptions the target's driver raises for a failed connection or statement."""
    if target.dialect == "sqlite":
        import sqlite3

        return (sqlite3.Error,)
    import psycopg

    return (psycopg.Error,)


def connect(target: DriverTarget) -> Any:
    """A DB-API connection (not in autocommit); SQLite gets the pragmas :func:`make_engine` sets."""
    if target.dialect == "sqlite":
        import sqlite3

        Path(target.sqlite_path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(target.sqlite_path, timeout=SQLITE_TIMEOUT_S)
        try:
            for pragma in SQLITE_PRAGMAS:
                conn.execute(pragma)
        except BaseException:
            conn.close()
            raise
        return conn
    import psycopg

    return psycopg.connect(**target.pg_args)
