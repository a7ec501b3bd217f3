"""Worker processes of the stage-2 and offload pools end when their server is killed.

A spawned pool worker waits on a pipe that it holds open itself, so a server ended by ``kill -9`` used
to leave its workers behind for good (a couple of hundred MiB each, more with every restart)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: A server stand-in: starts both kinds of pool, prints their workers' pids, then waits to be killed.
PARENT = r"""
import io, os, sys
from PIL import Image
from seawall.api import offload
from seawall.media.content import Content
from seawall.uploads.slow_process import SlowProcesses

buf = io.BytesIO()
Image.new("RGB", (64, 64), (120, 30, 200)).save(buf, "PNG")
stage2 = SlowProcesses(1, niceness=0)
stage2.warm(Content("image", data=buf.getvalue()), ["regions"], frozenset({"pdq"}))
print(*stage2.pids(), offload.call(os.getpid), flush=True)
sys.stdin.read()
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_pool_workers_end_when_their_server_is_killed() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], cwd=ROOT, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    try:
        assert parent.stdout is not None
        workers = [int(p) for p in parent.stdout.readline().split()]
        assert len(workers) == 2 and parent.pid not in workers
        assert all(_alive(p) for p in workers)
        time.sleep(1.5)
        assert all(_alive(p) for p in workers), "a worker ended while its server was running"
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 15
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = [p for p in workers if _alive(p)]
        assert not left, f"workers {left} outlived their killed server"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(timeout=10)


def test_a_worker_started_for_a_parent_already_gone_ends_at_once() -> None:
    code = "from seawall.child_processes import exit_with_parent; exit_with_parent(1); print('still here')"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert out.returncode == 0 and "still here" not in out.stdout


