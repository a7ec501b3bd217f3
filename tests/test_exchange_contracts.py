"""Recorded-contract tests of the ThreatExchange, Tech Against Terrorism and file/URL exchanges.

The real services need credentials, so each client is tested against a small local server that this
test starts, built from the services' published API descriptions (request paths, parameters, answer
shapes): ThreatExchange's Graph API ``threat_updates`` and ``reactions``, TCAP's token login and paged
hash list. The fakes also check what the client sends (token, parameters), so a client that drifts
from the contract fails here. Hashes are random.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from seawall.banks.service import EntryInput
from seawall.composition import build_engine
from seawall.config import Settings
from seawall.engine import Engine
from seawall.sharing.exchanges.base import Opinion
from seawall.store.tables import BankEntrySourceRow, SourceRow


class FakeService:
    """A tiny HTTP server whose routes are functions of (method, path, query, form/body)."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Any] = {}
        self.calls: list[tuple[str, str, dict[str, list[str]], bytes, dict[str, str]]] = []
        svc = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _do(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                query = parse_qs(parts.query)
                headers = {k.lower(): v for k, v in self.headers.items()}
                svc.calls.append((self.command, parts.path, query, body, headers))
                route = svc.routes.get((self.command, parts.path))
                status, payload, extra = (404, {"error": "no route"}, {}) if route is None else route(
                    query, body, headers)
                out = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                for k, v in extra.items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = _do
            do_POST = _do

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake() -> Iterator[FakeService]:
    svc = FakeService()
    try:
        yield svc
    finally:
        svc.stop()


@pytest.fixture
def sub(tmp_path: Path) -> Iterator[Engine]:
    eng = build_engine(Settings(data_dir=tmp_path, webhook_allow_hosts="127.0.0.1", source_sync=False))
    try:
        yield eng
    finally:
        eng.close()


def _values(eng: Engine, bank: str) -> set[str]:
    return {e.value for e in eng.banks.list_entries(bank, limit=1000)}


def test_threatexchange_updates_tags_deletions_and_reactions(fake: FakeService, sub: Engine) -> None:
    token = "1234|app-secret"
    pdq = [secrets.token_hex(32) for _ in range(3)]
    md5 = secrets.token_hex(16)
    updates = [
        {"id": "1001", "indicator": pdq[0], "type": "HASH_PDQ", "creation_time": 1700000000,
         "last_updated": 1700000100, "should_delete": False, "tags": ["behaviour:recruitment"]},
        {"id": "1002", "indicator": pdq[1], "type": "HASH_PDQ", "creation_time": 1700000000,
         "last_updated": 1700000200, "should_delete": False, "tags": []},
        {"id": "1003", "indicator": md5, "type": "HASH_MD5", "creation_time": 1700000000,
         "last_updated": 1700000300, "should_delete": False, "tags": []},
        {"id": "1004", "indicator": "x", "type": "HASH_TMK", "last_updated": 1700000300},
    ]
    later = [{"id": "1002", "indicator": pdq[1], "type": "HASH_PDQ", "last_updated": 1700000400,
              "should_delete": True, "tags": []},
             {"id": "1005", "indicator": pdq[2], "type": "HASH_PDQ", "creation_time": 1700000400,
              "last_updated": 1700000400, "should_delete": False, "tags": []}]
    reactions: list[tuple[str, str]] = []

    def threat_updates(q: dict[str, list[str]], body: bytes, h: dict[str, str]) -> Any:
        assert q["access_token"] == [token] and q["privacy_group"] == ["303"]
        assert "should_delete" in q["fields"][0] and "tags" in q["fields"][0]
        since = int(q.get("start_time", ["0"])[0])
        if since >= 1700000300:
            data = [u for u in later if u["last_updated"] >= since]
            return 200, {"data": data, "paging": {"cursors": {"before": "b", "after": "z"}}}, {}
        after = q.get("after", [""])[0]
        if not after:  # first page of the window, with a next page
            return 200, {"data": updates[:2], "paging": {"cursors": {"after": "c1"}, "next": fake.url + "/next"}}, {}
        assert after == "c1"
        return 200, {"data": updates[2:], "paging": {"cursors": {"after": "c2"}}}, {}

    def react(q: dict[str, list[str]], body: bytes, h: dict[str, str]) -> Any:
        reactions.append(("1001", q["reaction"][0]))
        return 200, {"success": True}, {}

    fake.routes[("GET", "/v18.0/threat_updates")] = threat_updates
    fake.routes[("POST", "/v18.0/1001/reactions")] = react
    sub.sources.create({"name": "gifct", "kind": "threatexchange", "url": fake.url, "privacy_group": "303",
                        "access_token": token, "bank": "gifct", "action": "review"}, created_by="t")
    first = sub.sources.sync("gifct")
    assert first.error is None and first.pages == 2 and first.added == 3
    assert [r["position"] for r in first.rejects] == [1]  # HASH_TMK on the second page: no signal type here
    assert _values(sub, "gifct") == {pdq[0], pdq[1], md5}
    tagged = next(e for e in sub.banks.list_entries("gifct") if e.value == pdq[0])
    assert tagged.labels == ["behaviour:recruitment"]
    second = sub.sources.sync("gifct")
    assert (second.added, second.tombstones) == (1, 1)
    assert _values(sub, "gifct") == {pdq[0], pdq[2], md5}
    assert sub.sources.sync("gifct").added == 0  # nothing new since the newest update

    exchange = sub.sources.exchange_for(_row(sub, "gifct"))
    assert exchange.feedback([Opinion("1001", "pdq", pdq[0], "true_positive")]) == 1
    assert reactions == [("1001", "SAW_THIS_TOO")]


def _row(eng: Engine, name: str) -> Any:
    from seawall.store.tables import SourceRow

    with eng.db.session() as s:
        return s.scalar(select(SourceRow).where(SourceRow.name == name))


def test_tech_against_terrorism_hash_list_pages_and_deletions(fake: FakeService, sub: Engine) -> None:
    md5s = [secrets.token_hex(16) for _ in range(4)]
    sha = secrets.token_hex(32)
    rows = [
        {"id": 1, "hash_digest": md5s[0], "algorithm": "MD5", "ideology": "islamist", "file_type": "png",
         "deleted": False, "created_on": 1704901040.2, "updated_on": 1704901040.2},
        {"id": 2, "hash_digest": sha, "algorithm": "SHA256", "ideology": "far-right", "file_type": "jpg",
         "deleted": False, "created_on": 1704901041.0, "updated_on": 1704901041.0},
        {"id": 3, "hash_digest": md5s[1], "algorithm": "MD5", "ideology": "islamist", "file_type": "mp4",
         "deleted": False, "created_on": 1704901042.0, "updated_on": 1704901042.0},
        {"id": 4, "hash_digest": "short", "algorithm": "MD5", "ideology": "islamist", "file_type": "gif",
         "deleted": False, "created_on": 1704901043.0, "updated_on": 1704901043.0},
    ]
    pages = {"": (rows[:2], "cp-1", True), "cp-1": (rows[2:], "cp-2", False)}
    update = {"id": 3, "hash_digest": md5s[1], "algorithm": "MD5", "ideology": "islamist", "file_type": "mp4",
              "deleted": True, "created_on": 1704901042.0, "updated_on": 1704990000.0}
    logins: list[dict[str, list[str]]] = []

    def login(q: dict[str, list[str]], body: bytes, h: dict[str, str]) -> Any:
        form = parse_qs(body.decode())
        logins.append(form)
        if form.get("username") != ["platform"] or form.get("password") != ["pw"]:
            return 400, {"error": "bad credentials"}, {}
        return 200, {"token": "jwt-1"}, {}

    def hash_list(q: dict[str, list[str]], body: bytes, h: dict[str, str]) -> Any:
        if h.get("authorization") != "Bearer jwt-1":
            return 401, {"error": "unauthorised"}, {}
        after = q.get("after", [""])[0]
        if after == "cp-2":
            return 200, {"count": 1, "next": None, "previous": None, "checkpoint": "cp-3", "results": [update]}, {}
        results, checkpoint, more = pages[after]
        return 200, {"count": 4, "next": fake.url + "/more" if more else None, "previous": None,
                     "checkpoint": checkpoint, "results": results}, {}

    fake.routes[("POST", "/token-auth/tcap/")] = login
    fake.routes[("GET", "/api/hash-list/v2/all")] = hash_list
    sub.sources.create({"name": "tcap", "kind": "tat", "url": fake.url, "username": "platform", "password": "pw",
                        "bank": "tcap", "action": "block"}, created_by="t")
    assert sub.sources.get("tcap")["config"]["password"] == "***"
    first = sub.sources.sync("tcap")
    assert first.error is None and first.pages == 2 and first.added == 3
    assert [r["position"] for r in first.rejects] == [1]  # "short" is no MD5: rejected with its position
    assert _values(sub, "tcap") == {md5s[0], sha, md5s[1]}
    islamist = next(e for e in sub.banks.list_entries("tcap") if e.value == md5s[0])
    assert islamist.labels == ["ideology:violent-jihadist"] and islamist.first_seen is not None
    with sub.db.session() as s:
        remote = set(s.scalars(select(BankEntrySourceRow.remote_id)))
    assert remote == {"1", "2", "3"}
    second = sub.sources.sync("tcap")
    assert second.tombstones == 1 and _values(sub, "tcap") == {md5s[0], sha}
    assert sub.sources.get("tcap")["checkpoint"] == "cp-3"

    # wrong credentials: the sync fails, is recorded, and nothing changes
    sub.sources.update("tcap", {"config": {"password": "wrong"}, "checkpoint": None})
    failed = sub.sources.sync("tcap")
    assert "login" in (failed.error or "") and sub.sources.get("tcap")["failing"] is True
    assert _values(sub, "tcap") == {md5s[0], sha}


def test_file_and_url_feeds_stream_resume_and_use_conditional_get(fake: FakeService, sub: Engine,
                                                                  tmp_path: Path) -> None:
    values = [secrets.token_hex(16) for _ in range(12_000)]
    text = "".join(f"md5 {v}\n" for v in values) + "not a line\n"
    path = tmp_path / "list.txt"
    path.write_text(text)
    sub.sources.create({"name": "local", "kind": "file", "path": str(path), "bank": "local"}, created_by="t")
    first = sub.sources.sync("local", max_pages=1)  # stop after the first page, as a crash would
    assert first.pages == 1 and first.added == 5000
    rest = sub.sources.sync("local")
    assert rest.added == len(values) - 5000 and [r["position"] for r in rest.rejects] == [len(values) + 1]
    assert sub.banks.get("local").entry_count == len(values)
    assert sub.sources.sync("local").pages == 0  # unchanged file: nothing read

    etag = '"' + hashlib.sha256(text.encode()).hexdigest()[:16] + '"'
    seen: list[str | None] = []

    def serve(q: dict[str, list[str]], body: bytes, h: dict[str, str]) -> Any:
        seen.append(h.get("if-none-match"))
        if h.get("if-none-match") == etag:
            return 304, b"", {"etag": etag}
        return 200, text.encode(), {"etag": etag, "content-type": "text/plain"}

    fake.routes[("GET", "/lists/tvec.txt")] = serve
    sub.sources.create({"name": "remote", "kind": "file", "url": fake.url + "/lists/tvec.txt", "bank": "remote"},
                       created_by="t")
    assert sub.sources.sync("remote").added == len(values)
    again = sub.sources.sync("remote")
    assert again.pages == 0 and again.error is None and seen == [None, etag]

    # SSRF: without the operator's allow-list a loopback URL is refused
    strict = build_engine(Settings(data_dir=tmp_path / "strict", source_sync=False))
    try:
        with pytest.raises(Exception) as info:
            strict.sources.create({"name": "r", "kind": "file", "url": fake.url + "/lists/tvec.txt"},
                                  created_by="t")
            strict.sources.sync("r")
            raise AssertionError(strict.sources.get("r")["last_error"])
        assert "public address" in str(info.value) or "not a public" in str(info.value)
    finally:
        strict.close()


def test_file_and_url_feeds_withdraw_what_they_no_longer_list(fake: FakeService, sub: Engine,
                                                              tmp_path: Path) -> None:
    values = [secrets.token_hex(16) for _ in range(7_000)]
    path = tmp_path / "list.txt"
    path.write_text("".join(f"md5 {v}\n" for v in values))
    other = tmp_path / "other.txt"
    other.write_text(f"md5 {values[1]}\n")
    sub.banks.create("local")
    sub.add_entry("local", EntryInput(signal_type="md5", value=values[0], labels=[]), added_by="analyst")
    sub.sources.create({"name": "local", "kind": "file", "path": str(path), "bank": "local"}, created_by="t")
    sub.sources.create({"name": "other", "kind": "file", "path": str(other), "bank": "local"}, created_by="t")
    assert sub.sources.sync("local").added == len(values) - 1
    assert sub.sources.sync("other").added == 0

    # the next version drops four hashes (and adds one); a crash after its first page changes nothing
    kept, fresh = values[4:], secrets.token_hex(16)
    path.write_text("".join(f"md5 {v}\n" for v in [*kept, fresh]))
    first = sub.sources.sync("local", max_pages=1)
    assert first.pages == 1 and first.tombstones == 0 and _count(sub, "local") == len(values)
    rest = sub.sources.sync("local")
    assert rest.error is None and rest.tombstones == 4 and rest.added == 1
    assert _count(sub, "local") == len(values) - 2 + 1
    assert [m.bank_name for m in sub.lookup("md5", values[0])] == ["local"]  # a person keeps it
    assert [m.bank_name for m in sub.lookup("md5", values[1])] == ["local"]  # another source keeps it
    assert sub.lookup("md5", values[2]) == [] and sub.lookup("md5", values[3]) == []
    with sub.db.session() as s:
        local_id = s.scalar(select(SourceRow.id).where(SourceRow.name == "local"))
        assert s.scalar(select(func.count()).select_from(BankEntrySourceRow)
                        .where(BankEntrySourceRow.source_id == local_id)) == len(kept) + 1
    assert sub.sources.sync("local").pages == 0  # unchanged: nothing read, nothing withdrawn

    # a URL feed: the new version (new ETag) no longer lists a hash
    listed = [secrets.token_hex(16) for _ in range(3)]
    version = {"n": 0}

    def serve(q: dict[str, list[str]], body: bytes, h: dict[str, str]) -> Any:
        shown = listed if version["n"] == 0 else listed[1:]
        return 200, "".join(f"md5 {v}\n" for v in shown).encode(), {"etag": f'"v{version["n"]}"'}

    fake.routes[("GET", "/lists/withdraw.txt")] = serve
    sub.sources.create({"name": "remote", "kind": "file", "url": fake.url + "/lists/withdraw.txt",
                        "bank": "remote"}, created_by="t")
    assert sub.sources.sync("remote").added == 3
    version["n"] = 1
    assert sub.sources.sync("remote").tombstones == 1
    assert _values(sub, "remote") == set(listed[1:])


def _count(eng: Engine, bank: str) -> int:
    return int(eng.banks.get(bank).entry_count or 0)
