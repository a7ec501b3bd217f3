"""DSA statements of reasons: generated for every restriction (not for authority orders), checked by a
local validator with every Transparency Database field rule, and submitted in all-or-nothing batches
of at most 100 to a local stand-in of the database. SQLite and PostgreSQL where the store is involved."""

from __future__ import annotations

import copy
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from seawall.composition import legal_service, review_service
from seawall.engine import Engine
from seawall.legal import tdb
from seawall.legal.clock import ManualClock
from seawall.legal.sor_fields import CATEGORIES
from seawall.legal.sor_validate import validate
from seawall.store.tables import StatementRow
from tests import legal_support
from tests.console_support import PASSWORD, auth, events, held_image, make_users
from tests.legal_support import T0, blocked_text_item, legal, order_body, post_text_item
from tests.tdb_fake import FakeTransparencyDatabase

engine = legal_support.engine
clock = legal_support.clock
client = legal_support.client

VALID: dict[str, Any] = {
    "decision_visibility": ["DECISION_VISIBILITY_CONTENT_REMOVED"],
    "decision_ground": "DECISION_GROUND_INCOMPATIBLE_CONTENT",
    "incompatible_content_ground": "Terms of service 4.2", "incompatible_content_explanation": "terrorist content",
    "decision_facts": "matched a hash list", "category": "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY",
    "category_specification": ["KEYWORD_TERRORIST_CONTENT"], "content_type": ["CONTENT_TYPE_IMAGE"],
    "content_date": "2026-03-01", "application_date": "2026-03-02", "territorial_scope": ["DE", "GR", "NO"],
    "source_type": "SOURCE_VOLUNTARY", "automated_detection": "Yes", "automated_decision": "AUTOMATED_DECISION_FULLY",
    "puid": "example-sor-1",
}

# (change to a valid record, field named, rule named): one case per rule in the schema
CASES: list[tuple[dict[str, Any], str, str]] = [
    ({"decision_visibility": None}, "decision_visibility", "required_without_all"),
    ({"decision_visibility": ["DECISION_VISIBILITY_HIDDEN"]}, "decision_visibility", "in"),
    ({"decision_visibility": ["DECISION_VISIBILITY_OTHER"]}, "decision_visibility_other", "required"),
    ({"decision_visibility": ["DECISION_VISIBILITY_OTHER"], "decision_visibility_other": "x" * 501},
     "decision_visibility_other", "max:500"),
    ({"decision_monetary": "DECISION_MONETARY_OTHER"}, "decision_monetary_other", "required"),
    ({"decision_monetary": "DECISION_MONETARY_FINE"}, "decision_monetary", "in"),
    ({"decision_provision": "DECISION_PROVISION_SOME"}, "decision_provision", "in"),
    ({"decision_account": "DECISION_ACCOUNT_BANNED"}, "decision_account", "in"),
    ({"account_type": "ACCOUNT_TYPE_ROBOT"}, "account_type", "in"),
    ({"decision_ground": None}, "decision_ground", "required"),
    ({"decision_ground": "DECISION_GROUND_VIBES"}, "decision_ground", "in"),
    ({"decision_ground_reference_url": "not a url"}, "decision_ground_reference_url", "url"),
    ({"decision_ground": "DECISION_GROUND_ILLEGAL_CONTENT"}, "illegal_content_legal_ground", "required"),
    ({"decision_ground": "DECISION_GROUND_ILLEGAL_CONTENT", "illegal_content_legal_ground": "x" * 501,
      "illegal_content_explanation": "y"}, "illegal_content_legal_ground", "max:500"),
    ({"decision_ground": "DECISION_GROUND_ILLEGAL_CONTENT", "illegal_content_legal_ground": "x",
      "illegal_content_explanation": "y" * 2001}, "illegal_content_explanation", "max:2000"),
    ({"incompatible_content_ground": ""}, "incompatible_content_ground", "required"),
    ({"incompatible_content_explanation": "y" * 2001}, "incompatible_content_explanation", "max:2000"),
    ({"incompatible_content_illegal": "Maybe"}, "incompatible_content_illegal", "in"),
    ({"decision_facts": ""}, "decision_facts", "required"),
    ({"decision_facts": "f" * 5001}, "decision_facts", "max:5000"),
    ({"category": None}, "category", "required"),
    ({"category": "STATEMENT_CATEGORY_TERRORISM"}, "category", "in"),
    ({"category_addition": ["STATEMENT_CATEGORY_NOPE"]}, "category_addition", "in"),
    ({"category_specification": ["KEYWORD_NOPE"]}, "category_specification", "in"),
    ({"category_specification": ["KEYWORD_OTHER"]}, "category_specification_other", "required"),
    ({"content_type": []}, "content_type", "required"),
    ({"content_type": ["CONTENT_TYPE_HOLOGRAM"]}, "content_type", "in"),
    ({"content_type": ["CONTENT_TYPE_OTHER"]}, "content_type_other", "required"),
    ({"content_id": {"ISBN": "1"}}, "content_id", "array:EAN-13"),
    ({"content_id": {"EAN-13": "123"}}, "content_id.EAN-13", "digits:13"),
    ({"content_language": "en"}, "content_language", "in"),
    ({"content_date": None}, "content_date", "required"),
    ({"content_date": "1999-12-31"}, "content_date", "between"),
    ({"content_date": "14/03/2026"}, "content_date", "date_format:Y-m-d"),
    ({"application_date": "2019-12-31"}, "application_date", "between"),
    ({"application_date": "2038-01-02"}, "application_date", "between"),
    ({"end_date_account_restriction": "2026-03-01"}, "end_date_account_restriction",
     "after_or_equal:application_date"),
    ({"end_date_visibility_restriction": "2038-02-01"}, "end_date_visibility_restriction", "between"),
    ({"territorial_scope": ["EL"]}, "territorial_scope", "in"),
    ({"source_type": None}, "source_type", "required"),
    ({"source_type": "SOURCE_RUMOUR"}, "source_type", "in"),
    ({"source_type": "SOURCE_ARTICLE_16", "source_identity": "x" * 501}, "source_identity", "max:500"),
    ({"automated_detection": "yes"}, "automated_detection", "in"),
    ({"automated_decision": None}, "automated_decision", "required"),
    ({"automated_decision": "AUTOMATED_DECISION_SOMEWHAT"}, "automated_decision", "in"),
    ({"puid": None}, "puid", "required"),
    ({"puid": "has space"}, "puid", "regex"),
    ({"puid": "p" * 501}, "puid", "max:500"),
]


def test_a_valid_statement_passes() -> None:
    assert validate(VALID) == []
    assert validate({**VALID, "decision_visibility": None, "decision_account": "DECISION_ACCOUNT_SUSPENDED"}) == []
    assert validate({**VALID, "source_type": "SOURCE_VOLUNTARY", "source_identity": "x" * 600}) == []  # ignored


@pytest.mark.parametrize(("change", "field", "rule"), CASES, ids=[f"{c[1]}-{c[2]}" for c in CASES])
def test_every_field_rule_names_the_field_and_rule(change: dict[str, Any], field: str, rule: str) -> None:
    rec = copy.deepcopy(VALID)
    rec.update(change)
    problems = validate(rec)
    assert {"field": field, "rule": rule} in [{"field": p["field"], "rule": p["rule"]} for p in problems], problems


def test_every_restriction_gets_a_statement_but_authority_orders_do_not(
        client: TestClient, engine: Engine, keys: dict[str, str], clock: ManualClock) -> None:
    blocked = blocked_text_item(engine, "post-auto9", account="acct-s")
    post_text_item(client, keys["submitter"], "post-order9")
    client.post("/v1/removal-orders", json=order_body("https://social.example/posts/post-order9"),
                headers=auth(keys["submitter"]))
    made = legal(client).tick()["statements"]
    assert len(made) == 1 and legal(client).tick()["statements"] == []  # once per decision
    [st] = client.get("/v1/statements", headers=auth(keys["reviewer"])).json()
    rec = st["record"]
    assert st["item_id"] == blocked and validate(rec) == []
    assert rec["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_DISABLED"]
    assert rec["category"] == "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY"
    assert rec["category_specification"] == ["KEYWORD_TERRORIST_CONTENT"]
    assert (rec["automated_detection"], rec["automated_decision"]) == ("Yes", "AUTOMATED_DECISION_FULLY")
    assert rec["source_type"] == "SOURCE_VOLUNTARY" and rec["content_type"] == ["CONTENT_TYPE_TEXT"]
    assert rec["application_date"] == datetime.now(UTC).date().isoformat() and len(rec["territorial_scope"]) == 30
    assert "acct-s" not in str(rec)  # no personal data
    assert "complain to us free of charge for six months" in st["user_text"]
    assert events(engine, "uploader.notice") == 2  # the statement's notice and the order's Art. 11 notice


def _pending(engine: Engine, n: int, start: int = 0) -> None:
    with engine.db.session() as s:
        for i in range(start, start + n):
            s.add(StatementRow(puid=f"example-sor-{i}", decision_id=i, item_id=f"item{i}", record={
                **VALID, "puid": f"example-sor-{i}"}, user_text="", created_at=T0, status="pending"))


def _statuses(engine: Engine) -> dict[str, int]:
    with engine.db.session() as s:
        rows = s.execute(select(StatementRow.status)).scalars().all()
    return {st: rows.count(st) for st in set(rows)}


def test_batches_of_at_most_100_are_all_or_nothing(engine: Engine) -> None:
    _pending(engine, 205)
    with engine.db.session() as s:  # one statement fails the local rules: never sent
        bad = s.scalar(select(StatementRow).where(StatementRow.puid == "example-sor-7"))
        assert bad is not None
        bad.record = {**bad.record, "category": "STATEMENT_CATEGORY_TERRORISM"}
    dry = tdb.submit(engine.db, "", "", T0, dry_run=True)
    assert (dry.batches, dry.pending, list(dry.invalid_locally)) == (3, 204, ["example-sor-7"])
    assert _statuses(engine) == {"pending": 205}
    with FakeTransparencyDatabase("tok") as fake:
        fake.stored["example-sor-150"] = {}  # already in the database (a puid is never reused)
        with pytest.raises(tdb.SubmissionRefused):
            tdb.submit(engine.db, fake.url, "wrong", T0)
        report = tdb.submit(engine.db, fake.url, "tok", T0)
        assert fake.calls == [100, 100, 4]
        assert list(report.rejected) == ["example-sor-150"] and report.pending == 99
        assert len(report.submitted) == 104 and report.invalid_locally == {}  # marked by the first run
        assert _statuses(engine) == {"submitted": 104, "pending": 99, "rejected": 2}
        fake.rate_limited = True
        stopped = tdb.submit(engine.db, fake.url, "tok", T0)
        assert stopped.stopped == "HTTP 429" and _statuses(engine)["pending"] == 99
        again = tdb.submit(engine.db, fake.url, "tok", T0)
        assert len(again.submitted) == 99 and _statuses(engine) == {"submitted": 203, "rejected": 2}
        assert len(fake.stored) == 204
    with engine.db.session() as s:
        row = s.scalar(select(StatementRow).where(StatementRow.puid == "example-sor-1"))
        assert row is not None and row.tdb_uuid and row.submitted_at is not None
        bad = s.scalar(select(StatementRow).where(StatementRow.puid == "example-sor-7"))
        assert bad is not None and bad.error == {"local": [{"field": "category", "rule": "in", "message": (
            "category: 'STATEMENT_CATEGORY_TERRORISM' is not one of " + ", ".join(CATEGORIES))}]}
    export = tdb.export(engine.db, status="submitted", size=50)
    assert [len(b["statements"]) for b in export["batches"]] == [50, 50, 50, 50, 3]


def test_concurrent_submissions_leave_every_stored_statement_submitted(engine: Engine) -> None:
    """Two submissions at once (a double click, a retry) send the same pending statements: the database stores
    each once and refuses the copy as not unique. That refusal must not mark a statement the database holds as
    rejected: every statement ends submitted, with the database's uuid."""
    _pending(engine, 150)
    copies = 6
    barrier = threading.Barrier(copies)

    def submit(_: int) -> tdb.SubmitReport:
        barrier.wait()
        return tdb.submit(engine.db, fake.url, "tok", T0, size=50)

    with FakeTransparencyDatabase("tok") as fake, ThreadPoolExecutor(copies) as pool:
        reports = list(pool.map(submit, range(copies)))
    assert len(fake.stored) == 150
    assert _statuses(engine) == {"submitted": 150}, [r.to_dict()["rejected"].keys() for r in reports]
    with engine.db.session() as s:
        rows = s.scalars(select(StatementRow)).all()
        assert {r.puid: r.tdb_uuid for r in rows} == {p: st["uuid"] for p, st in fake.stored.items()}
        assert all(r.error is None and r.submitted_at is not None for r in rows)


def test_a_reviewers_restriction_gets_a_partly_automated_statement(
        client: TestClient, engine: Engine, keys: dict[str, str]) -> None:
    users = make_users(engine)
    case_id, item_id = held_image(engine, 4242, account="acct-r")
    senior, _ = users.login("senior", PASSWORD)
    review_service(engine).decide(case_id, senior, outcome="violating", labels=["behaviour:glorification"],
                                 actions=engine.actions.parse(["remove"]))
    made = legal(client).tick()["statements"]
    assert len(made) == 1
    [st] = client.get(f"/v1/statements?item_id={item_id}", headers=auth(keys["reviewer"])).json()
    rec = st["record"]
    assert validate(rec) == [] and rec["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_REMOVED"]
    assert (rec["automated_detection"], rec["automated_decision"]) == ("Yes", "AUTOMATED_DECISION_PARTIALLY")
    assert rec["content_type"] == ["CONTENT_TYPE_IMAGE"]
    assert "A person decided" not in st["user_text"] and "a person decided" in st["user_text"]
    r = client.post("/v1/statements/validate", json={**rec, "puid": "bad puid"}, headers=auth(keys["reviewer"]))
    assert r.json()["valid"] is False and r.json()["problems"][0]["field"] == "puid"


def test_restrictions_from_before_the_first_start_are_not_announced(engine: Engine, clock: ManualClock) -> None:
    """Upgrading an instance with years of blocks must not send every old uploader a statement now."""
    old = blocked_text_item(engine, "post-old-1", account="acct-old")
    service = legal_service(engine, clock=clock)  # first start: the cursor begins after the newest action
    assert service.tick()["statements"] == []
    new = blocked_text_item(engine, "post-new-1", account="acct-new")
    made = service.tick()["statements"]
    with engine.db.session() as s:
        items = [r.item_id for r in s.scalars(select(StatementRow).where(StatementRow.id.in_(made)))]
    assert items == [new] and old not in items
    assert legal_service(engine, clock=clock).tick()["statements"] == []  # a restart keeps its place


def test_nodes_starting_together_write_the_statement_cursor_once(engine: Engine) -> None:
    """Two API nodes start at the same moment: both find no cursor, only one writes it, neither fails."""
    import threading

    from sqlalchemy import delete

    from seawall.legal.statements import CURSOR_FLAG, start_cursor
    from seawall.store.tables import RuntimeFlagRow

    with engine.db.session() as s:
        s.execute(delete(RuntimeFlagRow).where(RuntimeFlagRow.name == CURSOR_FLAG))
    gate = threading.Barrier(8)
    failures: list[BaseException] = []

    def start() -> None:
        gate.wait()
        try:
            start_cursor(engine.db)
        except BaseException as exc:  # any failure is the finding
            failures.append(exc)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    with engine.db.session() as s:
        assert len(list(s.scalars(select(RuntimeFlagRow).where(RuntimeFlagRow.name == CURSOR_FLAG)))) == 1
