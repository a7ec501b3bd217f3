"""A real HTTP receiver on 127.0.0.1 for webhook tests: it fails, times out and recovers on cue.

It behaves like a careful platform: it verifies every signature with ``standardwebhooks`` and
processes each ``webhook-id`` once, counting repeats separately.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError


class Receiver:
    def __init__(self, slow_seconds: float = 1.0) -> None:
        self.secret: str | None = None
        #: Per-request behaviour, consumed in order: ok, fail (500), slow (processed, answers too late),
        #: hang (answers 503 too late), redirect:<url>. Then ``default``.
        self.plan: list[str] = []
        self.default = "ok"
        self.slow_seconds = slow_seconds
        self.processed: dict[str, dict[str, Any]] = {}
        self.arrivals: Counter[str] = Counter()
        self.bad_signatures = 0
        self.hosts: list[str] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                receiver.handle(self, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def handle(self, h: BaseHTTPRequestHandler, body: bytes) -> None:
        with self.lock:
            behaviour = self.plan.pop(0) if self.plan else self.default
            self.hosts.append(h.headers.get("host", ""))
        headers = {k: v for k, v in h.headers.items()}
        try:
            payload = Webhook(self.secret or "whsec_AAAA").verify(body, headers)
        except WebhookVerificationError:
            with self.lock:
                self.bad_signatures += 1
            self._answer(h, 401)
            return
        msg_id = headers["webhook-id"]
        with self.lock:
            self.arrivals[msg_id] += 1
        if behaviour == "fail":
            self._answer(h, 500)
        elif behaviour == "hang":
            time.sleep(self.slow_seconds)
            self._answer(h, 503)
        elif behaviour.startswith("redirect:"):
            h.send_response(302)
            h.send_header("location", behaviour.split(":", 1)[1])
            h.send_header("content-length", "0")
            h.end_headers()
        else:
            with self.lock:
                self.processed.setdefault(msg_id, payload)  # idempotent by webhook-id
            if behaviour == "slow":
                time.sleep(self.slow_seconds)
            self._answer(h, 200)

    @staticmethod
    def _answer(h: BaseHTTPRequestHandler, code: int) -> None:
        try:
            h.send_response(code)
            h.send_header("content-length", "0")
            h.end_headers()
        except OSError:
            pass  # the sender gave up waiting

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
