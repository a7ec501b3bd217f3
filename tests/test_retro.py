"""Retroactive matching: entries banked after an item was received catch it, once, through the action path.

Images are generated; texts are made up.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select, update

from seawall.banks.service import EntryInput
from seawall.engine import Engine
from seawall.store.tables import ActionRow, DecisionRow, ItemRow, MatchRow, WebhookEventRow, utcnow
from tests.cli_runner import cli_stdout as cli
from tests.cli_runner import run_cli
from tests.conftest import auth, encode, textured_image
from tests.processes import seawall_env

SLOGAN = "the generated movement will rise over every city of the made-up land, join the ranks today"
RULES_STRIKE = """\
rules:
  - id: allow-bank
    when: {match: {bank_kind: allow}}
    then: [allow]
  - id: known-material
    when: {match: {bank_kind: block}}
    then: [block, strike]
"""


def _hook(engine: Engine) -> None:
    engine.webhooks.create(url="https://93.184.215.14/hook", event_types=["item.retro_match", "item.removed",
                                                                          "item.verdict"])
    engine.webhooks.outbox.reload()


def _events(engine: Engine, kind: str) -> list[dict]:
    with engine.db.session() as s:
        return [r.payload["data"] for r in s.scalars(select(WebhookEventRow).where(WebhookEventRow.type == kind)
                                                     .order_by(WebhookEventRow.id))]


def _count(engine: Engine, table: type, **where: object) -> int:
    with engine.db.session() as s:
        q = select(func.count()).select_from(table)
        for k, v in where.items():
            q = q.where(getattr(table, k) == v)
        return int(s.scalar(q) or 0)


def test_rotated_copy_allowed_yesterday_is_removed_when_the_original_is_banked(engine: Engine) -> None:
    _hook(engine)
    original = textured_image(11)
    rotated = engine.submit(engine.content("image", data=encode(original.transpose(Image.Transpose.ROTATE_90))),
                            content_id="post-1", account_id="acct-1")
    unrelated = engine.submit(engine.content("image", data=encode(textured_image(12))), content_id="post-2")
    assert rotated.verdict.verdict == "allow" and unrelated.verdict.verdict == "allow"

    engine.banks.create("late-list")
    engine.add_entries_from_content("late-list", engine.content("image", data=encode(original, "PNG")), labels=[],
                                    note="", source="partner", added_by="test")
    report = engine.retro.run()
    assert report.entries >= 3  # md5, sha256 and pdq of the banked original
    assert (report.items_scanned, report.items_matched, report.matches) == (2, 1, 1)
    item = engine.items.get(rotated.id)
    assert item.verdict.verdict == "block"
    # the same rotation/flip the live path finds for a fresh upload of the rotated copy
    live = engine.submit(engine.content("image", data=encode(original.transpose(Image.Transpose.ROTATE_90))),
                         content_id="post-3")
    assert [(m.signal_type, m.variant) for m in item.verdict.matches] == \
        [(m.signal_type, m.variant) for m in live.verdict.matches] == [("pdq", live.verdict.matches[0].variant)]
    assert live.verdict.matches[0].variant not in (None, "original")
    assert any("retro-match" in r for r in item.verdict.reasons)
    assert [a.type for a in item.verdict.actions] == ["remove"]  # block means remove for a published item
    assert engine.items.get(unrelated.id).verdict.verdict == "allow"
    retro = _events(engine, "item.retro_match")
    assert [e["item_id"] for e in retro] == [rotated.id] and retro[0]["verdict"] == "block"
    assert [e["item_id"] for e in _events(engine, "item.removed")] == [rotated.id]

    # a second pass has nothing new; adding an unrelated entry later does not touch the item again
    again = engine.retro.run()  # (PostgreSQL may hand entries over once more if another transaction was open)
    assert again.items_matched == 0
    engine.add_entries_from_content("late-list", engine.content("image", data=encode(textured_image(13))),
                                    labels=[], note="", source="partner", added_by="test")
    assert engine.retro.run().items_matched == 0
    assert _count(engine, DecisionRow, item_id=rotated.id) == 2
    assert len(_events(engine, "item.retro_match")) == 1


def test_text_near_duplicate_and_actions_are_not_repeated(engine: Engine) -> None:
    engine.rules.save(RULES_STRIKE, created_by="test")
    first = engine.submit(engine.content("text", text=SLOGAN + "!!"), content_id="t-1", account_id="acct-2")
    assert first.verdict.verdict == "allow"
    engine.banks.create("slogans")
    engine.add_entry("slogans", EntryInput("text_sha256", "a" * 64, []), added_by="test")  # matches nothing
    engine.add_entries_from_content("slogans", engine.content("text", text=SLOGAN), labels=[], note="",
                                    source="test", added_by="test")
    report = engine.retro.run()
    assert report.items_matched == 1 and report.actions == 2
    item = engine.items.get(first.id)
    assert {m.signal_type for m in item.verdict.matches} >= {"text_minhash"}
    assert sorted(a.type for a in item.verdict.actions) == ["remove", "strike"]
    assert engine.accounts.history("acct-2")["active_strikes"] == 1
    # a second, separately banked near-copy of the same slogan: new match, but remove and strike were done
    engine.add_entries_from_content("slogans", engine.content("text", text=SLOGAN + " now"), labels=[], note="",
                                    source="test", added_by="test")
    second = engine.retro.run()
    assert second.items_matched == 1 and second.actions == 0
    assert engine.accounts.history("acct-2")["active_strikes"] == 1
    assert _count(engine, ActionRow, item_id=first.id, type="strike") == 1


def test_window_allow_banks_and_disabled_banks(engine: Engine) -> None:
    old = engine.submit(engine.content("text", text=SLOGAN), content_id="old")
    recent = engine.submit(engine.content("text", text=SLOGAN + "."), content_id="recent")
    with engine.db.session() as s:
        s.execute(update(ItemRow).where(ItemRow.id == old.id).values(received_at=utcnow() - timedelta(days=400)))
    engine.banks.create("allowed-news", kind="allow")
    engine.add_entries_from_content("allowed-news", engine.content("text", text=SLOGAN), labels=[], note="",
                                    source="test", added_by="test")
    engine.banks.create("paused")
    engine.update_bank("paused", {"enabled": False})
    engine.add_entries_from_content("paused", engine.content("text", text=SLOGAN), labels=[], note="",
                                    source="test", added_by="test")
    report = engine.retro.run()
    assert (report.entries, report.items_matched) == (0, 0)
    engine.banks.create("live")
    engine.add_entries_from_content("live", engine.content("text", text=SLOGAN), labels=[], note="",
                                    source="test", added_by="test")
    report = engine.retro.run()
    assert report.items_matched == 1 and report.items_scanned == 1  # the 400-day-old item is outside the window
    assert engine.items.get(recent.id).verdict.verdict == "block"
    assert engine.items.get(old.id).verdict.verdict == "allow"
    assert _count(engine, MatchRow, item_id=old.id) == 0
    # widening the window means re-running the entries already passed
    wider = engine.retro.run(window=timedelta(days=500), since_entry_id=0)
    assert wider.items_scanned == 2 and wider.items_matched == 1
    assert engine.items.get(old.id).verdict.verdict == "block"
    assert engine.retro.run(window=timedelta(days=500), since_entry_id=0).items_matched == 0


def test_background_pass_and_api(engine: Engine, client: TestClient, keys: dict[str, str]) -> None:
    admin, sub = auth(keys["admin"]), auth(keys["submitter"])
    r = client.post("/v1/items", json={"content_id": "bg-1", "text": SLOGAN}, headers=sub)
    item_id = r.json()["id"]
    assert r.json()["verdict"] == "allow"
    assert client.post("/v1/banks", json={"name": "fresh"}, headers=admin).status_code == 201
    digest = next(sig["value"] for sig in r.json()["signals"] if sig["type"] == "text_sha256")
    r = client.post("/v1/banks/fresh/entries", json={"signal_type": "text_sha256", "value": digest}, headers=admin)
    assert r.status_code in (200, 201), r.text
    deadline = time.monotonic() + 20  # the background pass is woken by the new entry
    while time.monotonic() < deadline:
        if client.get(f"/v1/items/{item_id}", headers=sub).json()["verdict"] == "block":
            break
        time.sleep(0.1)
    assert client.get(f"/v1/items/{item_id}", headers=sub).json()["verdict"] == "block"
    status = client.get("/v1/retro", headers=admin).json()
    assert status["pending_entries"] == 0 and status["last_run"]["items_matched"] == 1
    assert client.get("/v1/retro", headers=sub).status_code == 403
    assert client.post("/v1/retro/run", json={"window_days": -1}, headers=admin).status_code == 422
    run = client.post("/v1/retro/run", json={"window_days": 30, "since_entry_id": 0}, headers=admin)
    assert run.status_code == 200, run.text
    assert run.json()["entries"] == 1 and run.json()["items_matched"] == 0  # already matched: nothing twice


def test_cli_runs_a_pass_and_refuses_bad_options(tmp_path: Path) -> None:
    env = seawall_env(tmp_path)
    cli(["bank", "create", "cli-bank"], env)
    text_file = tmp_path / "slogans.txt"
    text_file.write_text("text_sha256 " + ("ab" * 32) + "\n")
    cli(["bank", "import", "cli-bank", str(text_file)], env)
    report = json.loads(cli(["retro", "--json"], env))
    assert report["entries"] == 1 and report["items_scanned"] == 0 and report["skipped"] is None
    bad = run_cli(["retro", "--days", "-1"], env)
    assert bad.returncode != 0 and "greater than or equal to 0" in bad.stderr


def test_entries_added_while_no_item_is_inside_the_window_are_passed_without_reading_them(engine: Engine) -> None:
    engine.banks.create("slogans")
    for i in range(3):
        engine.add_entry("slogans", EntryInput("text_sha256", f"{i:064x}", []), added_by="test")
    report = engine.retro.run()
    assert report.entries == 3 and report.items_scanned == 0 and report.items_matched == 0  # passed, none read
    status = engine.retro.status()
    assert status["cursor"] == report.cursor > 0 and status["pending_entries"] == 0
    # an item inside the window again: entries banked after it are read and matched as before
    first = engine.submit(engine.content("text", text=SLOGAN), content_id="t-9", account_id="acct-9")
    engine.add_entries_from_content("slogans", engine.content("text", text=SLOGAN), labels=[], note="",
                                    source="test", added_by="test")
    later = engine.retro.run()
    assert later.entries >= 1 and later.items_matched == 1
    assert {m.signal_type for m in engine.items.get(first.id).verdict.matches}
