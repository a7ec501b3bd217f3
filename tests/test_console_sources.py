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
from seawall.config import Settings
from seawall.engine import Engine
from seawall.review.cases import ReviewService
from seawall.review.users import ConsoleUsers
from seawall.store.tables import AuditRow
from tests.cli_runner import CliResult, run_cli
from tests.console_support import PASSWORD, sign_in
from tests.processes import seawall_env


@pytest.fixture
def eng(tmp_path: Path) -> Iterator[Engine]:
    e = Engine(Settings(data_dir=tmp_path / "db", source_sync=False))
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
        [case] = [c for c in ReviewService(eng).queue() if c.item_id == item.id]
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
