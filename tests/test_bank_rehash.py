"""``seawall bank rehash``: banked texts and pictures are kept, and their signals computed again after a
normalisation change or for signal types added since; hash-list entries are never touched; a second run
changes nothing."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from seawall.banks.service import EntryInput
from seawall.engine import Engine
from seawall.errors import Conflict
from seawall.password_hashing import PROFILE_ENV

from .cli_runner import CliResult, run_cli
from .conftest import auth, encode, textured_image

BANKED = ("Join the caravan of the faithful tonight and bring your brothers with you to the old "
          "northern bridge before dawn")
QUOTED = f"Saw this in a channel today: «{BANKED}». Reporting it."


def _types(engine: Engine, bank: str) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for e in engine.banks.list_entries(bank, limit=1000):
        out.setdefault(e.signal_type, []).append(e.id)
    return out


def _matched_by(client: TestClient, key: str, cid: str, text: str) -> set[str]:
    r = client.post("/v1/items", json={"content_id": cid, "text": text}, headers=auth(key))
    assert r.status_code == 200, r.text
    return {m["signal_type"] for m in r.json()["matches"]}


def _make_stale(engine: Engine, bank: str) -> str:
    """As if the text had been banked by an older Seawall: its text_sha256 computed with another
    normalisation, and no text_fingerprint (a type added later)."""
    entries = engine.banks.list_entries(bank, limit=1000)
    sha = next(e for e in entries if e.signal_type == "text_sha256")
    content_id = sha.meta["content"]
    for e in entries:
        if e.signal_type in ("text_sha256", "text_fingerprint"):
            engine.delete_entry(bank, e.id)
    stale = hashlib.sha256(b"what an older normalisation made of the text").hexdigest()
    engine.add_entry(bank, EntryInput("text_sha256", stale, [], meta={"content": content_id}), added_by="test")
    return stale


def test_rehash_brings_text_entries_up_to_date_and_is_idempotent(client: TestClient, engine: Engine,
                                                                 keys: dict[str, str]) -> None:
    admin, sub = keys["admin"], keys["submitter"]
    assert client.post("/v1/banks", json={"name": "tvec"}, headers=auth(admin)).status_code == 201
    r = client.post("/v1/banks/tvec/entries", json={"text": BANKED, "labels": ["behaviour:recruitment"]},
                    headers=auth(admin))
    assert r.status_code == 201, r.text
    listed = "\n".join(["md5 " + hashlib.md5(b"a file from a partner list").hexdigest(), ""])
    assert client.post("/v1/banks/tvec/import", content=listed.encode(),
                       headers={**auth(admin), "Content-Type": "text/plain"}).json()["added"] == 1
    stale = _make_stale(engine, "tvec")
    assert "text_fingerprint" not in _types(engine, "tvec")
    assert not _matched_by(client, sub, "q0", QUOTED) & {"text_fingerprint"}
    assert not _matched_by(client, sub, "s0", BANKED) & {"text_sha256"}  # the stale digest finds nothing

    first = engine.rehash("tvec")  # types it has only: text_sha256 recomputed, no new types
    assert dict(first.added) == {"text_sha256": 1} and dict(first.removed) == {"text_sha256": 1}, first.to_dict()
    assert first.not_from_content == 1 and first.contents == 1 and not first.failed
    types = _types(engine, "tvec")
    assert "text_fingerprint" not in types
    assert stale not in {e.value for e in engine.banks.list_entries("tvec", limit=1000)}

    second = engine.rehash("tvec", new_types=True)
    assert dict(second.added) == {"text_fingerprint": 1} and not second.removed, second.to_dict()
    added = engine.banks.get_entry("tvec", _types(engine, "tvec")["text_fingerprint"][0])
    assert added.labels == ["behaviour:recruitment"] and added.meta == {"content": added.meta["content"]}

    again = engine.rehash(None, new_types=True)  # every bank; nothing left to do
    content_made = len(engine.banks.list_entries("tvec", limit=1000)) - 1  # all but the listed md5
    assert not again.added and not again.removed and again.unchanged == content_made, again.to_dict()
    assert "text_fingerprint" in _matched_by(client, sub, "q1", QUOTED)
    assert "text_sha256" in _matched_by(client, sub, "s1", BANKED)
    md5 = [e for e in engine.banks.list_entries("tvec", limit=1000) if e.signal_type == "md5"]
    assert len(md5) == 2  # the text's own md5 and the listed one, untouched


def test_rehash_restores_crop_hashes_of_a_banked_picture(engine: Engine) -> None:
    engine.banks.create("pics")
    picture = engine.content("image", data=encode(textured_image(31)))
    results, refused = engine.add_entries_from_content("pics", picture, labels=[], note="", source="t",
                                                       added_by="test")
    assert results and not refused
    crops = [e for e, _ in results if e.signal_type == "pdq_crop"]
    assert len(crops) >= 10
    for e in crops:  # as if banked before pdq_crop existed
        engine.delete_entry("pics", e.id)
    assert engine.rehash("pics").added == {}  # without --new-types a missing type stays missing
    report = engine.rehash("pics", new_types=True)
    assert report.added == {"pdq_crop": len(crops)} and not report.removed, report.to_dict()
    assert sorted(e.value for e in engine.banks.list_entries("pics", limit=1000) if e.signal_type == "pdq_crop") \
        == sorted(e.value for e in crops)
    assert not engine.rehash("pics", new_types=True).added


def test_cli_bank_rehash(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEAWALL_") or k == PROFILE_ENV}
    env["SEAWALL_DATA_DIR"] = str(tmp_path / "data")

    def cli(*args: str) -> CliResult:
        # in this process (tests/cli_runner.py): what is checked is the command's output and exit code
        return run_cli(args, env)

    assert cli("bank", "create", "tvec").returncode == 0
    assert cli("bank", "add", "tvec", "--text", BANKED).returncode == 0
    proc = cli("bank", "rehash", "tvec", "--new-types", "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["contents"] == 1 and summary["added"] == {} and summary["removed"] == {}
    assert summary["unchanged"] >= 4
    plain = cli("bank", "rehash")
    assert plain.returncode == 0 and "1 kept content(s): added none; removed none" in " ".join(plain.stdout.split())
    missing = cli("bank", "rehash", "nope")
    assert missing.returncode != 0 and "no bank named" in (missing.stderr + missing.stdout)


def test_api_rehash_adds_new_types_and_answers_errors_as_code_and_message(client: TestClient, engine: Engine,
                                                                        keys: dict[str, str]) -> None:
    admin = auth(keys["admin"])
    assert client.post("/v1/banks", json={"name": "tvec"}, headers=admin).status_code == 201
    assert client.post("/v1/banks/tvec/entries", json={"text": BANKED}, headers=admin).status_code == 201
    _make_stale(engine, "tvec")

    r = client.post("/v1/banks/tvec/rehash", headers=admin)  # no body: the types the content has only
    assert r.status_code == 200, r.text
    assert r.json()["added"] == {"text_sha256": 1} and r.json()["removed"] == {"text_sha256": 1}, r.json()
    r = client.post("/v1/banks/tvec/rehash", json={"new_types": True}, headers=admin)
    assert r.status_code == 200 and r.json()["added"] == {"text_fingerprint": 1}, r.text
    again = client.post("/v1/banks/tvec/rehash", json={"new_types": True}, headers=admin).json()
    assert again["added"] == {} and again["removed"] == {} and again["contents"] == 1 and again["failed"] == []
    assert "text_fingerprint" in _matched_by(client, keys["submitter"], "q", QUOTED)

    missing = client.post("/v1/banks/nope/rehash", headers=admin)
    assert missing.status_code == 404 and missing.json()["code"] == "bank_not_found", missing.text
    for bad in ({"new_types": "yes"}, {"new_types": True, "bank": "x"}):
        r = client.post("/v1/banks/tvec/rehash", json=bad, headers=admin)
        assert r.status_code == 422 and set(r.json()) >= {"code", "message"}, r.text
    r = client.post("/v1/banks/tvec/rehash", content=b"{not json",
                    headers={**admin, "Content-Type": "application/json"})
    assert r.status_code == 422 and set(r.json()) >= {"code", "message"}, r.text
    with engine.rehash_runs.hold("tvec"):  # a run over the bank is under way in this process
        busy = client.post("/v1/banks/tvec/rehash", headers=admin)
        assert busy.status_code == 409 and busy.json()["code"] == "rehash_running", busy.text
    assert client.post("/v1/banks/tvec/rehash", headers=admin).status_code == 200


def test_rehash_of_every_bank_waits_for_no_one_but_is_refused_during_a_bank_run(engine: Engine) -> None:
    engine.banks.create("one")
    engine.banks.create("two")
    with engine.rehash_runs.hold("one"):
        assert engine.rehash("two").banks == 1  # another bank goes ahead
        with pytest.raises(Conflict):
            engine.rehash(None)
        with pytest.raises(Conflict):
            engine.rehash("one")
    assert engine.rehash(None).banks == 2
