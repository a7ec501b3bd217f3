"""TCO removal orders: intake (API, pasted text), the one-hour clock with its alerts, removal through the
action path, Annex II/III (JSON and PDF), Annex III pauses and Art. 4 reversal. SQLite and PostgreSQL,
with a manual clock: nothing sleeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from seawall.composition import legal_service
from seawall.engine import Engine
from seawall.legal.clock import ManualClock
from seawall.legal.intake_text import parse
from seawall.store.tables import RemovalOrderRow
from tests import legal_support
from tests.console_support import auth, events, make_users, sign_in
from tests.legal_support import T0, legal, order_body, pdf_text, post_text_item

engine = legal_support.engine
clock = legal_support.clock
client = legal_support.client


def _orders(engine: Engine) -> int:
    with engine.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(RemovalOrderRow)) or 0)


def test_order_removes_the_located_item_through_the_action_path(client: TestClient, engine: Engine,
                                                                  keys: dict[str, str], clock: ManualClock) -> None:
    item_id = post_text_item(client, keys["submitter"], "post-abc123")
    clock.advance(minutes=2)
    r = client.post("/v1/removal-orders", json=order_body(), headers=auth(keys["submitter"]))
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["status"] == "removed" and order["received_at"] == (T0 + timedelta(minutes=2)).isoformat()
    assert order["removed_at"] == order["received_at"] and order["within_hour"] is True
    assert [i["item_id"] for i in order["items"]] == [item_id] and order["flags"] == []
    item = client.get(f"/v1/items/{item_id}", headers=auth(keys["reviewer"])).json()
    assert item["verdict"] == "block"
    assert events(engine, "item.removed") == 1 and events(engine, "removal_order.received") == 1
    assert events(engine, "removal_order.removed") == 1 and events(engine, "uploader.notice") == 1
    # Annex II: the measure and its time, as JSON and PDF
    a2 = client.get(f"/v1/removal-orders/{order['id']}/annex-ii", headers=auth(keys["reviewer"])).json()
    assert a2["B"]["measure_at"] == order["removed_at"] and a2["A"]["received_at"] == order["received_at"]
    assert a2["A"]["order_reference"] == "BKA-2026-0042" and a2["C"]["provider_name"] == "Example Hosting Ltd"
    pdf = client.get(f"/v1/removal-orders/{order['id']}/annex-ii?format=pdf", headers=auth(keys["reviewer"]))
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert "BKA-2026-0042" in pdf_text(pdf.content) and "Section B" in pdf_text(pdf.content)
    # the same order delivered twice is one order
    again = client.post("/v1/removal-orders", json=order_body(), headers=auth(keys["submitter"]))
    assert again.status_code == 409 and again.json()["code"] == "order_exists"
    assert _orders(engine) == 1


def test_bad_orders_get_422_with_a_code_and_nothing_is_stored(client: TestClient, engine: Engine,
                                                               keys: dict[str, str]) -> None:
    h = auth(keys["submitter"])
    for body, code in ((order_body(received_at="2026-03-14T08:00:00Z"), "receipt_time_not_accepted"),
                       (order_body(reasons=["rudeness"]), "invalid_field"),
                       (order_body(urls="https://x.example/1"), "invalid_field"),
                       (order_body(unknown=1), "invalid_field"),
                       ([1, 2], "invalid_request")):
        r = client.post("/v1/removal-orders", json=body, headers=h)
        assert r.status_code == 422 and r.json()["code"] == code, (body, r.text)
    r = client.post("/v1/removal-orders", content=b"{not json", headers={**h, "content-type": "application/json"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_json"
    assert client.post("/v1/removal-orders", json=order_body(), headers=auth(keys["reviewer"])).status_code == 403
    assert _orders(engine) == 0


def test_alerts_at_30_45_55_and_60_minutes_go_out_once(client: TestClient, engine: Engine, keys: dict[str, str],
                                                       clock: ManualClock) -> None:
    service = legal(client)
    r = client.post("/v1/removal-orders", json=order_body("https://social.example/p/unknown-999"),
                    headers=auth(keys["submitter"]))
    order = r.json()
    assert r.status_code == 201 and order["status"] == "running"  # not among Seawall's items: the platform acts
    assert order["deadline_at"] == (T0 + timedelta(hours=1)).isoformat()
    clock.advance(minutes=29, seconds=59)
    assert service.tick()["alerts"] == []
    clock.advance(seconds=1)
    assert [a["minutes"] for a in service.tick()["alerts"]] == [30]
    assert service.tick()["alerts"] == []
    clock.advance(minutes=26)
    assert [a["minutes"] for a in service.tick()["alerts"]] == [45, 55]
    got = client.get(f"/v1/removal-orders/{order['id']}", headers=auth(keys["reviewer"])).json()
    assert got["alert_level"] == 55 and got["remaining_seconds"] == 4 * 60 and not got["overdue"]
    assert events(engine, "removal_order.alert") == 3
    make_users(engine)  # the console's order list shows the alert and the time left
    sign_in(client, "reviewer")
    page = client.get("/console/removal-orders").text
    assert 'class="alert level-55"' in page and "04:00" in page and "https://social.example" not in page
    detail = client.get(f"/console/removal-orders/{order['id']}").text
    assert 'id="countdown"' in detail and "04:00" in detail and "alert_55" in detail
    # the platform removed it by URL two minutes before the hour ended: the time is the server's
    clock.advance(minutes=2)
    done = client.post(f"/v1/removal-orders/{order['id']}/removed", headers=auth(keys["submitter"])).json()
    assert done["status"] == "removed" and done["within_hour"] is True
    assert done["removed_at"] == (T0 + timedelta(minutes=58)).isoformat()
    clock.advance(minutes=10)
    assert service.tick()["alerts"] == []  # no overdue alert for a removed order


def test_an_unmet_hour_raises_the_overdue_alert(client: TestClient, keys: dict[str, str],
                                                clock: ManualClock) -> None:
    order = client.post("/v1/removal-orders", json=order_body("https://social.example/p/other-1"),
                        headers=auth(keys["submitter"])).json()
    clock.advance(hours=2)
    assert [a["minutes"] for a in legal(client).tick()["alerts"]] == [30, 45, 55, 60]
    clock.advance(minutes=1)
    done = client.post(f"/v1/removal-orders/{order['id']}/removed", headers=auth(keys["submitter"])).json()
    assert done["within_hour"] is False


def test_annex_iii_force_majeure_holds_the_clock_until_the_obstacle_ends(
        client: TestClient, keys: dict[str, str], clock: ManualClock) -> None:
    h = auth(keys["reviewer"])
    order = client.post("/v1/removal-orders", json=order_body("https://social.example/p/held-1"),
                        headers=auth(keys["submitter"])).json()
    oid = order["id"]
    clock.advance(minutes=20)
    bad = client.post(f"/v1/removal-orders/{oid}/impossible", headers=h,
                      json={"reason": "manifest_errors", "explanation": "the URL is wrong"})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_field"  # which clarification is needed?
    bad = client.post(f"/v1/removal-orders/{oid}/impossible", headers=h,
                      json={"reason": "bored", "explanation": "x"})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_reason"
    r = client.post(f"/v1/removal-orders/{oid}/impossible", headers=h,
                    json={"reason": "force_majeure", "explanation": "data centre power outage"})
    assert r.status_code == 200 and r.json()["status"] == "paused" and r.json()["deadline_at"] is None
    a3 = client.get(f"/v1/removal-orders/{oid}/annex-iii", headers=h).json()
    assert a3["B"]["reason"] == "force_majeure" and a3["A"]["received_at"] == order["received_at"]
    pdf = client.get(f"/v1/removal-orders/{oid}/annex-iii?format=pdf", headers=h)
    assert "data centre power outage" in pdf_text(pdf.content)
    clock.advance(hours=3)
    assert legal(client).tick()["alerts"] == []  # held: no alerts
    assert client.post(f"/v1/removal-orders/{oid}/impossible", headers=h,
                       json={"reason": "force_majeure", "explanation": "again"}).status_code == 409
    resumed = client.post(f"/v1/removal-orders/{oid}/resume", headers=h, json={}).json()
    restart = T0 + timedelta(hours=3, minutes=20)
    assert resumed["status"] == "running" and resumed["clock_epoch"] == 1
    assert resumed["deadline_at"] == (restart + timedelta(hours=1)).isoformat()
    clock.advance(minutes=31)
    assert [(a["minutes"]) for a in legal(client).tick()["alerts"]] == [30]  # a new hour's alerts
    kinds = [e["kind"] for e in client.get(f"/v1/removal-orders/{oid}", headers=h).json()["events"]]
    assert kinds == ["received", "paused", "resumed", "alert_30"]


def test_an_order_missing_annex_i_fields_is_stored_flagged_and_answered(
        client: TestClient, keys: dict[str, str], clock: ManualClock) -> None:
    h = auth(keys["reviewer"])
    body = order_body(urls=[], authority={"name": "Bundeskriminalamt"}, redress={})
    r = client.post("/v1/removal-orders", json=body, headers=auth(keys["submitter"]))
    assert r.status_code == 201
    order = r.json()
    assert order["status"] == "paused" and order["paused_reason"] == "insufficient_information"
    assert {"missing: urls", "missing: authority.signed", "missing: redress.body"} <= set(order["flags"])
    a3 = client.get(f"/v1/removal-orders/{order['id']}/annex-iii", headers=h).json()
    assert a3["B"]["reason"] == "insufficient_information" and "urls" in a3["B"]["clarification_needed"]
    still = client.post(f"/v1/removal-orders/{order['id']}/resume", headers=h, json={})
    assert still.status_code == 422 and still.json()["code"] == "order_still_blocked"
    clock.advance(hours=5)
    fixed = client.post(f"/v1/removal-orders/{order['id']}/resume", headers=h,
                        json={"corrections": {"urls": ["https://social.example/p/clarified-1"]}}).json()
    assert fixed["status"] == "running" and fixed["clock_started_at"] == (T0 + timedelta(hours=5)).isoformat()
    assert "missing: urls" not in fixed["flags"]
    # manifest errors: not a Member State, a URL that is no URL
    bad = client.post("/v1/removal-orders", json=order_body("ftp:/nowhere", issuing_state="XX", reference="R-2"),
                      headers=auth(keys["submitter"])).json()
    assert bad["status"] == "paused" and bad["paused_reason"] == "manifest_errors"
    assert any("not an EU Member State" in f for f in bad["flags"])


def test_the_clock_crosses_midnight_and_never_runs_backwards_across_a_restart(
        client: TestClient, engine: Engine, keys: dict[str, str], clock: ManualClock) -> None:
    clock.set(datetime(2026, 12, 31, 23, 40, tzinfo=UTC))
    order = client.post("/v1/removal-orders", json=order_body("https://social.example/p/nye-1"),
                        headers=auth(keys["submitter"])).json()
    assert order["deadline_at"] == "2027-01-01T00:40:00+00:00"
    clock.set(datetime(2027, 1, 1, 0, 16, tzinfo=UTC))
    assert [a["minutes"] for a in legal(client).tick()["alerts"]] == [30]
    # a restarted service whose host clock is ten minutes behind
    restarted = legal_service(engine, clock=ManualClock(datetime(2027, 1, 1, 0, 6, tzinfo=UTC)))
    again = restarted.orders.get(order["id"])
    assert again["deadline_at"] == "2027-01-01T00:40:00+00:00" and again["received_at"] == order["received_at"]
    assert restarted.tick()["alerts"] == []  # the 30-minute alert was already sent
    done = restarted.orders.confirm_removed(order["id"], actor="test")
    assert done["removed_at"] == "2027-01-01T00:16:00+00:00"  # not before the last recorded event
    assert done["within_hour"] is True


def test_cross_border_scrutiny_reverses_the_order_and_reinstates(client: TestClient, engine: Engine,
                                                                 keys: dict[str, str]) -> None:
    item_id = post_text_item(client, keys["submitter"], "post-xb7777")
    order = client.post("/v1/removal-orders", json=order_body("https://social.example/posts/post-xb7777",
                                                              cross_border=True),
                        headers=auth(keys["submitter"])).json()
    assert order["status"] == "removed"
    h = auth(keys["admin"])
    r = client.post(f"/v1/removal-orders/{order['id']}/reverse", headers=h,
                    json={"decided_by": "Coimisiún na Meán (IE)", "reason": "manifest infringement (Art. 4(3))"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "reversed" and r.json()["reversal"]["restored"] == [item_id]
    assert client.get(f"/v1/items/{item_id}", headers=h).json()["verdict"] == "allow"
    assert events(engine, "item.restored") == 1 and events(engine, "removal_order.reversed") == 1
    assert client.post(f"/v1/removal-orders/{order['id']}/reverse", headers=h,
                       json={"decided_by": "x"}).json()["code"] == "order_reversed"


EMAIL = """From: tco@authority.example
Subject: Removal order BKA-2026-0077

REMOVAL ORDER (Article 3 of Regulation (EU) 2021/784)
Issuing Member State: DE
Order reference number: BKA-2026-0077
Date and time of issuing: 2026-03-14 08:45 UTC
Name of the issuing authority: Bundeskriminalamt
File number: ST-77
E-mail: tco@authority.example

Section B - content to be removed
URL: https://social.example/posts/post-mail01
Reasons:
[x] Article 2(7)(a): incites the commission of terrorist offences
[ ] Article 2(7)(b)
[x] Article 2(7)(d): provides instruction
"""


def test_an_authoritys_email_text_is_read_into_the_order_fields(client: TestClient, keys: dict[str, str]) -> None:
    parsed = parse(EMAIL)
    f = parsed["fields"]
    assert f["issuing_state"] == "DE" and f["reference"] == "BKA-2026-0077"
    assert f["issued_at"] == "2026-03-14T08:45:00+00:00" and f["authority"]["name"] == "Bundeskriminalamt"
    assert f["urls"] == ["https://social.example/posts/post-mail01"] and f["reasons"] == ["incitement", "instruction"]
    assert parsed["missing"] == []
    r = client.post("/v1/removal-orders/parse-text", json={"text": "Order reference number: X-1\nnothing else"},
                    headers=auth(keys["reviewer"]))
    assert r.status_code == 200 and set(r.json()["missing"]) == {"issuing_state", "issued_at", "authority.name",
                                                                 "urls", "reasons"}
