"""``/healthz`` and ``/metrics`` for ``seawall worker``, which serves no API, so orchestrators can probe it.

Same bodies as the API's endpoints (:mod:`seawall.health`, :class:`seawall.api.metrics.Metrics`); a
plain threaded HTTP server because two read-only GETs do not need the ASGI stack.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST

from seawall import health
from seawall.api.metrics import Metrics
from seawall.engine import Engine


class HealthServer:
    def __init__(self, engine: Engine, host: str, port: int) -> None:
        metrics = Metrics(engine)

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # probes every few seconds would flood the log
                pass

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/healthz":
                    status, body = health.report(engine)
                    self._send(status, "application/json", json.dumps(body).encode())
                elif path == "/metrics":
                    self._send(200, CONTENT_TYPE_LATEST, metrics.render())
                else:
                    self._send(404, "application/json", json.dumps(
                        {"code": "not_found", "message": f"there is no endpoint GET {path}; try /healthz"}).encode())

            def _send(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, name="seawall-health", daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
