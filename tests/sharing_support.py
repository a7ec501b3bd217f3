"""Helpers for the hash-sharing tests: an app served by uvicorn on a free loopback port, and a small
HTTP proxy that can stand between a subscriber and a publisher to tamper with, replay or refuse pages."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import uvicorn
from fastapi import FastAPI

from tests import loopback_http
from tests.processes import free_port


@contextmanager
def served(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 in a thread; yields its base URL, stops it on exit."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


#: (method, path with query, headers, body) → (status, headers, body), or None to forward unchanged.
Answer = Callable[[str, str, dict[str, str], bytes], tuple[int, dict[str, str], bytes] | None]


class Proxy:
    """Forwards to ``upstream`` unless ``answer`` says otherwise (with the publisher's read-ahead hint
    headers); records what passed."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.answer: Answer | None = None
        self.seen: list[tuple[str, str, int, bytes]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _do(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                result = proxy.answer(self.command, self.path, headers, body) if proxy.answer else None
                if result is None:
                    fwd = {k: v for k, v in headers.items() if k not in ("host", "content-length")}
                    r = loopback_http.request(self.command, proxy.upstream + self.path, headers=fwd, content=body,
                                      timeout=60)
                    kept = {k: v for k, v in r.headers.items() if k == "content-type" or k.startswith("seawall-")}
                    result = (r.status_code, kept, r.content)
                status, hdrs, out = result
                proxy.seen.append((self.command, self.path, status, out))
                self.send_response(status)
                for k, v in hdrs.items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = _do
            do_POST = _do

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
