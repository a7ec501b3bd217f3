"""Role checks for the senior queue and appeals, every console and API URL as every role (both backends).

The senior queue holds escalations and appeals: a plain reviewer may neither list nor open those
cases, nor fetch their media, a bank thumbnail cut from them, or the kept content of their item
through a reviewer API key. Appeals are filed by the platform (submitter keys), never by reviewers.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from seawall.api.app import create_app
from seawall.composition import review_service
from seawall.config import Settings
from seawall.engine import Engine
from seawall.review.users import ConsoleUsers
from seawall.store.tables import BankEntryMediaRow
from tests.conftest import auth
from tests.console_support import engine_for, held_image, make_users, sign_in

CONSOLE_ROLES = ("reviewer", "senior", "admin")


@pytest.fixture
def world(settings: Settings) -> Iterator[tuple[Engine, TestClient, ConsoleUsers]]:
    for eng in engine_for(settings):
        users = make_users(eng)
        with TestClient(create_app(engine=eng, follow_writes=False)) as client:
            yield eng, client, users


def _cases(engine: Engine, users: ConsoleUsers) -> dict[str, int | str]:
    """A standard case, a senior case (escalated by a reviewer), and bank thumbnails cut from each."""
    review = review_service(engine)
    reviewer = users.login("reviewer", "correct horse battery")[0]
    senior = users.login("senior", "correct horse battery")[0]
    standard, standard_item = held_image(engine, 11, content_id="std")
    escalated, escalated_item = held_image(engine, 12, content_id="esc")
    taught_std, _ = held_image(engine, 13, content_id="taught-std")
    taught_sen, _ = held_image(engine, 14, content_id="taught-sen")
    review.escalate(escalated, reviewer)
    review.escalate(taught_sen, reviewer)
    engine.banks.create("known")
    for case in (taught_std, taught_sen):
        out = review.decide(case, senior, outcome="violating", labels=["behaviour:glorification"], bank="known")
        assert out["added"] >= 1
    with engine.db.session() as s:
        thumbs = {row.case_id: row.entry_id for row in s.query(BankEntryMediaRow)}
    return {"standard": standard, "senior": escalated, "standard_item": standard_item,
            "senior_item": escalated_item, "thumb_standard": thumbs[taught_std], "thumb_senior": thumbs[taught_sen]}


def test_senior_queue_is_closed_to_reviewers_on_every_console_url(
        world: tuple[Engine, TestClient, ConsoleUsers]) -> None:
    engine, client, users = world
    ids = _cases(engine, users)
    for role in CONSOLE_ROLES:
        csrf = sign_in(client, role)
        senior_ok = role != "reviewer"
        want = 200 if senior_ok else 403
        got = {
            "senior queue": client.get("/console/queue?queue=senior").status_code,
            "senior case": client.get(f"/console/cases/{ids['senior']}").status_code,
            "senior media": client.get(f"/console/cases/{ids['senior']}/media").status_code,
            "senior thumbnail": client.get(f"/console/entries/{ids['thumb_senior']}/thumbnail").status_code,
        }
        assert got == dict.fromkeys(got, want), (role, got)
        # the standard queue stays open to everyone
        assert client.get(f"/console/cases/{ids['standard']}").status_code == 200
        assert client.get(f"/console/cases/{ids['standard']}/media").status_code == 200
        assert client.get(f"/console/entries/{ids['thumb_standard']}/thumbnail").status_code == 200
        # the unfiltered queue lists the senior case only to those who may open it
        listing = client.get("/console/queue").text
        assert (f"/console/cases/{ids['senior']}\"" in listing) is senior_ok, role
        assert f"/console/cases/{ids['standard']}\"" in listing
        # state-changing routes: refused before anything is recorded
        for action in ("reveal", "take"):
            r = client.post(f"/console/cases/{ids['senior']}/{action}", data={"csrf_token": csrf},
                            follow_redirects=False)
            assert (r.status_code == 403) is not senior_ok, (role, action, r.status_code)
        if not senior_ok:
            r = client.post(f"/console/cases/{ids['senior']}/decide",
                            data={"csrf_token": csrf, "outcome": "not_violating"})
            assert r.status_code == 403
    # the refused reveal left no trace in the audit log
    assert not engine_audit(engine, "reviewer", "media.reveal")
    assert engine_audit(engine, "senior", "media.reveal")


def engine_audit(engine: Engine, actor: str, action: str) -> list[object]:
    from seawall.review.audit import AuditLog

    return list(AuditLog(engine.db).query(actor=actor, action=action, limit=10))


def test_unknown_case_is_404_for_every_role(world: tuple[Engine, TestClient, ConsoleUsers]) -> None:
    _engine, client, _ = world
    for role in CONSOLE_ROLES:
        sign_in(client, role)
        assert client.get("/console/cases/999999").status_code == 404
        assert client.get("/console/cases/999999/media").status_code == 404


def test_kept_content_of_senior_items_needs_admin(world: tuple[Engine, TestClient, ConsoleUsers]) -> None:
    engine, client, users = world
    ids = _cases(engine, users)
    keys = {role: engine.api_keys.create(role, role)[0] for role in ("admin", "submitter", "reviewer")}
    expect = {("admin", "senior_item"): 200, ("admin", "standard_item"): 200,
              ("reviewer", "senior_item"): 403, ("reviewer", "standard_item"): 200,
              ("submitter", "senior_item"): 403, ("submitter", "standard_item"): 403}
    for (role, item), status in expect.items():
        r = client.get(f"/v1/items/{ids[item]}/content", headers=auth(keys[role]))
        assert r.status_code == status, (role, item, r.text)
        if status == 403:
            assert r.json()["code"] == "forbidden"


def test_appeals_are_filed_by_submitter_and_admin_keys_only(
        world: tuple[Engine, TestClient, ConsoleUsers]) -> None:
    engine, client, _ = world
    keys = {role: engine.api_keys.create(role, role)[0] for role in ("admin", "submitter", "reviewer")}
    for role, status in (("reviewer", 403), ("submitter", 201), ("admin", 201)):
        # one account per role: a second appeal while the first waits is a 409 of its own (tested elsewhere)
        account = f"acct-{role}"
        engine.submit(engine.content("text", text="hello there"), content_id=f"c-{role}", account_id=account)
        r = client.post(f"/v1/accounts/{account}/appeal", json={"text": f"appeal by {role}"},
                        headers=auth(keys[role]))
        assert r.status_code == status, (role, r.text)
        r = client.post("/v1/appeals", json={"item_id": "nope", "statement": "x"}, headers=auth(keys[role]))
        assert r.status_code == (403 if role == "reviewer" else 404), (role, r.text)
    for role, expected in (("reviewer", []), ("submitter", ["appeal by submitter"]), ("admin", ["appeal by admin"])):
        history = client.get(f"/v1/accounts/acct-{role}", headers=auth(keys["admin"])).json()
        assert [a["text"] for a in history["appeals"]] == expected, role
