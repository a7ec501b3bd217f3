"""WAL checkpoints of a SQLite store in a background thread, instead of inside the commits of uploads.

Why: by default SQLite checkpoints in whichever connection's commit takes the write-ahead log past 1000
pages (4 MiB): that commit copies the pages into the database file and syncs both files before it
returns. Every upload spools its bytes (about 180 KiB for a 1 MP JPEG) for stage 2, so at 50 uploads/s
the log passes 4 MiB about twice a second and one upload in twenty or so paid a checkpoint inside its
request: 10-60 ms on a busy disk, measured as commits of 0.4 ms at the median and 23-38 ms at the 99th
percentile, against 13 ms with the checkpoints taken out of the commits.

So a serving process switches the automatic checkpoint off for its own connections
(``PRAGMA wal_autocheckpoint=0``, see :meth:`seawall.store.db.Database.checkpoint_in_background`) and
this thread runs a ``PASSIVE`` checkpoint every ``interval`` seconds on a connection of its own. A passive
checkpoint never waits for writers or readers, so it delays no request; with several serving processes on
one file each runs its own and whichever gets there first does the work. Other processes (the CLI, an
import) keep SQLite's default, so the log never grows without bound when no server runs.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading

log = logging.getLogger(__name__)

#: Seconds between checkpoints: at 50 uploads/s the log gains ~2 MiB in that time.
DEFAULT_INTERVAL_S = 0.2


class WalCheckpointer:
    """A daemon thread checkpointing the SQLite file at ``path`` every ``interval`` seconds."""

    def __init__(self, path: str, interval: float = DEFAULT_INTERVAL_S) -> None:
        self.path = path
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Checkpoints run and pages copied into the database file (read by tests and /metrics readers).
        self.runs = 0
        self.pages = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="seawall-wal-checkpoint", daemon=True)
            self._thread.start()

    def run_once(self, conn: sqlite3.Connection) -> tuple[int, int, int]:
        """One passive checkpoint: (1 if another checkpoint held the lock, log frames, frames copied)."""
        row = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        busy, frames, copied = (int(v) for v in row)
        self.runs += 1
        self.pages += max(0, copied)
        return busy, frames, copied

    def _loop(self) -> None:
        conn: sqlite3.Connection | None = None
        while not self._stop.wait(self.interval):
            try:
                if conn is None:
                    conn = sqlite3.connect(self.path, timeout=1.0, isolation_level=None, check_same_thread=False)
                self.run_once(conn)
            except sqlite3.Error:  # the file is busy or being replaced: try again next time
                log.debug("WAL checkpoint of %s failed", self.path, exc_info=True)
                if conn is not None:
                    conn.close()
                    conn = None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self.run_once(conn)  # leave a short log behind
            conn.close()

    def close(self) -> None:
        """Stop the thread after one last checkpoint."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
