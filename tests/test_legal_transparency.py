"""Transparency report figures (TCO Art. 7, DSA Art. 15/24) counted from the store: JSON, HTML with charts,
PDF, the console page and ``seawall report transparency``. SQLite and PostgreSQL, manual clock."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from seawall.engine import Engine
from seawall.legal.clock import ManualClock
from seawall.legal.transparency import compute
from tests import legal_support
from tests.cli_runner import cli_stdout as cli
from tests.cli_runner import run_cli
from tests.console_support import auth, make_users, sign_in
from tests.legal_support import T0, blocked_text_item, legal, order_body, pdf_text, post_text_item
from tests.processes import seawall_env

engine = legal_support.engine
clock = legal_support.clock
client = legal_support.client
PERIOD = "from=2026-01-01&to=2027-01-01"


def _scenario(client: TestClient, engine: Engine, keys: dict[str, str], clock: ManualClock) -> None:
    h = auth(keys["submitter"])
    post_text_item(client, keys["submitter"], "post-rep001")
    post_text_item(client, keys["submitter"], "post-rep002")
    client.post("/v1/removal-orders", json=order_body("https://social.example/posts/post-rep001"), headers=h)
    clock.advance(minutes=10)
    second = client.post("/v1/removal-orders", json=order_body("https://social.example/posts/post-rep002",
                                                               reference="R-2", issuing_state="FR"), headers=h).json()
    client.post(f"/v1/removal-orders/{second['id']}/reverse", headers=auth(keys["admin"]),
                json={"decided_by": "Coimisiún na Meán", "reason": "Art. 4(3)"})
    client.post("/v1/removal-orders", json=order_body("ftp:/x", reference="R-3", issuing_state="XX"), headers=h)
    late = client.post("/v1/removal-orders", json=order_body("https://social.example/p/late", reference="R-4"),
                       headers=h).json()
    clock.advance(minutes=70)
    client.post(f"/v1/removal-orders/{late['id']}/removed", headers=h)
    blocked = blocked_text_item(engine, "post-rep003")
    client.post("/v1/appeals", headers=h, json={"item_id": blocked, "statement": "it was satire"})
    legal(client).tick()


def test_report_figures_come_from_the_store(client: TestClient, engine: Engine, keys: dict[str, str],
                                            clock: ManualClock, tmp_path: Path) -> None:
    _scenario(client, engine, keys, clock)
    r = client.get(f"/v1/reports/transparency?{PERIOD}", headers=auth(keys["admin"]))
    assert r.status_code == 200, r.text
    rep = r.json()
    tco, dsa = rep["tco"], rep["dsa"]
    assert (tco["c_orders_received"], tco["c_orders_executed"], tco["c_orders_executed_within_hour"]) == (4, 3, 2)
    assert tco["c_items_removed_after_orders"] == 2 and tco["c_orders_not_executed"] == {"manifest_errors": 1}
    assert (tco["f_orders_reversed_on_scrutiny"], tco["f_reinstated_after_proceedings"]) == (1, 1)
    assert tco["c_items_removed_by_specific_measures"] == 1 and tco["d_complaints"] == 1
    assert tco["d_complaint_outcomes"] == {"pending": 1} and tco["e_review_proceedings_by_provider"] is None
    assert tco["preserved_items"] == 2
    de = dsa["orders_by_member_state"]["DE"]
    assert (de["orders"], de["executed"], de["median_minutes_to_effect"]) == (2, 2, 35.0)
    assert dsa["orders_by_member_state"]["XX"]["executed"] == 0
    assert dsa["orders_by_member_state"]["FR"]["executed"] == 1
    assert dsa["own_initiative"]["by_restriction"] == {"block": 1}
    assert dsa["own_initiative"]["by_detection_method"] == {"hash match": 1}
    assert dsa["statements_of_reasons"] == {"pending": 1}
    assert dsa["automated_moderation"]["automated_restrictions"] == 1
    # nothing in an empty period
    empty = compute(engine.db, T0 - timedelta(days=400), T0 - timedelta(days=300))
    assert empty["tco"]["c_orders_received"] == 0 and empty["dsa"]["own_initiative"]["by_restriction"] == {}
    html = client.get(f"/v1/reports/transparency?{PERIOD}&format=html", headers=auth(keys["admin"])).text
    assert html.count("<svg") == 4
    assert "<title>DE: 2</title>" in html and "<title>block: 1</title>" in html
    pdf = client.get(f"/v1/reports/transparency?{PERIOD}&format=pdf", headers=auth(keys["admin"]))
    text = pdf_text(pdf.content)
    assert "Transparency report" in text and "c orders received" in text and "Removal orders by issuing" in text
    bad = client.get("/v1/reports/transparency?from=2027-01-01&to=2026-01-01", headers=auth(keys["admin"]))
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_period"
    assert client.get(f"/v1/reports/transparency?{PERIOD}", headers=auth(keys["reviewer"])).status_code == 403
    # the console page (admins only)
    make_users(engine)
    sign_in(client, "admin")
    page = client.get(f"/console/transparency?{PERIOD}")
    assert page.status_code == 200 and 'id="orders-received">4<' in page.text and page.text.count("<svg") == 4
    sign_in(client, "reviewer")
    assert client.get(f"/console/transparency?{PERIOD}").status_code == 403


def test_report_command(tmp_path: Path) -> None:
    env = seawall_env(tmp_path / "data")
    out = json.loads(cli(["report", "transparency", "--from", "2026-01-01", "--to", "2027-01-01"], env))
    assert out["tco"]["c_orders_received"] == 0 and out["period"]["from"] == "2026-01-01T00:00:00+00:00"
    pdf = tmp_path / "r.pdf"
    cli(["report", "transparency", "--from", "2026-01-01", "--to", "2027-01-01", "--format", "pdf",
         "--out", str(pdf)], env)
    assert "Transparency report" in pdf_text(pdf.read_bytes())
    bad = run_cli(["report", "transparency", "--from", "2026-13-01", "--to", "2027-01-01"], env)
    assert bad.returncode == 2 and "--from" in bad.stderr
