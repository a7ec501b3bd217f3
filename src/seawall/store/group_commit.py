"""Group commit: writes from concurrent requests share one transaction, and so one commit.

Why: a text item is decided in well under a millisecond, and then most of its time went into its own
transaction (session set-up, BEGIN, the commit and, on SQLite, the single writer lock that every other
request queues behind). Requests that arrive together now hand their writes to one of them (the
leader), which runs them in one transaction and commits once.

What stays as it was:

- one request = one durable item: :meth:`GroupCommit.run` returns only after the transaction holding
  that request's write committed, so a 200 still means the item is stored;
- each request gets its own outcome: when a write in a group fails, the group is rolled back and every
  write of it is run again in a transaction of its own, so only the failing one sees its error (a
  ``once`` re-send that hits the unique key gets its IntegrityError exactly as before);
- rows a write hands over as ``first`` are inserted before any write of its group runs, one INSERT per
  statement for the whole group (a multi-row INSERT on PostgreSQL, one ``executemany`` on SQLite),
  instead of one statement per request; a failure in them is regrouped like any other;
- a group whose writes are only ``first`` rows (``write`` is None: a plain text item) runs them on a Core
  connection, without an ORM session: the session's set-up, its transaction bookkeeping and its close
  cost about as much as the group's statements once the rows are pooled;
- an async caller (:meth:`GroupCommit.run_async`, a request decided on the event loop) waits for its
  commit without holding a thread: a committer thread leads the groups such writes start, and the
  event loop only takes the queue's lock for a moment, never waits on the database;
- a request that is alone is not held back: the leader waits (at most ``max_wait_s``) only while
  other requests have announced that a write is on its way (:meth:`GroupCommit.arriving`).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from seawall.store.db import Database

R = TypeVar("R")

#: Largest number of writes in one transaction (``SEAWALL_GROUP_COMMIT_MAX_BATCH``).
DEFAULT_MAX_BATCH = 32
#: Longest a leader waits for writes that are on their way (``SEAWALL_GROUP_COMMIT_MAX_WAIT_MS``).
DEFAULT_MAX_WAIT_S = 0.002
#: Seconds the committer thread stays without work before it ends.
COMMITTER_IDLE_S = 30.0


@dataclass(eq=False)
class _Write(Generic[R]):
    """One request's write, waiting for the transaction that carries it."""

    #: None: the write is its ``first`` rows alone (its result is then None).
    write: Callable[[Session], R] | None
    first: Sequence[tuple[Executable, dict[str, Any]]] = ()
    #: For a synchronous caller: set when its group committed, or for it to lead the next group.
    done: threading.Event | None = None
    lead: bool = False
    result: Any = None
    error: BaseException | None = None
    #: For an async caller: its loop and the future it awaits, settled from the committing thread (one
    #: hand-over to the loop per group, see :func:`_settle_on_loops`).
    loop: asyncio.AbstractEventLoop | None = None
    future: asyncio.Future[Any] | None = None


@dataclass(frozen=True, slots=True)
class GroupStats:
    """Counters for ``/metrics`` and benchmarks: how much grouping actually happened."""

    transactions: int
    writes: int
    regrouped_failures: int
    #: Writes handed over by :meth:`GroupCommit.run_async` (requests decided on the event loop).
    awaited: int = 0


class GroupCommit:
    """Runs writes of concurrent callers in shared transactions (leader/follower; one committer thread,
    started on first use, leads for async callers)."""

    def __init__(self, db: Database, *, max_batch: int = DEFAULT_MAX_BATCH,
                 max_wait_s: float = DEFAULT_MAX_WAIT_S, core_groups: bool = True) -> None:
        """``core_groups=False`` runs every transaction in an ORM session, also for writes that are only
        ``first`` rows (tests compare the rows stored either way)."""
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.db = db
        self.core_groups = core_groups
        self.max_batch = max_batch
        self.max_wait_s = max(0.0, max_wait_s)
        lock = threading.RLock()
        self._cond = threading.Condition(lock)
        #: The committer thread waits on this one (same lock), so the queue's wake-ups do not stir it.
        self._committer_cv = threading.Condition(lock)
        self._queue: list[_Write[Any]] = []
        self._leading = False
        self._arriving = 0
        self._transactions = 0
        self._writes = 0
        self._failures = 0
        self._awaited = 0
        self._committer: threading.Thread | None = None
        self._committer_due = False

    @contextmanager
    def arriving(self) -> Iterator[None]:
        """Mark a request that will call :meth:`run` (held from before it decides until its write returned).

        A leader waits while fewer writes are queued than requests are marked, so writes that are on
        their way join its group instead of paying for a transaction of their own.
        """
        with self._cond:
            self._arriving += 1
        try:
            yield
        finally:
            with self._cond:
                self._arriving -= 1
                self._notify_leader()

    def _notify_leader(self) -> None:
        """Wake a leader waiting for announced writes, only once it has what it waits for (called holding
        ``_cond``).

        Why: a leader waits while fewer writes are queued than requests announced (see :meth:`_lead`); waking
        it at every arrival made it take the lock and the interpreter lock once per request only to sleep
        again. It now wakes once, when the group is complete (or at its deadline, as before).
        """
        if len(self._queue) >= min(self.max_batch, self._arriving):
            self._cond.notify_all()

    def stats(self) -> GroupStats:
        with self._cond:
            return GroupStats(self._transactions, self._writes, self._failures, self._awaited)

    def run(self, write: Callable[[Session], R] | None,
            first: Sequence[tuple[Executable, dict[str, Any]]] = ()) -> R | None:
        """Run ``write`` in a transaction (shared with concurrent callers); return its result once committed.

        ``first``: (INSERT statement, row) pairs executed before ``write`` in the same transaction; a
        group runs each statement once with the rows of all its writes, in the order they came, so rows
        that the writes refer to (an item before its decision) are there when they run. Pass the same
        statement object for the same table: rows are pooled by statement identity.

        ``write`` may be run twice (once in a group that failed and was rolled back, then alone), so it
        must only touch the session it is given. ``write`` None: nothing but the ``first`` rows (result None).
        """
        if self.max_batch == 1:
            return self._alone(_Write(write, first))
        done = threading.Event()
        mine: _Write[R | None] = _Write(write, first, done)
        with self._cond:
            self._queue.append(mine)
            if not self._leading:
                self._leading = mine.lead = True
            self._notify_leader()
        if not mine.lead:
            done.wait()  # set when the group holding this write committed, or to lead the next group
        if mine.lead:
            self._lead()
        if mine.error is not None:
            raise mine.error
        return mine.result

    async def run_async(self, write: Callable[[Session], R] | None,
                        first: Sequence[tuple[Executable, dict[str, Any]]] = ()) -> R | None:
        """:meth:`run` for a caller on an event loop: the same grouping and outcome, awaited, not blocked on.

        The write is queued (a moment under the queue's lock); a thread of the group commit (the
        committer, or a synchronous caller leading a group) runs it and hands the outcome back to the
        loop. Cancelling the await does not take the write back: it still commits.
        """
        if self.max_batch == 1:
            return await asyncio.to_thread(self._alone, _Write(write, first))
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R | None] = loop.create_future()
        mine: _Write[R | None] = _Write(write, first, loop=loop, future=future)
        with self._cond:
            self._awaited += 1
            self._queue.append(mine)
            if not self._leading:
                self._leading = True
                self._wake_committer()
            self._notify_leader()
        return await future

    def _wake_committer(self) -> None:
        """Have the committer thread lead the next group (called holding ``_cond``)."""
        self._committer_due = True
        if self._committer is None:
            self._committer = threading.Thread(target=self._commit_loop, name="seawall-group-commit", daemon=True)
            self._committer.start()
        self._committer_cv.notify()

    def _commit_loop(self) -> None:
        while True:
            with self._cond:
                while not self._committer_due:
                    if not self._committer_cv.wait(COMMITTER_IDLE_S) and not self._committer_due:
                        self._committer = None  # idle: the next async write starts another
                        return
                self._committer_due = False
            try:
                self._lead()
            except BaseException:  # pragma: no cover - _lead hands every error to its caller
                continue

    # --- the leader ------------------------------------------------------------------------------
    def _lead(self) -> None:
        deadline = time.monotonic() + self.max_wait_s
        with self._cond:
            # wait for writes announced by requests still deciding, while there is room and time
            while len(self._queue) < min(self.max_batch, self._arriving):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            group = self._queue[:self.max_batch]
            del self._queue[:self.max_batch]
        try:
            self._commit(group)
        finally:
            with self._cond:
                nxt = self._queue[0] if self._queue else None
                self._leading = nxt is not None
            for w in group:
                w.lead = False
                if w.done is not None:
                    w.done.set()
            _settle_on_loops(group)
            if nxt is not None:  # hand over: the oldest waiting write leads the next group
                if nxt.done is None:  # an async caller has no thread to lead with: the committer does
                    with self._cond:
                        self._wake_committer()
                else:
                    nxt.lead = True
                    nxt.done.set()

    def _commit(self, group: list[_Write[Any]]) -> None:
        if len(group) > 1:
            try:
                results: list[Any] = []
                with self._transaction(group) as s:
                    for w in group:
                        results.append(None if w.write is None else w.write(s))  # type: ignore[arg-type]
            except Exception:  # any failure: the group is redone one write per transaction
                with self._cond:
                    self._failures += 1
            else:
                for w, r in zip(group, results, strict=True):
                    w.result = r
                self._count(1, len(group))
                return
        for w in group:
            try:
                w.result = self._alone(w)
            except BaseException as exc:  # handed to the caller whose write it was
                w.error = exc

    def _alone(self, w: _Write[R]) -> R | None:
        with self._transaction([w]) as s:
            out = None if w.write is None else w.write(s)  # type: ignore[arg-type]
        self._count(1, 1)
        return out

    @contextmanager
    def _transaction(self, group: list[_Write[Any]]) -> Iterator[Session | None]:
        """A transaction with the group's ``first`` rows inserted; its session, or None on a Core connection
        when no write of the group needs one. Committed when the block ends, rolled back on an error."""
        if self.core_groups and all(w.write is None for w in group):
            with self.db.engine.begin() as conn:
                _insert_first(conn, group)
                yield None
            return
        with self.db.session() as s:
            # Core statements on plain tables, run first in the transaction (nothing of the session is
            # pending): the session's connection runs them as the session would, without the ORM's
            # per-statement layer around them
            _insert_first(s.connection(), group)
            yield s

    def _count(self, transactions: int, writes: int) -> None:
        with self._cond:
            self._transactions += transactions
            self._writes += writes


def _settle_on_loops(group: list[_Write[Any]]) -> None:
    """From the committing thread: hand the outcomes of a group's async writes to their loops, one call per loop.

    Why: each hand-over to a loop from another thread writes to the loop's wake-up pipe (a system call) and
    wakes it; a group of a dozen requests from one server process needs that once, not a dozen times.
    """
    by_loop: dict[asyncio.AbstractEventLoop, list[_Write[Any]]] = {}
    for w in group:
        if w.loop is not None:
            by_loop.setdefault(w.loop, []).append(w)
    for loop, writes in by_loop.items():
        # a loop closed while the writes committed (shutdown) has nobody waiting
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_settle, writes)


def _settle(writes: list[_Write[Any]]) -> None:
    """On the callers' loop: hand each write's outcome to its awaiting request (unless it gave up waiting)."""
    for w in writes:
        future = w.future
        if future is None or future.cancelled():
            continue
        if w.error is not None:
            future.set_exception(w.error)
        else:
            future.set_result(w.result)


#: ``first`` statements whose pooled rows are sent sorted by one column (see :func:`in_key_order`).
_KEY_ORDER: dict[int, str] = {}


def in_key_order(stmt: Executable, column: str) -> Executable:
    """Mark an "insert unless it exists" statement whose pooled rows go to the database sorted by ``column``.

    Why: two server processes commit groups at the same time on PostgreSQL. When both groups insert the
    same new keys (two uploads by each of two new accounts) in opposite orders, each transaction waits for
    the other's row lock: a deadlock, and both groups are re-run one write at a time. Sorted rows are
    locked in one order by every group, so one simply waits for the other.
    """
    _KEY_ORDER[id(stmt)] = column
    return stmt


def _insert_first(conn: Connection, group: list[_Write[Any]]) -> None:
    """Each ``first`` statement of the group once, with every write's rows for it, in order of first use."""
    pooled: dict[int, tuple[Executable, list[dict[str, Any]]]] = {}
    for w in group:
        for stmt, row in w.first:
            pooled.setdefault(id(stmt), (stmt, []))[1].append(row)
    for key, (stmt, rows) in pooled.items():
        column = _KEY_ORDER.get(key)
        if column is not None and len(rows) > 1:
            rows = sorted(rows, key=lambda row: row[column])
        prepared = _prepared(conn, stmt, rows)
        if prepared is None:
            conn.execute(stmt, rows)
        else:
            conn.exec_driver_sql(prepared.sql, prepared.parameters(rows))


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A pooled INSERT compiled once for a dialect: its SQL and, per placeholder, the row key and the bind
    processor (JSON, dates) that SQLAlchemy's execution would apply to the value."""

    sql: str
    binds: tuple[tuple[str, Callable[[Any], Any] | None], ...]

    def parameters(self, rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        binds = self.binds
        return [tuple(row[key] if process is None else process(row[key]) for key, process in binds) for row in rows]


#: (statement id, dialect name, the rows' keys) → (the statement, prepared or None where it cannot be). The
#: statement is held so that its id is not reused by another while its entry is here.
_PREPARED: dict[tuple[int, str, tuple[str, ...]], tuple[Executable, _Prepared | None]] = {}
#: Entries kept at most: the pooled statements are a few built once, so this is only reached by a caller
#: that builds its statements anew (then the cache starts again rather than grow).
_PREPARED_MAX = 64


def _prepared(conn: Connection, stmt: Executable, rows: list[dict[str, Any]]) -> _Prepared | None:
    """The pooled rows' INSERT as SQL with positional placeholders and how to bind each value, or None when
    SQLAlchemy must run it (named placeholders, as psycopg takes; defaults to compute; anything expanded).

    Why: a group's INSERT ran through SQLAlchemy's statement execution once per group and table: cache
    key, parameter processing and the execution context cost about as much again as SQLite inserting the
    rows (a third of the committing thread, SQLite). The statements are the same few, with rows of the same
    keys, so the compiled form is kept and the rows are bound exactly as SQLAlchemy binds them (its own
    compiled placeholders order and bind processors), then sent with ``exec_driver_sql``: the same DBAPI
    ``executemany``, with SQLAlchemy's error wrapping (an IntegrityError is still SQLAlchemy's).
    ``tests/test_group_commit_rows.py`` compares the rows stored this way, to the byte, with those SQLAlchemy
    stores from the same rows.
    """
    keys = tuple(rows[0])
    if any(len(row) != len(keys) for row in rows):  # rows of other keys: as SQLAlchemy takes them
        return None
    cache_key = (id(stmt), conn.dialect.name, keys)
    entry = _PREPARED.get(cache_key)
    if entry is not None and entry[0] is stmt:
        return entry[1]
    statement: Any = stmt  # an INSERT (a ClauseElement), which ``Executable`` does not say
    compiled = statement.compile(dialect=conn.dialect, column_keys=list(keys), for_executemany=True)
    usable = (compiled.positional and not compiled.insert_prefetch and not compiled.postfetch
              and not compiled.returning and not compiled.literal_execute_params
              and not compiled.post_compile_params and not compiled.escaped_bind_names
              and not compiled.schema_translate_map and set(compiled.positiontup) == set(keys))
    out = None
    if usable:
        processors = compiled._bind_processors
        out = _Prepared(str(compiled), tuple((key, processors.get(key)) for key in compiled.positiontup))
    if len(_PREPARED) >= _PREPARED_MAX:
        _PREPARED.clear()
    _PREPARED[cache_key] = (stmt, out)
    return out
