"""An exclusive lock on a file of the data directory, shared by the processes of one host.

Why: several parts of Seawall need "one process of this host at a time" (the retro-matching lead and
pass, loading or rebuilding the match indexes at start-up), and the lock must never outlive its holder.
A ``flock`` on an open descriptor does that: the kernel drops it when the descriptor is closed, which
happens when the holder exits for any reason, ``kill -9`` included, so no stale lock file is ever
cleaned by hand. The lock belongs to the open descriptor, so two :class:`FileLock` objects on the same
path exclude each other even inside one process. POSIX only, like ``seawall serve``.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType


class FileLock:
    """An exclusive ``flock`` on ``path`` (created, with its directory, if missing), held until released."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._fd is not None

    def acquire(self, *, blocking: bool = True) -> bool:
        """Take the lock, waiting for it unless ``blocking`` is False; whether it is held (held already: True)."""
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            if blocking:
                raise
            return False  # another descriptor holds it
        except BaseException:  # interrupted while waiting
            os.close(fd)
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        """Let the lock go (nothing if not held): closing the only descriptor releases the ``flock``."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
