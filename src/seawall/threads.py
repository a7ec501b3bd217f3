"""How many threads each Seawall process may run, so several processes on few cores do not fight.

Native libraries size their thread pools from the machine, not from the process's share of it:
OpenBLAS/OpenMP, numba and Seawall's own batch pool (:func:`seawall.signals.pdq.mih.worker_count`) each
start one thread per core in every process. ``seawall serve --workers 2`` on 2 cores then runs two
of everything per core next to the load itself, and a request that waits behind another process's
spinning pool shows up as a latency tail of hundreds of milliseconds while the median stays at a
millisecond. Giving each process ``cores // processes`` threads (at least one) keeps the total at
the number of cores. Tesseract is separate: it runs with ``OMP_THREAD_LIMIT=SEAWALL_OCR_THREADS``.

Values already set in the environment are kept, so an operator can still choose.
"""

from __future__ import annotations

import os

#: Environment variables native libraries read for their pool sizes, read when they are first imported.
THREAD_VARIABLES: tuple[str, ...] = (
    "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS",
)
#: Seawall's own batch pool size (match-index batches and index builds).
INDEX_THREADS = "SEAWALL_THREADS_PER_PROCESS"


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers and taskset narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def threads_per_process(processes: int, cores: int | None = None) -> int:
    """Each process's share of the cores, at least one."""
    return max(1, (cores or usable_cores()) // max(1, processes))


def cap_threads(processes: int, cores: int | None = None) -> dict[str, str]:
    """Set the thread variables for this process and every process it starts; returns the values in force.

    Call before numpy, numba or the server processes are started: the libraries read them once.
    """
    share = str(threads_per_process(processes, cores))
    for name in (*THREAD_VARIABLES, INDEX_THREADS):
        os.environ.setdefault(name, share)
    return {name: os.environ[name] for name in (*THREAD_VARIABLES, INDEX_THREADS)}
