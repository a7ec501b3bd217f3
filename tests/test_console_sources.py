"""The hash-sharing console page: admins see sources and feeds, sync and trust sources with CSRF, audited;
and the ``seawall source`` commands. Hashes are random."""

from __future__ import annotations

import hashlib
import html
import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from seawall.api.app import create_app
from seawall.composition import build_engine, review_service
from seawall.config import Settings
from seawall.engine import Engine
from seawall.review.users import ConsoleUsers
from seawall.store.tables import AuditRow
from tests.cli_runner import CliResult, run_cli
from tests.console_support import PASSWORD, sign_in
from tests.processes import seawall_env
from tests.test_sharing_push import _add_b, _open_feed, _source, pushing_pair, wait_until_pushable
from tests.test_sharing_sources import _bank_values, _md5


@pytest.fixture
def eng(tmp_path: Path) -> Iterator[Engine]:
    e = build_engine(Settings(data_dir=tmp_path / "db", source_sync=False))
    try:
        yield e
    finally:
        e.close()


def test_admin_sees_syncs_and_trusts_sources(eng: Engine, tmp_path: Path) -> None:
    blob = secrets.token_bytes(512)
    values = [secrets.token_hex(16) for _ in range(6)] + [hashlib.md5(blob).hexdigest()]
    feed = tmp_path / "list.txt"
    feed.write_text("".join(f"md5 {v}\n" for v in values))
    eng.sources.create({"name": "partner-list", "kind": "file", "path": str(feed), "bank": "partner",
                        "action": "review"}, created_by="t")
    eng.banks.create("published")
    eng.feeds.create("tvec", ["published"], ["platform-b"])
    users = ConsoleUsers(eng.db)
    users.create("boss", PASSWORD, "admin")
    users.create("rev", PASSWORD, "reviewer")
    with TestClient(create_app(engine=eng, follow_writes=False)) as client:
        sign_in(client, "rev")
        assert client.get("/console/admin/sources").status_code == 403
        csrf = sign_in(client, "boss")
        page = client.get("/console/admin/sources")
        assert page.status_code == 200 and 'id="source-partner-list"' in page.text and "platform-b" in page.text
        assert "never" in page.text
        # without the CSRF token nothing happens
        assert client.post("/console/admin/sources/partner-list", data={"do": "sync"}).status_code == 403
        assert eng.banks.get("partner").entry_count == 0
        r = client.post("/console/admin/sources/partner-list", data={"do": "sync", "csrf_token": csrf})
        assert r.status_code == 200 and 'id="synced"' in r.text
        assert eng.banks.get("partner").entry_count == len(values)
        assert eng.banks.get("partner").default_action == "review"
        # the case view says where a matched hash came from
        item = eng.submit(eng.content("file", data=blob), content_id="post-1")
        assert item.verdict.verdict == "review"
        [case] = [c for c in review_service(eng).waiting() if c.item_id == item.id]
        view = client.get(f"/console/cases/{case.id}").text
        assert 'data-testid="provenance"' in view and "partner-list" in view and "1 source(s)" in view
        client.post("/console/admin/sources/partner-list", data={"do": "trust", "csrf_token": csrf})
        assert eng.banks.get("partner").default_action == "block"  # trusted: its entries now block
        assert client.post("/console/admin/sources/nope", data={"do": "sync", "csrf_token": csrf}).status_code == 404
    with eng.db.session() as s:
        actions = list(s.scalars(select(AuditRow.action).where(AuditRow.object_type == "source")))
    assert actions == ["source.sync", "source.trust"]


def test_source_cli(tmp_path: Path) -> None:
    env = seawall_env(tmp_path / "data")
    feed = tmp_path / "list.csv"
    rows = [secrets.token_hex(16) for _ in range(3)]
    feed.write_text("hash,algorithm,group,file_type,source_deleted,first_seen\n"
                    + "".join(f"{h},md5,violent-jihadist,png,false,2026-01-02\n" for h in rows) + "zz,md5,,,,\n")

    def run(*args: str) -> CliResult:
        return run_cli(args, env)

    added = run("source", "add", "tcap-file", "--kind", "file", "--bank", "tcap", "--action", "block",
                "-o", f"path={feed}", "-o", "format=tcap-csv")
    assert added.returncode == 0, added.stderr
    synced = run("source", "sync", "tcap-file")
    assert synced.returncode == 0, synced.stderr
    assert "3 added" in synced.stdout and "1 rejected" in synced.stdout and "position 5" in synced.stderr
    again = run("source", "sync", "tcap-file", "--restart")
    assert again.returncode == 0 and "0 added" in again.stdout
    [listed] = json.loads(run("source", "list", "--json").stdout)
    assert (listed["name"], listed["counts"]["added"], listed["failing"]) == ("tcap-file", 3, False)
    missing = run("source", "sync", "nope")
    assert missing.returncode != 0 and "no source named" in missing.stderr
    assert run("source", "remove", "tcap-file").returncode == 0


def test_admin_manages_sources_and_feeds_from_the_console(eng: Engine, tmp_path: Path) -> None:
    listed = tmp_path / "list.txt"
    values = [secrets.token_hex(16) for _ in range(3)]
    listed.write_text("".join(f"md5 {v}\n" for v in values))
    eng.banks.create("published")
    users = ConsoleUsers(eng.db)
    users.create("boss", PASSWORD, "admin")
    users.create("rev", PASSWORD, "reviewer")
    with TestClient(create_app(engine=eng, follow_writes=False)) as client:
        sign_in(client, "rev")
        r = client.post("/console/admin/sources", data={"name": "x", "kind": "file", "path": str(listed)})
        assert r.status_code == 403 and eng.sources.names() == []
        csrf = sign_in(client, "boss")
        page = client.get("/console/admin/sources").text
        for control in ("source-name", "source-kind", "source-banks", "source-path", "feed-name", "feed-banks"):
            assert f'<label for="{control}">' in page and f'id="{control}"' in page
        # no CSRF token: refused, nothing made
        r = client.post("/console/admin/sources", data={"name": "list", "kind": "file", "path": str(listed)})
        assert r.status_code == 403 and eng.sources.names() == []
        # a refused form comes back with its input (not the secret) and the reason
        bad = client.post("/console/admin/sources", data={
            "csrf_token": csrf, "name": "list", "kind": "file", "path": "relative/list.txt", "banks": "mine",
            "token": "do-not-echo-me"})
        assert bad.status_code == 422 and 'id="source-error"' in bad.text and "absolute path" in bad.text
        assert 'value="relative/list.txt"' in bad.text and 'value="mine"' in bad.text
        assert "do-not-echo-me" not in bad.text and eng.sources.names() == []
        made = client.post("/console/admin/sources", data={
            "csrf_token": csrf, "name": "list", "kind": "file", "path": str(listed), "banks": "mine, also",
            "action": "review", "enabled": "on"})
        assert made.status_code == 200 and 'id="source-list"' in made.text
        assert eng.sources.get("list")["banks"] == ["mine", "also"]
        client.post("/console/admin/sources/list", data={"do": "sync", "csrf_token": csrf})
        assert eng.banks.get("mine").entry_count == eng.banks.get("also").entry_count == len(values)
        client.post("/console/admin/sources/list", data={"do": "disable", "csrf_token": csrf})
        assert eng.sources.get("list")["enabled"] is False
        assert "Enable source list" in client.get("/console/admin/sources").text
        client.post("/console/admin/sources/list", data={"do": "enable", "csrf_token": csrf})
        assert eng.sources.get("list")["enabled"] is True
        gone = client.post("/console/admin/sources/list", data={"do": "delete", "csrf_token": csrf})
        assert gone.status_code == 200 and eng.sources.names() == []

        # feeds: a refusal keeps the input; a feed made shows its partners' tokens once
        bad = client.post("/console/admin/feeds", data={"csrf_token": csrf, "name": "tvec", "banks": "nowhere",
                                                        "partners": "platform-b"})
        assert bad.status_code == 404 and 'id="feed-error"' in bad.text and 'value="platform-b"' in bad.text
        made = client.post("/console/admin/feeds", data={"csrf_token": csrf, "name": "tvec", "banks": "published",
                                                         "partners": "platform-b, platform-c"})
        assert made.status_code == 201 and 'id="tokens"' in made.text
        assert made.text.count("swf_") == 2
        assert "swf_" not in client.get("/console/admin/sources").text
        added = client.post("/console/admin/feeds/tvec/partners", data={"csrf_token": csrf, "do": "add",
                                                                         "partner": "platform-d"})
        assert added.status_code == 201 and added.text.count("swf_") == 1
        key = eng.feeds.signer.public()
        bad_key = client.post("/console/admin/feeds/tvec/partners", data={
            "csrf_token": csrf, "do": "set_key", "partner": "platform-b", "public_key": "not-a-key"})
        assert bad_key.status_code == 422 and 'id="partner-error"' in bad_key.text
        assert 'value="not-a-key"' in bad_key.text
        client.post("/console/admin/feeds/tvec/partners", data={"csrf_token": csrf, "do": "set_key",
                                                                 "partner": "platform-b", "public_key": key})
        client.post("/console/admin/feeds/tvec/partners", data={"csrf_token": csrf, "do": "revoke",
                                                                 "partner": "platform-c"})
        client.post("/console/admin/feeds/tvec/partners", data={"csrf_token": csrf, "do": "remove",
                                                                 "partner": "platform-d"})
        partners = {p["name"]: p for p in eng.feeds.get("tvec")["partners"]}
        assert set(partners) == {"platform-b", "platform-c"}
        assert partners["platform-b"]["public_key"] == key and partners["platform-c"]["revoked"] is True
    with eng.db.session() as s:
        actions = list(s.scalars(select(AuditRow.action).where(AuditRow.object_type.in_(["source", "feed"]))
                                 .order_by(AuditRow.id)))
    assert actions == ["source.create", "source.sync", "source.disable", "source.enable", "source.delete",
                       "feed.create", "feed.partner_add", "feed.partner_set_key", "feed.partner_revoke",
                       "feed.partner_remove"]


def _push_row(page: str, name: str) -> str:
    """The push-status row of source ``name`` on the sources page."""
    start = page.index(f'<tr id="push-{name}">')
    return page[start:page.index("</tr>", start)]


def test_push_status_and_push_now_on_the_sources_page(settings: Settings, tmp_path: Path) -> None:
    """B pushes its bank to a real publisher A: the page shows each source's push status; only an admin's
    form with the session's CSRF token pushes (the service behind ``POST /v1/sources/{name}/push``)."""
    with pushing_pair(settings, tmp_path) as p:
        feed = _open_feed(p)
        assert p.b_api("POST", "/v1/banks", json={"name": "b-local"}).status_code == 201
        _source(p, feed, "to-a", "open", push_banks=["b-local"])
        _source(p, feed, "closed", "tvec", push_banks=["b-local"])  # tvec takes no contributions
        _source(p, feed, "pull-only", "open")
        values = [_md5() for _ in range(3)]
        for v in values:
            _add_b(p, "b-local", v)
        last_id = max(e.id for e in p.b.banks.list_entries("b-local", limit=10))
        wait_until_pushable(p.b)
        users = ConsoleUsers(p.b.db)
        for role in ("reviewer", "senior", "admin"):
            users.create(f"push-{role}", PASSWORD, role)
        with httpx.Client(base_url=p.b_url, timeout=60, follow_redirects=True) as client:
            # nobody signed in: sent to the login page; reviewer and senior: refused, nothing sent
            r = client.post("/console/admin/sources/to-a/push", data={"csrf_token": "x"}, follow_redirects=False)
            assert r.status_code == 303 and r.headers["location"].endswith("/console/login")
            for role in ("reviewer", "senior"):
                csrf = sign_in(client, f"push-{role}")  # type: ignore[arg-type]
                assert client.get("/console/admin/sources").status_code == 403
                r = client.post("/console/admin/sources/to-a/push", data={"csrf_token": csrf})
                assert r.status_code == 403
            assert _bank_values(p.a, "a-inbox") == [] and p.b.sources.get("to-a")["push"]["cursor"] == 0

            csrf = sign_in(client, "push-admin")  # type: ignore[arg-type]
            page = client.get("/console/admin/sources").text
            row = _push_row(page, "to-a")
            assert '<td class="push-banks">b-local</td>' in row and '<td class="push-cursor">0</td>' in row
            assert '<td class="pushed">0</td>' in row and '<td class="last-push">never</td>' in row
            assert '<td class="push-error">none</td>' in row and 'aria-label="Push now to source to-a"' in row
            pull_only = _push_row(page, "pull-only")
            assert "no push banks" in pull_only and "Push now" not in pull_only

            # no CSRF token: refused, nothing sent
            r = client.post("/console/admin/sources/to-a/push", data={})
            assert r.status_code == 403 and _bank_values(p.a, "a-inbox") == []
            r = client.post("/console/admin/sources/to-a/push", data={"csrf_token": csrf}, follow_redirects=False)
            assert r.status_code == 303
            shown = client.get(r.headers["location"]).text
            assert "Pushed 3 entries to to-a" in shown
            assert _bank_values(p.a, "a-inbox") == sorted(values)
            row = _push_row(shown, "to-a")
            assert f'<td class="push-cursor">{last_id}</td>' in row and '<td class="pushed">3</td>' in row
            assert '<td class="last-push">never</td>' not in row and '<td class="next-retry">—</td>' in row
            again = client.post("/console/admin/sources/to-a/push", data={"csrf_token": csrf})
            assert "Pushed 0 entries to to-a" in again.text and '<td class="pushed">3</td>' in again.text

            # a refused push: its error, failures and the back-off's next retry are shown
            refused = client.post("/console/admin/sources/closed/push", data={"csrf_token": csrf})
            assert refused.status_code == 200 and "Push to closed failed" in refused.text
            row = _push_row(refused.text, "closed")
            status = p.b.sources.get("closed")["push"]
            assert status["failures"] == 1 and status["next_attempt_at"] is not None
            assert status["last_error"] and status["last_error"] in html.unescape(row), row
            assert "(1 failure," in row and f'<td class="next-retry">{status["next_attempt_at"]}</td>' in row
            assert '<td class="push-cursor">0</td>' in row

            # no push banks, unknown source: the service's refusal is shown
            r = client.post("/console/admin/sources/pull-only/push", data={"csrf_token": csrf})
            assert r.status_code == 422 and "has no push_banks" in r.text
            assert client.post("/console/admin/sources/nowhere/push", data={"csrf_token": csrf}).status_code == 404
        with p.b.db.session() as s:
            audited = list(s.execute(select(AuditRow.object_id, AuditRow.actor)
                                     .where(AuditRow.action == "source.push").order_by(AuditRow.id)))
        assert [tuple(a) for a in audited] == [("to-a", "push-admin"), ("to-a", "push-admin"), ("closed", "push-admin")]
