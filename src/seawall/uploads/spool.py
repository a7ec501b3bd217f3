"""The bytes of uploads waiting for stage 2, as one file per item in a directory of the node.

Why files: every image upload keeps its bytes (about 180 KiB for a 1 MP JPEG) until stage 2 has read
it. In SQLite that was a blob written in the upload's transaction, copied again by every WAL checkpoint,
read back and deleted by stage 2: about 2.5 ms of the serving process's CPU per upload, a fifth of
stage 1. A file costs a write, a read and an unlink. The item row keeps only what it always had
(``items.stage2_pending``); the file's name is derived from the item id, so no column is needed.

Durability follows the store's commit policy: the file is written to a temporary name and renamed into
place *before* the item's transaction commits, so a committed item whose stage 2 is pending always has
its file, and a ``kill -9`` (which loses no page-cache data) loses no pending work. SQLite runs with
``synchronous=NORMAL``, where a commit is not synced to disk either, so the file is not synced by
default; ``fsync=True`` (``SEAWALL_STAGE2_SPOOL_FSYNC``) syncs the file and its directory before the
commit, for stores that sync theirs. A crash between the rename and the commit leaves a file without
an item; :meth:`UploadSpool.sweep` removes those at start, together with files of items that are
finished or gone.

Only names this module makes are ever opened: an item id must be 32 lowercase hex digits (what
:func:`seawall.uploads.item_ids.new_item_id` gives), so no id can reach outside the directory.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

from seawall.errors import SeawallError

log = logging.getLogger(__name__)

_ITEM_ID = re.compile(r"[0-9a-f]{32}")
SUFFIX = ".stage2"
PARTIAL = ".part"
#: A file without an item is only removed once it is this old: its upload's transaction may still be committing.
ORPHAN_GRACE_SECONDS = 120.0


class SpoolFull(SeawallError):
    """The spool's disk is full (or its quota used up): the upload cannot be kept for stage 2."""

    status = 507
    code = "storage_full"


def valid_id(item_id: str) -> bool:
    """Whether ``item_id`` can name a spool file (32 lowercase hex digits, nothing else)."""
    return _ITEM_ID.fullmatch(item_id) is not None


def _id_of(name: str, suffix: str) -> str | None:
    """The item id a file name of this spool ends with ``suffix`` after, or None for any other name."""
    if not name.endswith(suffix):
        return None
    item_id = name[:-len(suffix)]
    return item_id if valid_id(item_id) else None


class UploadSpool:
    """One directory of ``<item id>.stage2`` files, written atomically, read and removed by stage 2."""

    def __init__(self, directory: Path, *, fsync: bool = False) -> None:
        self.directory = directory
        self.fsync = fsync
        self._made = False

    def path(self, item_id: str) -> Path:
        """The file of ``item_id``; refuses any id that is not an item id (no path can be smuggled in)."""
        if not valid_id(item_id):
            raise ValueError(f"not an item id: {item_id!r}")
        return self.directory / f"{item_id}{SUFFIX}"

    def write(self, item_id: str, data: bytes) -> None:
        """Keep ``data`` for ``item_id``: written under a temporary name, then renamed into place.

        Raises :class:`SpoolFull` (HTTP 507) when the disk or quota is full; nothing is left behind then.
        """
        final = self.path(item_id)
        tmp = final.with_name(final.name + PARTIAL)
        if not self._made:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._made = True
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                if self.fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, final)
            if self.fsync:
                self._sync_directory()
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise SpoolFull(f"the disk holding the stage-2 spool ({self.directory}) is full: the upload "
                                "could not be kept for stage 2; free space there and send it again") from exc
            if exc.errno == errno.ENOENT and self._made:
                self._made = False  # the directory was removed under us: make it again next time
            raise

    def _sync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def read(self, item_id: str) -> bytes | None:
        """The bytes kept for ``item_id``, or None when there are none (or the id is not an item id)."""
        if not valid_id(item_id):
            return None
        try:
            with open(self.path(item_id), "rb") as fh:
                return fh.read()
        except FileNotFoundError:
            return None

    def discard(self, item_id: str) -> None:
        """Remove what is kept for ``item_id`` (stage 2 finished, the upload was not stored, the item is erased)."""
        if valid_id(item_id):
            with contextlib.suppress(OSError):
                self.path(item_id).unlink(missing_ok=True)

    def item_ids(self) -> list[str]:
        """Ids of the items that have a file here."""
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        return [item_id for n in names if (item_id := _id_of(n, SUFFIX)) is not None]

    def sweep(self, pending: Callable[[list[str]], tuple[set[str], set[str]]],
              grace: float = ORPHAN_GRACE_SECONDS) -> int:
        """Remove files no stage 2 will read; returns how many were removed.

        ``pending(ids)`` answers, for the ids given, which items exist and which of those still wait for
        stage 2. A file is removed when its item exists and waits for nothing (stage 2 finished, the
        file's removal was interrupted), or when there is no such item (erased, or its transaction never
        committed) and the file is older than ``grace`` seconds (a younger one may belong to an upload
        still committing). Temporary files older than ``grace`` go too. Files of unknown names are left.
        """
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            return 0
        now = time.time()
        removed = 0
        by_id: dict[str, os.DirEntry[str]] = {}
        for entry in entries:
            item_id = _id_of(entry.name, SUFFIX)
            if item_id is not None:
                by_id[item_id] = entry
            elif _id_of(entry.name, SUFFIX + PARTIAL) is not None and _age(entry, now) > grace:
                removed += _remove(entry)
        ids = list(by_id)
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            existing, waiting = pending(chunk)
            for item_id in chunk:
                if item_id in waiting:
                    continue
                if item_id in existing or _age(by_id[item_id], now) > grace:
                    removed += _remove(by_id[item_id])
        if removed:
            log.info("removed %d stage-2 spool files no stage 2 will read", removed)
        return removed


def _age(entry: os.DirEntry[str], now: float) -> float:
    try:
        return now - entry.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _remove(entry: os.DirEntry[str]) -> int:
    try:
        os.unlink(entry.path)
    except FileNotFoundError:
        return 0
    return 1

