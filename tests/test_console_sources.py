"""The hash-sharing console page: admins see sources and feeds, sync and trust sources with CSRF, audited;
and the ``seawall source`` commands. Hashes are random."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterator
from pathlib import Path

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
