"""Parsing that holds the CPU for long, done in a small pool of worker processes.

A thread keeps such work off the event loop but not off the GIL: while a thread parses a multi-megabyte
JSON body or a rules document at the YAML node limit, every other request of the server waits for the
interpreter, /healthz included. These parsers take bytes or text and give back plain, picklable
values, so they run in separate processes and the server only waits on a pipe.

The pool starts on first use (``spawn``: a worker never inherits the server's threads, sockets or
database connections), has ``SEAWALL_OFFLOAD_WORKERS`` processes (default 1), and is the process's: it
ends with the process, not with an app. A server has one app per process, so nothing changes there; a
process that runs app after app (tests, embedding) no longer starts a fresh interpreter, which imports
Seawall's plugins (over a second of CPU), for every app that parses once. Hash-list imports, which
hold a worker for seconds to minutes, have a pool of their own (one process) so a long import never
queues a rules check or a JSON item behind it. A caller that is not in an event loop (CLI, tests of
the services) keeps calling the parsers directly.
"""

from __future__ import annotations

import asyncio
import atexit
import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from seawall.child_processes import exit_with_parent

T = TypeVar("T")

#: The pools by name: ``parse`` (short parsers, ``SEAWALL_OFFLOAD_WORKERS`` processes) and ``import``.
_pools: dict[str, ProcessPoolExecutor] = {}
_lock = threading.Lock()
PARSE = "parse"
IMPORT = "import"


def workers() -> int:
    """Worker processes in the pool (``SEAWALL_OFFLOAD_WORKERS``, at least 1)."""
    try:
        return max(1, int(os.environ.get("SEAWALL_OFFLOAD_WORKERS", "1")))
    except ValueError:
        return 1


def _executor(name: str) -> ProcessPoolExecutor:
    with _lock:
        pool = _pools.get(name)
        if pool is None:
            size = workers() if name == PARSE else 1
            pool = _pools[name] = ProcessPoolExecutor(max_workers=size, mp_context=multiprocessing.get_context("spawn"),
                                                      initializer=exit_with_parent, initargs=(os.getpid(),))
        return pool


def _forget(name: str) -> None:
    with _lock:
        pool = _pools.pop(name, None)
    if pool is not None:
        pool.shutdown(wait=False)


async def run(fn: Callable[..., T], *args: Any, pool: str = PARSE) -> T:
    """``fn(*args)`` in a worker process of ``pool``; a pool broken by a killed worker is replaced once."""
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(_executor(pool), fn, *args)
    except BrokenProcessPool:
        _forget(pool)
        return await loop.run_in_executor(_executor(pool), fn, *args)


def call(fn: Callable[..., T], *args: Any, pool: str = PARSE) -> T:
    """``fn(*args)`` in a worker process of ``pool``, waited for in the calling thread: for a server's
    background thread (never the event loop, which uses :func:`run`). A broken pool is replaced once."""
    try:
        return _executor(pool).submit(fn, *args).result()
    except BrokenProcessPool:
        _forget(pool)
        return _executor(pool).submit(fn, *args).result()


@atexit.register
def shutdown() -> None:
    """Stop the workers (at process exit, or when a test wants fresh ones); the next ``run`` starts new pools."""
    with _lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.shutdown(wait=False)  # work already handed over still finishes (another app may wait on it)


# --- the parsers (module-level functions of plain values, so a worker process can run them) ---------------

def check_rules(source: str) -> tuple[list[str], list[tuple[int, str]]]:
    """Parse and check a rules document against the process-wide plugin registry.

    Returns the rule ids and no errors, or no ids and every error as (line, message).
    """
    from seawall.plugins import registry
    from seawall.rules.language import RulesInvalid, parse_rules

    try:
        rules = parse_rules(source, registry().action_types)
    except RulesInvalid as exc:
        return [], [(e.line, e.message) for e in exc.errors]
    return [r.id for r in rules.rules], []


def parse_json_item(body: bytes) -> tuple[Any, str]:
    """A JSON text item as ``ItemText``, or ``None`` and the first validation error as a sentence."""
    from seawall.api.schemas import ItemText

    try:
        return ItemText.model_validate_json(body), ""
    except ValueError as exc:
        return None, first_error(exc)


def first_error(exc: ValueError) -> str:
    """``field: message`` for the first error pydantic found (the API's 422 sentence)."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        errs = errors()
        if errs:
            loc = ".".join(str(p) for p in errs[0].get("loc", ())) or "body"
            return f"{loc}: {errs[0].get('msg', 'invalid')}"
    return "the JSON body is invalid"
