"""Readiness of a node served by several processes (``seawall serve --workers N``).

The kernel hands each new connection to whichever of the N server processes accepts it first, and
``/readyz`` is answered by one of them. Each process warms up on its own, so the first one to finish
said "ready" while the others were still loading models, compiling kernels and collecting their
start-up heap on the same cores: a load balancer (or a benchmark) that trusted it sent traffic that
then waited behind a sibling's warm-up, and lookups showed a tail of hundreds of milliseconds that
followed the slower process. The node is ready only when every one of its processes is.

``seawall serve`` gives its processes a directory (``SEAWALL_SERVE_READY_DIR``) and their number
(``SEAWALL_SERVE_PROCESSES``); a process writes ``<pid>`` there once warm, and ``/readyz`` counts
the files of processes still alive. A process that dies and is replaced makes the node not ready
until the new one has warmed up, which is what a load balancer should be told.
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

READY_DIR = "SEAWALL_SERVE_READY_DIR"
PROCESSES = "SEAWALL_SERVE_PROCESSES"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - exists, owned by someone else
        return True
    return True


@dataclass(frozen=True)
class ServerGroup:
    """The server processes of one ``seawall serve``: where they say they are ready, and how many there are."""

    ready_dir: Path
    processes: int

    @classmethod
    def from_environment(cls) -> ServerGroup | None:
        """The group this process belongs to, or None when it serves alone (one process, tests, embedded)."""
        where, count = os.environ.get(READY_DIR, ""), os.environ.get(PROCESSES, "")
        if not where or not count.isdigit() or int(count) < 2:
            return None
        return cls(Path(where), int(count))

    def environment(self) -> dict[str, str]:
        """Variables that make the processes ``seawall serve`` starts members of this group."""
        return {READY_DIR: str(self.ready_dir), PROCESSES: str(self.processes)}

    def mark_ready(self, pid: int | None = None) -> None:
        """Say that this process (or ``pid``) has warmed up."""
        self.ready_dir.mkdir(parents=True, exist_ok=True)
        (self.ready_dir / str(pid or os.getpid())).touch()

    def forget(self, pid: int | None = None) -> None:
        """Withdraw a process's mark (it is shutting down)."""
        with contextlib.suppress(OSError):
            (self.ready_dir / str(pid or os.getpid())).unlink()

    def ready_count(self) -> int:
        """Processes that said they are ready and are still running."""
        try:
            names = os.listdir(self.ready_dir)
        except OSError:
            return 0
        return sum(1 for name in names if name.isdigit() and _alive(int(name)))

    def all_ready(self) -> bool:
        return self.ready_count() >= self.processes

    def mark_when_ready(self, ready: threading.Event) -> threading.Thread:
        """Write this process's mark once ``ready`` is set (by the warm-up), without blocking start-up."""
        pid = os.getpid()

        def wait() -> None:
            ready.wait()
            self.mark_ready(pid)

        thread = threading.Thread(target=wait, name="seawall-ready-mark", daemon=True)
        thread.start()
        return thread
