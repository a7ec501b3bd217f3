"""Real ``seawall`` processes for tests: CLI calls and a server on a free loopback port, always stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from seawall.password_hashing import PROFILE_ENV
from tests import loopback_http


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def seawall_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without its SEAWALL_* settings, pointed at ``data_dir`` and a free port.

    The password-hash profile stays: processes the tests start hash keys and passwords as cheaply as
    the test process does.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEAWALL_") or k == PROFILE_ENV}
    env.update(SEAWALL_DATA_DIR=str(data_dir), SEAWALL_PORT=str(free_port()), SEAWALL_HOST="127.0.0.1", **extra)
    return env


def cli(args: list[str], env: dict[str, str], *, stdin: str | None = None) -> str:
    proc = subprocess.run([sys.executable, "-m", "seawall", *args], env=env, capture_output=True, text=True,
                          input=stdin, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@contextmanager
def running_server(env: dict[str, str]) -> Iterator[str]:
    """``seawall serve`` with ``env``; yields its base URL once /healthz answers, stops it on exit."""
    proc = subprocess.Popen([sys.executable, "-m", "seawall", "serve"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{env['SEAWALL_PORT']}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if loopback_http.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read().decode() if proc.stdout else ""
                raise RuntimeError(f"server did not start: {out}")
            time.sleep(0.1)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
