"""Hash-list imports started from the console, run in the background so the page can show progress.

An import of millions of lines takes longer than a browser waits for a response, so the console
spools the uploaded file, starts the same import the API and the CLI run (``Engine.import_entries``)
on a thread, and sends the browser to a page that shows how far it got: bytes read of the file's size,
then the import report. Progress lives in this process (the page polls the node that runs the import);
the finished report is also written to the audit log, where every node can read it.

A large file is imported where the API imports it: the caller hands over ``elsewhere``, which runs the
import in the import worker process, so minutes of parsing never hold this server's interpreter; the
thread only waits for it (no line counts then, the page says it is running) and then makes the new
entries matchable here.
"""

from __future__ import annotations

import io
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from seawall.errors import SeawallError
from seawall.store.tables import utcnow

if TYPE_CHECKING:
    from seawall.engine import Engine
    from seawall.sharing.importer import ImportReport

#: Finished jobs kept for their pages; the oldest go first.
KEEP_FINISHED = 100


@dataclass
class ImportJob:
    """One import: what it reads, how far it got, and how it ended."""

    id: str
    bank: str
    started_by: str
    file_name: str
    total_bytes: int
    bytes_read: int = 0
    lines_read: int = 0
    state: str = "running"  # running, done, failed
    report: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    #: Imported by the import worker process: no progress to show until it ends.
    offloaded: bool = False

    @property
    def percent(self) -> int:
        if self.state != "running":
            return 100
        return min(99, int(100 * self.bytes_read / self.total_bytes)) if self.total_bytes else 0


class ImportJobs:
    """The imports this process runs or ran, by id (an unguessable token)."""

    def __init__(self) -> None:
        self._jobs: dict[str, ImportJob] = {}
        self._lock = threading.Lock()

    def get(self, job_id: str) -> ImportJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def start(self, engine: Engine, bank: str, fmt: str, spool: IO[bytes], *, started_by: str, file_name: str,
              source: str = "", labels: list[str] | None = None,
              elsewhere: Callable[[], ImportReport] | None = None) -> ImportJob:
        """Check the bank and format now (a refusal belongs on the form), then import on a thread, or have
        ``elsewhere`` import the spooled file (already written to disk) and wait for it on the thread. The
        spool is closed, and removed if it is a named file, when the import ends."""
        engine.banks.get(bank)
        engine.registry.hashlist_format(fmt)
        spool.seek(0, io.SEEK_END)
        total = spool.tell()
        spool.seek(0)
        job = ImportJob(secrets.token_urlsafe(12), bank, started_by, file_name[:200], total,
                        offloaded=elsewhere is not None)
        with self._lock:
            self._jobs[job.id] = job
            finished = [j.id for j in self._jobs.values() if j.state != "running"]
            for old in finished[:max(0, len(finished) - KEEP_FINISHED)]:
                del self._jobs[old]
        thread = threading.Thread(target=self._run, name=f"import-{bank}", daemon=True,
                                  args=(engine, job, fmt, spool, source, labels or [], elsewhere))
        thread.start()
        return job

    def _run(self, engine: Engine, job: ImportJob, fmt: str, spool: IO[bytes], source: str, labels: list[str],
             elsewhere: Callable[[], ImportReport] | None) -> None:
        """Import, write the audit record, and only then show the outcome: a finished page has its record."""
        from seawall.review.audit import record

        report: dict[str, Any] = {}
        error = ""
        try:
            if elsewhere is not None:
                done = elsewhere()
                engine.imported(done)  # the worker wrote the entries: this server's indexes learn them
                report = done.to_dict()
            else:
                report = engine.import_entries(job.bank, fmt, _counted_lines(spool, job), added_by=job.started_by,
                                               source=source, labels=labels).to_dict()
            state = "done"
        except SeawallError as exc:
            error, state = exc.message, "failed"
        except Exception as exc:  # the page must say it failed instead of spinning forever
            error, state = f"the import stopped: {type(exc).__name__}", "failed"
        finally:
            spool.close()
            path = getattr(spool, "name", None)
            if isinstance(path, str) and os.path.exists(path):
                os.unlink(path)
        summary = {k: v for k, v in report.items() if k != "rejected_lines"}
        try:
            with engine.db.session() as s:
                record(s, job.started_by, "bank.import", "bank", job.bank,
                       {"file": job.file_name, "state": state, "error": error, "at": utcnow().isoformat(),
                        **summary})
        finally:
            job.report, job.error, job.state = report, error, state


def _counted_lines(raw: IO[bytes], job: ImportJob) -> Iterator[str]:
    """The file's lines, moving the job's byte and line counters as they are read."""
    for line in raw:
        job.bytes_read += len(line)
        job.lines_read += 1
        yield line.decode("utf-8", "replace").rstrip("\r\n").lstrip("\ufeff")
