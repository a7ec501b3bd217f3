"""An app served by a real uvicorn server on a free loopback port in this process, always stopped.

Tests that need real concurrent HTTP requests against an engine they also inspect use this instead of
a ``TestClient`` (which serialises nothing but also shares nothing with a real network stack).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import httpx
import uvicorn
from fastapi import FastAPI

from tests import loopback_http
from tests.processes import free_port


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1; yields the base URL once it accepts connections."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on", limit_concurrency=1000, backlog=256))
    thread = threading.Thread(target=server.run, name="seawall-test-server", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def all_at_once(n: int, send: Callable[[httpx.Client], httpx.Response]) -> list[httpx.Response]:
    """``n`` copies of one request on their own connections, released together by a barrier."""
    barrier = threading.Barrier(n)

    def one(_: int) -> httpx.Response:
        with loopback_http.client(timeout=120) as c:
            barrier.wait()
            return send(c)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))
