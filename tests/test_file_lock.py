"""The host-wide file lock: exclusive while held, released on release and when its holder is killed -9."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from seawall.store.file_lock import FileLock

#: A separate process that takes the lock, says so, and waits to be killed.
HOLDER = """
import sys, time
from pathlib import Path
from seawall.store.file_lock import FileLock
lock = FileLock(Path(sys.argv[1]))
assert lock.acquire()
print("held", flush=True)
time.sleep(600)
"""


def _holder(path: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_held_lock_excludes_another_holder(tmp_path: Path) -> None:
    path = tmp_path / "new-dir" / "x.lock"
    first, second = FileLock(path), FileLock(path)
    assert first.acquire(blocking=False) and first.held and path.exists()
    assert first.acquire(blocking=False)  # held already
    assert not second.acquire(blocking=False) and not second.held
    first.release()
    assert not first.held
    assert second.acquire(blocking=False)
    second.release()
    second.release()  # nothing held: no-op


def test_the_context_manager_releases_on_exit_and_on_error(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    other = FileLock(path)
    with FileLock(path) as lock:
        assert lock.held and not other.acquire(blocking=False)
    assert other.acquire(blocking=False)
    other.release()
    try:
        with FileLock(path):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert other.acquire(blocking=False)
    other.release()


def test_a_blocking_acquire_waits_for_the_release(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    first = FileLock(path)
    assert first.acquire()
    got: list[float] = []

    def wait() -> None:
        with FileLock(path):
            got.append(time.monotonic())

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.3)
    assert not got  # still waiting
    released_at = time.monotonic()
    first.release()
    waiter.join(10)
    assert got and got[0] >= released_at


def test_a_lock_held_by_another_process_is_freed_when_it_is_killed(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    holder = _holder(path)
    try:
        mine = FileLock(path)
        assert not mine.acquire(blocking=False)
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        assert mine.acquire(blocking=False)
        mine.release()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
