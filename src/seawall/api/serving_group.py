"""Readiness across the server processes of one ``seawall serve --workers N``.

Why: each of the N processes uvicorn starts builds its own engine and warms up on its own, and a
load balancer's ``/readyz`` reaches whichever process accepts the connection. If that process said
``ready`` for itself alone, the next connection could land on a process still loading its models, and
its first upload would pay for the cold start. So ``seawall serve`` gives its processes a directory
(:data:`READY_DIR_ENV`) and their number (:data:`PROCESSES_ENV`); a process that finished its warm-up
leaves a file named after its pid there, and ``/readyz`` answers ``ready`` only when every process
has one. A process that died (uvicorn starts another in its place) no longer counts: its file names a
pid that is gone.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path

#: Where the processes of one ``seawall serve`` leave their ready marks (set by ``seawall serve``).
READY_DIR_ENV = "SEAWALL_SERVE_READY_DIR"
#: How many server processes ``seawall serve`` started.
PROCESSES_ENV = "SEAWALL_SERVE_PROCESSES"


@dataclass(frozen=True, slots=True)
class ServingGroup:
    """The server processes of one ``seawall serve``: where they mark themselves ready, and how many there are."""

    directory: Path
    processes: int

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> ServingGroup | None:
        """The group this process belongs to, or None when it serves alone (one process, tests, embedding)."""
        env = os.environ if environ is None else environ
        directory, processes = env.get(READY_DIR_ENV), env.get(PROCESSES_ENV, "")
        if not directory or not processes.isdigit() or int(processes) < 2:
            return None
        return cls(Path(directory), int(processes))

    def prepare(self, environ: MutableMapping[str, str] | None = None) -> None:
        """Start with no marks (an earlier run's are stale) and tell the processes about to start where to look.

        Directories of earlier servers that were killed before they could remove their own (``serve-<pid>``
        beside this one, naming a process that is gone) are removed too.
        """
        shutil.rmtree(self.directory, ignore_errors=True)
        with contextlib.suppress(OSError):
            for sibling in self.directory.parent.iterdir():
                pid = sibling.name.removeprefix("serve-")
                if sibling.name.startswith("serve-") and pid.isdigit() and not _running(int(pid)):
                    shutil.rmtree(sibling, ignore_errors=True)
        self.directory.mkdir(parents=True, exist_ok=True)
        env = os.environ if environ is None else environ
        env[READY_DIR_ENV] = str(self.directory)
        env[PROCESSES_ENV] = str(self.processes)

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    def mark_ready(self, pid: int | None = None) -> None:
        """This process finished warming up."""
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / str(os.getpid() if pid is None else pid)).touch()

    def forget(self, pid: int | None = None) -> None:
        """Withdraw this process's mark (it is shutting down)."""
        with contextlib.suppress(OSError):
            (self.directory / str(os.getpid() if pid is None else pid)).unlink()

    def ready_processes(self) -> int:
        """Processes that finished warming up and are still running."""
        try:
            names = os.listdir(self.directory)
        except OSError:
            return 0
        return sum(1 for name in names if name.isdigit() and _running(int(name)))

    def all_ready(self) -> bool:
        return self.ready_processes() >= self.processes


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a worker that died but was not yet reaped by its supervisor is a zombie: not serving
    with contextlib.suppress(OSError, ValueError, IndexError), open(f"/proc/{pid}/stat", encoding="ascii") as f:
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    return True
