"""The CPU-heavy part of stage 2 (OCR, region hashes, ORB points) in worker processes of low priority.

Why a process: stage 2 ran in a thread of the serving process. Its region hashes and ORB points are
Python and NumPy work that holds the GIL for milliseconds at a time, so every in-request verdict of
that process waited behind it; and a thread at normal priority took its full share of the CPU from
stage 1. Giving the thread a lower priority would not have helped: a low-priority thread that holds
the GIL and is not scheduled stalls the request threads waiting for the GIL (priority inversion).

So the queue thread hands the upload's bytes to a small pool of ``spawn``-ed processes and waits on a
pipe, which needs no GIL. Each worker process lowers its own scheduling priority, and the Tesseract
processes it starts inherit that, so on a busy machine the kernel runs stage 1 first and stage 2 takes
what is left. Where Linux offers it the worker takes the ``SCHED_IDLE`` policy
(``SEAWALL_STAGE2_SCHED_IDLE``, on by default): niceness 19 alone still gets CPU slices beside stage 1
(weight 15 against 1024) and a waking request thread may wait for the nice process's slice to end,
whereas a ``SCHED_IDLE`` process runs only on a core nothing else wants and is preempted at once when a
normal thread wakes. The niceness (``SEAWALL_STAGE2_NICENESS``, 19 by default) is set as well: it is the
fallback where the policy cannot be set, and what I/O priority follows. What crosses the pipe is
plain values: the bytes, the decode limits and OCR options in, and the OCR text, notes and region
signals out. Matching, deciding and storing stay in the serving process, which holds the indexes.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

from seawall.child_processes import exit_with_parent
from seawall.media.content import Content
from seawall.media.image import DecodeLimits
from seawall.media.ocr import OcrOptions
from seawall.models.records import ComputedSignal

log = logging.getLogger(__name__)

#: The stage-2 tasks whose heavy part a worker process can run (see :mod:`seawall.uploads.stages`).
OFFLOADED = ("ocr", "regions")


@dataclass(slots=True)
class SlowResult:
    """What a worker process computed for one upload (picklable): the OCR text if OCR ran, the notes of
    optional steps, and the region hashes with the ORB query if the regions task ran."""

    ocr_done: bool = False
    ocr_text: str | None = None
    notes: list[str] = field(default_factory=list)
    regions: list[ComputedSignal] | None = None


def compute(content_type: str, data: bytes, limits: DecodeLimits, ocr: OcrOptions | None,
            tasks: Sequence[str], signal_types: frozenset[str]) -> SlowResult:
    """The heavy part of the named tasks for one upload; runs in a worker process (or inline).

    ``signal_types`` are the registry's signal type names: region signals of types that are not
    registered are dropped, as :func:`seawall.uploads.stages.image_region_signals` does.
    """
    from seawall.uploads.stages import compute_region_signals

    content = Content(content_type=content_type, data=data, limits=limits, ocr=ocr)
    result = SlowResult()
    if "ocr" in tasks:
        result.ocr_text = content.ocr_text()
        result.ocr_done = True
    if "regions" in tasks:
        result.regions = compute_region_signals(content, signal_types)
    result.notes = list(content.notes)
    return result


def lower_priority(niceness: int, idle: bool) -> str:
    """Lower the calling process's scheduling priority; returns what was applied (for logs and tests).

    ``"idle"`` when the ``SCHED_IDLE`` policy was set, ``"nice"`` when only the niceness could be raised,
    ``"none"`` when neither was asked for or permitted. Children (Tesseract) inherit both.
    """
    applied = "none"
    if niceness > 0:
        try:
            os.nice(niceness)
            applied = "nice"
        except OSError:  # not permitted here: stage 2 still runs, outside the server's GIL
            log.warning("could not lower the priority of the stage-2 worker process")
    if idle and hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_IDLE"):
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
            applied = "idle"
        except OSError:  # a container or kernel without it: the niceness above is what stage 2 gets
            log.info("SCHED_IDLE is not available for the stage-2 worker process; using niceness %d", niceness)
    return applied


def _start_worker(niceness: int, idle: bool = True, parent: int | None = None) -> None:
    """In each worker process: one thread for native pools, a lower scheduling priority, and an end when
    the serving process ``parent`` is gone (:mod:`seawall.child_processes`)."""
    if parent is not None:
        exit_with_parent(parent)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[name] = "1"
    lower_priority(niceness, idle)
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:
        pass


class SlowProcesses:
    """A pool of ``processes`` low-priority worker processes, started on first use and replaced if one dies."""

    def __init__(self, processes: int = 1, niceness: int = 19, idle: bool = True) -> None:
        self.processes = max(1, processes)
        self.niceness = niceness
        self.idle = idle
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._closed = False
        #: Uploads the workers computed (read by tests and benchmarks).
        self.jobs = 0

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._closed:
                raise RuntimeError("the stage-2 worker processes are shut down")
            if self._pool is None:
                self._pool = ProcessPoolExecutor(max_workers=self.processes,
                                                 mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=_start_worker,
                                                 initargs=(self.niceness, self.idle, os.getpid()))
            return self._pool

    def _forget(self, pool: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        pool.shutdown(wait=False)

    def run(self, content: Content, tasks: Sequence[str], signal_types: frozenset[str]) -> SlowResult:
        """:func:`compute` in a worker process, waited for in the calling (queue) thread.

        A pool broken by a killed worker is replaced and the upload tried once more; a second failure
        is raised (stage 2 then ends with a note and the stage-1 verdict stands).
        """
        wanted = [t for t in tasks if t in OFFLOADED]
        args = (content.content_type, content.data, content.limits,
                content.ocr if content.ocr is not None else OcrOptions.from_settings(), wanted, signal_types)
        for attempt in (1, 2):
            pool = self._executor()
            try:
                result = pool.submit(compute, *args).result()
            except BrokenProcessPool:
                self._forget(pool)
                if attempt == 2:
                    raise
                continue
            with self._lock:
                self.jobs += 1
            return result
        raise AssertionError("unreachable")

    def warm(self, content: Content, tasks: Sequence[str], signal_types: frozenset[str]) -> None:
        """Start every worker process now and run one upload's tasks in each (the warm-up calls this).

        Why: a worker is a fresh interpreter that imports Seawall, NumPy and the decoders and, on its first
        OCR, has Tesseract read its models: about a second of a core, which the first image uploads of a
        server otherwise shared their two cores with. One job per process, submitted together, starts them
        all (the pool starts a process for a job that finds none idle).
        """
        wanted = [t for t in tasks if t in OFFLOADED]
        args = (content.content_type, content.data, content.limits,
                content.ocr if content.ocr is not None else OcrOptions.from_settings(), wanted, signal_types)
        pool = self._executor()
        for job in [pool.submit(compute, *args) for _ in range(self.processes)]:
            job.result()

    def pids(self) -> list[int]:
        """Process ids of the running workers (for tests and benchmarks)."""
        with self._lock:
            pool = self._pool
        procs = getattr(pool, "_processes", None) or {}
        return sorted(procs)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (a closed pool refuses work)."""
        return self._closed

    def close(self) -> None:
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


_shared: dict[tuple[int, int, bool], SlowProcesses] = {}
_shared_lock = threading.Lock()


def shared(processes: int, niceness: int, idle: bool = True) -> SlowProcesses:
    """The process-wide pool for ``processes`` workers at ``niceness`` (and ``SCHED_IDLE`` when ``idle``),
    started on first use.

    A server has one engine per process, so this is its pool; a process that builds engine after engine
    (tests, embedding) keeps one set of workers instead of starting a fresh interpreter, which imports
    Seawall and loads the compiled PDQ kernels (about a second), for every engine. The workers only
    compute from the bytes they are sent, so an engine closing has nothing to take back from them; the
    pool ends with the process.
    """
    key = (max(1, processes), niceness, idle)
    with _shared_lock:
        pool = _shared.get(key)
        if pool is None or pool.closed:
            pool = _shared[key] = SlowProcesses(*key)
        return pool


@atexit.register
def _close_shared() -> None:
    with _shared_lock:
        pools = list(_shared.values())
        _shared.clear()
    for pool in pools:
        pool.close()


def adopt(content: Content, result: SlowResult) -> None:
    """Give the serving process's content what a worker computed, so the tasks do not compute it again."""
    if result.ocr_done:
        content.set_ocr_text(result.ocr_text)
    content.notes.extend(n for n in result.notes if n not in content.notes)
    content.region_signals = result.regions
