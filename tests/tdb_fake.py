"""A small local stand-in for the DSA Transparency Database API, built from its public documentation.

``POST /api/v1/statements``: Bearer token; ``{"statements": [...]}`` with 1–100 items; all-or-nothing —
if any statement is invalid (here: a missing required field, a bad puid, or a puid already stored or
repeated in the batch) it answers 422 with errors keyed ``statement_<index>`` and stores none;
otherwise 201 with every stored statement (``uuid``, ``id``, ``puid``, ``created_at``). ``rate_limited``
makes the next call answer 429. Runs on 127.0.0.1 on a free port; always stopped by the test.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

REQUIRED = ("decision_ground", "decision_facts", "category", "content_type", "content_date", "application_date",
            "source_type", "automated_detection", "automated_decision", "puid")


class FakeTransparencyDatabase:
    def __init__(self, token: str) -> None:
        self.token = token
        self.stored: dict[str, dict[str, Any]] = {}
        self.calls: list[int] = []  # batch sizes received
        self.rate_limited = False
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                if self.headers.get("Authorization") != f"Bearer {fake.token}":
                    return self._send(401, {"message": "Unauthenticated."})
                if self.path != "/api/v1/statements":
                    return self._send(404, {"message": "not found"})
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                if fake.rate_limited:
                    fake.rate_limited = False
                    return self._send(429, {"message": "Too Many Attempts."})
                statements = body.get("statements")
                if not isinstance(statements, list) or not 1 <= len(statements) <= 100:
                    return self._send(422, {"message": "The statements field must have between 1 and 100 items.",
                                            "errors": {"statements": ["between:1,100"]}})
                fake.calls.append(len(statements))
                errors: dict[str, Any] = {}
                seen: set[str] = set()
                for i, st in enumerate(statements):
                    problems = {f: [f"The {f} field is required."] for f in REQUIRED if not st.get(f)}
                    puid = str(st.get("puid", ""))
                    if puid and not re.fullmatch(r"[a-zA-Z0-9-_]+", puid):
                        problems["puid"] = ["The puid format is invalid."]
                    elif puid in fake.stored or puid in seen:
                        problems["puid"] = ["The identifier given is not unique within this platform."]
                    seen.add(puid)
                    if problems:
                        errors[f"statement_{i}"] = problems
                if errors:
                    return self._send(422, {"message": "The given data was invalid.", "errors": errors})
                out = []
                for st in statements:
                    rec = {**st, "uuid": str(uuid.uuid4()), "id": len(fake.stored) + 1,
                           "created_at": "2026-03-14 09:00:00", "platform_name": "Example"}
                    fake.stored[st["puid"]] = rec
                    out.append(rec)
                return self._send(201, {"statements": out})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeTransparencyDatabase:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
