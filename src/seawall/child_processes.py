"""Worker processes that end when the process that started them is gone.

Why: the stage-2 workers and the request offload pool are ``spawn``-ed ``ProcessPoolExecutor`` workers.
Such a worker waits on its call queue, and the queue's pipe stays open in the worker itself, so when the
serving process ends without shutting its pools down (``kill -9``, a supervisor's SIGKILL after a grace
period, a crash, or a SIGTERM while a job is running) the worker never sees end of file: it stays,
idle, with a couple of hundred MiB of imports, and each restart of the server adds more. The kernel's
``PR_SET_PDEATHSIG`` would follow the *thread* that forked the worker, which in a pool is any thread that
submitted a job, so it would also kill healthy workers when that thread ends.

So each worker runs one daemon thread that compares its parent's pid with the one it was started by, and
ends the process when they differ (the orphan was adopted by init or a subreaper). The check costs a
system call a second; a worker in the middle of a job ends too, since no one is left to take its answer.
"""

from __future__ import annotations

import os
import threading

#: Seconds between checks of the parent: how long an orphan outlives its server at the most.
CHECK_SECONDS = 1.0


def exit_with_parent(parent: int, every: float = CHECK_SECONDS) -> None:
    """In a worker process: end it as soon as ``parent`` (the pid that started it) is no longer its parent."""
    if os.getppid() != parent:
        os._exit(0)

    def watch() -> None:
        stop = threading.Event()
        while not stop.wait(every):
            if os.getppid() != parent:
                os._exit(0)  # no cleanup to run: the parent holding the work is gone

    threading.Thread(target=watch, name="seawall-parent-watch", daemon=True).start()
