"""Banks in the console: admins create, edit and disable banks, add entries by text, hash and file, import
a hash list with progress, search entries and delete one with a reason (audited); leads browse read-only,
reviewers and anonymous callers get nothing. Runs on SQLite and PostgreSQL; hashes and images are generated.
"""

from __future__ import annotations

import hashlib
import random
import secrets
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from seawall.api import offload
from seawall.api.routes.banks import OFFLOAD_IMPORT_BYTES
from seawall.banks.service import EntryInput
from seawall.config import Settings
from seawall.engine import Engine
from seawall.review.users import ConsoleUsers
from seawall.store.tables import AuditRow
from tests.conftest import encode, textured_image
from tests.console_support import auth, engine_for, make_users, sign_in


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    yield from engine_for(settings)


@pytest.fixture
def users(engine: Engine) -> ConsoleUsers:
    return make_users(engine)


def _audit(engine: Engine, action: str) -> list[AuditRow]:
    with engine.db.session() as s:
        rows = list(s.scalars(select(AuditRow).where(AuditRow.action == action).order_by(AuditRow.id)))
        s.expunge_all()
        return rows


def test_roles_see_what_they_may(client: TestClient, engine: Engine, users: ConsoleUsers) -> None:
    engine.banks.create("known", labels=["behaviour:glorification"])
    entry, _ = engine.banks.add_entry("known", _md5_entry(), added_by="t")
    client.cookies.clear()
    for path in ("/console/banks", "/console/banks/known", f"/console/banks/known/entries/{entry.id}"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].endswith("/console/login"), path
    sign_in(client, "reviewer")
    for path in ("/console/banks", "/console/banks/known", f"/console/banks/known/entries/{entry.id}",
                 "/console/admin/banks"):
        assert client.get(path).status_code == 403, path
    assert 'id="nav-banks"' not in client.get("/console/queue").text
    csrf = sign_in(client, "senior")
    assert client.get("/console/admin/banks").status_code == 403
    assert 'href="/console/banks"' in client.get("/console/queue").text
    page = client.get("/console/banks/known")
    assert page.status_code == 200 and entry.value[:40] in page.text
    assert 'id="add-text"' not in page.text and 'id="toggle-bank"' not in page.text  # read-only
    one = client.get(f"/console/banks/known/entries/{entry.id}")
    assert one.status_code == 200 and entry.value in one.text and 'id="delete-entry"' not in one.text
    refused = client.post(f"/console/admin/banks/known/entries/{entry.id}/delete",
                          data={"csrf_token": csrf, "reason": "not mine to delete"})
    assert refused.status_code == 403 and engine.banks.get("known").entry_count == 1
    sign_in(client, "admin")
    page = client.get("/console/banks/known")
    assert 'id="add-text"' in page.text and 'id="add-hash"' in page.text and 'id="add-file"' in page.text
    assert 'id="import"' in page.text


def test_admin_creates_edits_and_disables_a_bank(client: TestClient, engine: Engine, users: ConsoleUsers) -> None:
    csrf = sign_in(client, "admin")
    assert client.post("/console/admin/banks", data={"name": "nocsrf"}).status_code == 403
    bad = client.post("/console/admin/banks", data={"csrf_token": csrf, "name": "bad name!", "kind": "block",
                                                    "description": "typed by hand",
                                                    "labels": "behaviour:glorification"})
    assert bad.status_code == 422 and 'id="form-error"' in bad.text and "bank name" in bad.text
    assert 'value="typed by hand"' in bad.text and 'value="behaviour:glorification"' in bad.text
    assert 'id="nav-banks"' in bad.text  # the page keeps its navigation
    r = client.post("/console/admin/banks", data={"csrf_token": csrf, "name": "tvec", "kind": "block",
                                                  "default_action": "review", "labels": "behaviour:glorification",
                                                  "description": "test bank"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/banks/tvec?notice=created"
    bank = engine.banks.get("tvec")
    assert bank.default_action == "review" and bank.labels == ["behaviour:glorification"]
    again = client.post("/console/admin/banks", data={"csrf_token": csrf, "name": "tvec"})
    assert again.status_code == 409 and "already exists" in again.text and 'value="tvec"' in again.text
    bad_edit = client.post("/console/admin/banks/tvec", data={"csrf_token": csrf, "do": "save", "kind": "block",
                                                              "default_action": "explode", "description": "kept",
                                                              "labels": ""})
    assert bad_edit.status_code == 422 and "default_action" in bad_edit.text and 'value="kept"' in bad_edit.text
    assert engine.banks.get("tvec").default_action == "review"
    saved = client.post("/console/admin/banks/tvec", data={"csrf_token": csrf, "do": "save", "kind": "block",
                                                           "default_action": "block", "description": "edited",
                                                           "labels": "behaviour:recruitment"})
    assert saved.status_code == 200 and "Bank saved" in saved.text
    assert engine.banks.get("tvec").labels == ["behaviour:recruitment"]
    off = client.post("/console/admin/banks/tvec", data={"csrf_token": csrf, "do": "disable"})
    assert off.status_code == 200 and "Enable this bank" in off.text and not engine.banks.get("tvec").enabled
    assert [a.action for a in _audit(engine, "bank.create")] == ["bank.create"]
    assert len(_audit(engine, "bank.update")) == 1 and _audit(engine, "bank.disable")[0].actor == "admin"
    assert client.post("/console/admin/banks/nowhere", data={"csrf_token": csrf, "do": "disable"}).status_code == 404


def test_admin_adds_by_text_hash_and_file_like_the_api(client: TestClient, engine: Engine, users: ConsoleUsers,
                                                       keys: dict[str, str]) -> None:
    engine.banks.create("tvec")
    engine.banks.create("via-api")
    csrf = sign_in(client, "admin")
    text = f"generated propaganda-like sentence number {secrets.token_hex(4)} for the bank test"
    r = client.post("/console/admin/banks/tvec/entries", data={"csrf_token": csrf, "by": "text", "text": text,
                                                               "labels": "behaviour:glorification"})
    assert r.status_code == 201 and 'id="added"' in r.text
    by_console = {(e.signal_type, e.value) for e in engine.banks.list_entries("tvec")}
    mixed = next(e for e in engine.banks.list_entries("tvec") if e.value != e.value.lower())
    found = client.get("/console/banks/tvec", params={"q": mixed.value[:12]})
    assert f'data-entry="{mixed.id}"' in found.text  # a mixed-case value is found by its prefix as typed
    api = client.post("/v1/banks/via-api/entries", json={"text": text}, headers=auth(keys["admin"]))
    assert api.status_code == 201
    assert by_console == {(e.signal_type, e.value) for e in engine.banks.list_entries("via-api")}
    assert all(e.added_by == "admin" for e in engine.banks.list_entries("tvec"))
    # the same text again adds nothing and says so
    again = client.post("/console/admin/banks/tvec/entries", data={"csrf_token": csrf, "by": "text", "text": text})
    assert again.status_code == 200 and "Already in the bank" in again.text
    value = hashlib.md5(secrets.token_bytes(64)).hexdigest()
    r = client.post("/console/admin/banks/tvec/entries", data={"csrf_token": csrf, "by": "hash",
                                                               "signal_type": "md5", "value": value.upper()})
    assert r.status_code == 201
    assert engine.lookup("md5", value)[0].bank_name == "tvec"  # matchable at once
    bad = client.post("/console/admin/banks/tvec/entries", data={"csrf_token": csrf, "by": "hash",
                                                                 "signal_type": "md5", "value": "not-a-hash",
                                                                 "labels": "behaviour:recruitment"})
    assert bad.status_code == 422 and 'id="form-error"' in bad.text
    assert 'value="not-a-hash"' in bad.text and 'value="behaviour:recruitment"' in bad.text
    badlabel = client.post("/console/admin/banks/tvec/entries", data={"csrf_token": csrf, "by": "text",
                                                                      "text": "kept text", "labels": "nonsense label"})
    assert badlabel.status_code == 422 and "kept text</textarea>" in badlabel.text
    empty = client.post("/console/admin/banks/tvec/entries", data={"csrf_token": csrf, "by": "file"})
    assert empty.status_code == 422 and "choose a file" in empty.text
    image = encode(textured_image(41))
    r = client.post("/console/admin/banks/tvec/entries", data={"csrf_token": csrf, "by": "file"},
                    files={"file": ("generated.jpg", image, "image/jpeg")})
    assert r.status_code == 201, r.text
    kinds = {e.signal_type for e in engine.banks.list_entries("tvec", limit=1000)}
    assert {"pdq", "md5"} <= kinds
    no_csrf = client.post("/console/admin/banks/tvec/entries", data={"by": "file"},
                          files={"file": ("generated.jpg", image, "image/jpeg")})
    assert no_csrf.status_code == 403
    assert len(_audit(engine, "bank.entry_add")) == len(engine.banks.list_entries("tvec", limit=1000))


def test_search_pages_in_sql_and_delete_needs_a_reason(client: TestClient, engine: Engine,
                                                       users: ConsoleUsers) -> None:
    engine.banks.create("tvec")
    values = sorted(hashlib.md5(secrets.token_bytes(32)).hexdigest() for _ in range(55))
    for i, v in enumerate(values):
        labels = ["behaviour:recruitment"] if i % 11 == 0 else []
        engine.banks.add_entry("tvec", _md5_entry(v, labels), added_by="t")
    csrf = sign_in(client, "admin")
    first = client.get("/console/banks/tvec")
    assert first.text.count("data-entry=") == 50 and 'id="next-page"' in first.text
    after = int(first.text.split('id="next-page"')[0].rsplit("after=", 1)[1].split('"')[0])
    second = client.get(f"/console/banks/tvec?after={after}")
    assert second.text.count("data-entry=") == 5 and 'id="next-page"' not in second.text
    target = values[7]
    by_prefix = client.get("/console/banks/tvec", params={"q": target[:12].upper()})
    assert by_prefix.text.count("data-entry=") == 1 and target[:40] in by_prefix.text
    by_label = client.get("/console/banks/tvec", params={"q": "behaviour:recruitment"})
    assert by_label.text.count("data-entry=") == 5
    spoof = client.get("/console/banks/tvec", params={"notice": "Your account is locked"})
    assert spoof.status_code == 200 and "Your account is locked" not in spoof.text
    none = client.get("/console/banks/tvec", params={"q": "%"})
    assert none.text.count("data-entry=") == 0 and "No entry matches" in none.text
    [entry] = engine.banks.search_entries("tvec", target)
    no_reason = client.post(f"/console/admin/banks/tvec/entries/{entry.id}/delete",
                            data={"csrf_token": csrf, "reason": " "})
    assert no_reason.status_code == 422 and "reason" in no_reason.text
    assert engine.banks.get("tvec").entry_count == 55
    r = client.post(f"/console/admin/banks/tvec/entries/{entry.id}/delete",
                    data={"csrf_token": csrf, "reason": "false positive on a news photo"}, follow_redirects=False)
    assert r.status_code == 303 and engine.banks.get("tvec").entry_count == 54
    assert engine.lookup("md5", target) == []
    [audit] = _audit(engine, "bank.entry_delete")
    assert audit.actor == "admin" and audit.object_id == str(entry.id)
    assert audit.detail["reason"] == "false positive on a news photo" and audit.detail["value"] == target
    gone = client.post(f"/console/admin/banks/tvec/entries/{entry.id}/delete",
                       data={"csrf_token": csrf, "reason": "twice"})
    assert gone.status_code == 404 and len(_audit(engine, "bank.entry_delete")) == 1


def test_import_runs_with_progress_and_reports(client: TestClient, engine: Engine, users: ConsoleUsers) -> None:
    engine.banks.create("tvec")
    csrf = sign_in(client, "admin")
    values = [hashlib.md5(secrets.token_bytes(16)).hexdigest() for _ in range(30)]
    body = "".join(f"md5 {v}\n" for v in values) + "md5 nothex\nnosuchsignal abc\n"
    missing = client.post("/console/admin/banks/tvec/import", data={"csrf_token": csrf, "format": "text",
                                                                    "labels": "behaviour:glorification"})
    assert missing.status_code == 422 and "choose a hash list" in missing.text
    assert 'value="behaviour:glorification"' in missing.text
    badfmt = client.post("/console/admin/banks/tvec/import", data={"csrf_token": csrf, "format": "nope"},
                         files={"file": ("list.txt", body.encode(), "text/plain")})
    assert badfmt.status_code in (404, 422) and 'id="form-error"' in badfmt.text
    r = client.post("/console/admin/banks/tvec/import", data={"csrf_token": csrf, "format": "text",
                                                              "labels": "behaviour:glorification"},
                    files={"file": ("list.txt", body.encode(), "text/plain")}, follow_redirects=False)
    assert r.status_code == 303 and "/console/admin/banks/tvec/imports/" in r.headers["location"]
    deadline = time.monotonic() + 30
    while True:
        page = client.get(r.headers["location"])
        assert page.status_code == 200
        if 'data-state="running"' not in page.text:
            break
        assert 'http-equiv="refresh"' in page.text
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert 'data-state="done"' in page.text and 'http-equiv="refresh"' not in page.text
    assert '<dd id="lines-read">32</dd>' in page.text and '<dd id="added-count">30</dd>' in page.text
    assert '<dd id="rejected-count">2</dd>' in page.text
    assert engine.banks.get("tvec").entry_count == 30
    assert engine.lookup("md5", values[3])[0].bank_name == "tvec"
    [audit] = _audit(engine, "bank.import")
    assert audit.detail["added"] == 30 and audit.detail["state"] == "done" and audit.actor == "admin"
    assert client.get("/console/admin/banks/tvec/imports/unknown").status_code == 404
    sign_in(client, "senior")
    assert client.get(r.headers["location"]).status_code == 403


def _md5_entry(value: str | None = None, labels: list[str] | None = None) -> EntryInput:
    return EntryInput("md5", value or hashlib.md5(secrets.token_bytes(16)).hexdigest(), labels or [])


@pytest.mark.slow  # starts the import worker interpreter, as test_offload's API import does in the fast loop
def test_a_large_import_runs_in_the_import_process(client: TestClient, engine: Engine, users: ConsoleUsers,
                                                   tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A list of ``OFFLOAD_IMPORT_BYTES`` or more is imported by the import worker process, as the API does:
    the page says so while it runs, then shows the report; the entries match here at once, the audit log
    has the report, and the spooled upload is removed. A small list still imports on the server's thread."""
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool_dir))
    offload.shutdown()  # the import pool below is started by this import
    engine.banks.create("bulk")
    csrf = sign_in(client, "admin")
    rnd = random.Random(5)
    values = [f"{rnd.getrandbits(256):064x}" for _ in range(OFFLOAD_IMPORT_BYTES // 60)]
    body = ("".join(f"pdq {v}\n" for v in values) + "pdq not-a-hash\n").encode()
    assert len(body) >= OFFLOAD_IMPORT_BYTES

    def imported(data: bytes) -> str:
        r = client.post("/console/admin/banks/bulk/import", data={"csrf_token": csrf, "format": "text"},
                        files={"file": ("list.txt", data, "text/plain")}, follow_redirects=False)
        assert r.status_code == 303, r.text
        first = client.get(r.headers["location"]).text
        deadline = time.monotonic() + 300
        page = first
        while 'data-state="running"' in page:
            assert time.monotonic() < deadline, "the import never finished"
            time.sleep(0.1)
            page = client.get(r.headers["location"]).text
        assert 'data-state="done"' in page, page
        return first + page

    pages = imported(body)
    assert offload.IMPORT in offload._pools  # the import worker process was started for it
    assert f'<dd id="lines-read">{len(values) + 1}</dd>' in pages
    assert f'<dd id="added-count">{len(values)}</dd>' in pages
    assert '<dd id="rejected-count">1</dd>' in pages
    if 'data-state="running"' in pages:  # the first look came while it ran: no line count is claimed
        assert "Importing in the import process" in pages
    assert engine.banks.get("bulk").entry_count == len(values)
    assert engine.lookup("pdq", values[-1])[0].bank_name == "bulk"  # this server's index has it
    [audit] = _audit(engine, "bank.import")
    assert audit.detail["added"] == len(values) and audit.detail["state"] == "done"

    small = f"md5 {hashlib.md5(secrets.token_bytes(8)).hexdigest()}\n".encode()
    assert "Importing in the import process" not in imported(small)
    assert engine.banks.get("bulk").entry_count == len(values) + 1
    assert list(spool_dir.iterdir()) == []  # both uploads removed
