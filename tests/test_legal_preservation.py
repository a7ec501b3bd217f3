"""TCO Art. 6 preservation (kept, audited reads, extension, automatic deletion), Art. 11 notices under an
authority's embargo, and complaint deadlines on the appeal path. SQLite and PostgreSQL, manual clock."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from seawall.engine import Engine
from seawall.legal.clock import ManualClock
from seawall.store.tables import AuditRow
from tests import legal_support
from tests.console_support import auth, events
from tests.legal_support import T0, blocked_text_item, legal, order_body, post_text_item

engine = legal_support.engine
clock = legal_support.clock
client = legal_support.client


def test_removed_content_is_kept_six_months_read_with_a_purpose_then_deleted(
        client: TestClient, engine: Engine, keys: dict[str, str], clock: ManualClock) -> None:
    item_id = post_text_item(client, keys["submitter"], "post-keep01")
    order = client.post("/v1/removal-orders", json=order_body("https://social.example/posts/post-keep01"),
                        headers=auth(keys["submitter"])).json()
    assert order["status"] == "removed"
    h = auth(keys["reviewer"])
    bad = client.get(f"/v1/preservation/{item_id}?purpose=curiosity", headers=h)
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_purpose"
    kept = client.get(f"/v1/preservation/{item_id}?purpose=judicial_review", headers=h).json()
    assert base64.b64decode(kept["content_base64"]) == b"generated post post-keep01"
    assert kept["preserve_until"] == (T0 + timedelta(days=183)).isoformat()
    assert kept["related"]["item"]["content_id"] == "post-keep01" and kept["order_id"] == order["id"]
    with engine.db.session() as s:
        reads = s.scalars(select(AuditRow).where(AuditRow.action == "preservation.read")).all()
        assert [(r.object_id, r.detail["purpose"]) for r in reads] == [(item_id, "judicial_review")]
    # an authority asks to keep it longer (Art. 6(2)); extending needs an admin key
    until = (T0 + timedelta(days=300)).isoformat()
    body = {"until": until, "requested_by": "Verwaltungsgericht Wiesbaden", "reason": "review proceedings"}
    assert client.post(f"/v1/preservation/{item_id}/extend", json=body, headers=h).status_code == 403
    short = client.post(f"/v1/preservation/{item_id}/extend", headers=auth(keys["admin"]),
                        json={**body, "until": (T0 + timedelta(days=10)).isoformat()})
    assert short.status_code == 422
    r = client.post(f"/v1/preservation/{item_id}/extend", json=body, headers=auth(keys["admin"]))
    assert r.status_code == 200 and r.json()["preserve_until"] == until and r.json()["extended"] is True
    # the same request again (a retry) is answered with the vault as it stands: nothing recorded twice
    again = client.post(f"/v1/preservation/{item_id}/extend", json=body, headers=auth(keys["admin"]))
    assert again.status_code == 200 and again.json()["extended"] is False
    assert again.json()["extensions"] == r.json()["extensions"] and len(r.json()["extensions"]) == 1
    with engine.db.session() as s:
        assert len(s.scalars(select(AuditRow).where(AuditRow.action == "preservation.extend")).all()) == 1
    # another authority asking for no longer than the stay already runs is still told so
    other = client.post(f"/v1/preservation/{item_id}/extend", headers=auth(keys["admin"]),
                        json={**body, "requested_by": "another generated court"})
    assert other.status_code == 422 and other.json()["code"] == "invalid_field"
    clock.advance(days=200)  # past six months, within the extension
    assert legal(client).tick()["purged"] == []
    clock.advance(days=101)
    assert legal(client).tick()["purged"] == [item_id]
    gone = client.get(f"/v1/preservation/{item_id}?purpose=judicial_review", headers=h)
    assert gone.status_code == 404 and gone.json()["code"] == "preservation_expired"
    assert legal(client).tick()["purged"] == []


def test_the_uploader_is_not_told_during_the_authoritys_embargo(client: TestClient, engine: Engine,
                                                                keys: dict[str, str], clock: ManualClock) -> None:
    item_id = post_text_item(client, keys["submitter"], "post-quiet1", account="acct-q")
    embargo = T0 + timedelta(weeks=2)
    client.post("/v1/removal-orders", headers=auth(keys["submitter"]),
                json=order_body("https://social.example/posts/post-quiet1", do_not_inform=True,
                                notify_embargo_until=embargo.isoformat()))
    notices = client.get(f"/v1/uploader-notices?item_id={item_id}", headers=auth(keys["submitter"])).json()
    assert len(notices) == 1 and notices[0]["withheld"] is True and notices[0]["text"] is None
    assert events(engine, "uploader.notice") == 0
    clock.advance(weeks=2, seconds=-1)
    assert legal(client).tick()["notices_released"] == []
    clock.advance(seconds=1)
    assert legal(client).tick()["notices_released"] == [notices[0]["id"]]
    assert events(engine, "uploader.notice") == 1
    [notice] = client.get(f"/v1/uploader-notices?item_id={item_id}", headers=auth(keys["submitter"])).json()
    assert notice["withheld"] is False and "Regulation (EU) 2021/784" in notice["text"]
    assert "BKA-2026-0042" in notice["text"] and "48 hours" in notice["text"]
    # an embargo longer than Art. 11(3) allows is a manifest error
    too_long = order_body("https://social.example/posts/x-2", reference="R-long", do_not_inform=True,
                          notify_embargo_until=(T0 + timedelta(weeks=13)).isoformat())
    r = client.post("/v1/removal-orders", json=too_long, headers=auth(keys["submitter"])).json()
    assert r["status"] == "paused" and r["paused_reason"] == "manifest_errors"


def test_complaints_go_through_appeals_with_a_two_week_deadline(client: TestClient, engine: Engine,
                                                                keys: dict[str, str], clock: ManualClock) -> None:
    item_id = blocked_text_item(engine, "post-auto1")
    r = client.post("/v1/appeals", headers=auth(keys["submitter"]),
                    json={"item_id": item_id, "statement": "this was a news report about an attack"})
    assert r.status_code == 201, r.text
    clock.set(datetime.now(UTC))
    [c] = client.get("/v1/complaints", headers=auth(keys["reviewer"])).json()
    assert c["item_id"] == item_id and c["overdue"] is False and c["case_id"] is not None
    received = datetime.fromisoformat(c["received_at"])
    assert datetime.fromisoformat(c["due_at"]) == received + timedelta(days=14)
    clock.set(received + timedelta(days=14, seconds=1))
    [late] = client.get("/v1/complaints", headers=auth(keys["reviewer"])).json()
    assert late["overdue"] is True
