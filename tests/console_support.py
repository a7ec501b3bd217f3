"""Helpers shared by the console tests: sign in, read CSRF tokens, hold an image for review, count effects."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from seawall.api.app import create_app
from seawall.composition import build_engine, review_service
from seawall.config import Settings
from seawall.engine import Engine
from seawall.review.users import ConsoleUsers
from seawall.store.tables import StrikeRow, SuspensionRow, WebhookEventRow
from seawall.webhooks.events import EVENT_TYPES
from tests.conftest import auth, encode, textured_image

PASSWORD = "correct horse battery"


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, html
    return m.group(1)


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Sign in (dropping any earlier session) and return the session's CSRF token."""
    client.cookies.clear()
    page = client.get("/console/login")
    r = client.post("/console/login", data={"username": username, "password": password,
                                            "csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return csrf_of(client.get("/console/queue").text)


def engine_for(settings: Settings, **extra: object) -> Iterator[Engine]:
    """An engine whose webhooks may target loopback and whose strike thresholds are low, with a
    subscriber for every event type so every announcement lands in the outbox."""
    eng = build_engine(settings.model_copy(update={"webhook_allow_hosts": "127.0.0.1", "webhook_poll_seconds": 5.0,
                                             "strikes_for_temporary_suspension": 2, **extra}))
    try:
        eng.webhooks.create(url="http://127.0.0.1:9/hook", event_types=list(EVENT_TYPES))
        yield eng
    finally:
        eng.close()


def make_users(engine: Engine) -> ConsoleUsers:
    u = ConsoleUsers(engine.db)
    for name, role in (("reviewer", "reviewer"), ("reviewer2", "reviewer"), ("senior", "senior"),
                       ("senior2", "senior"), ("admin", "admin")):
        u.create(name, PASSWORD, role)
    return u


#: Review cases are about who may see and decide what, not about image size: a quarter of the default
#: pixels keeps every hash (PDQ quality included) and costs less hashing per held upload.
HELD_IMAGE_SIZE = (320, 240)


def held_image(engine: Engine, seed: int, *, account: str | None = "acct-1", content_id: str | None = None,
               labels: tuple[str, ...] = ("behaviour:glorification",), reach: int | None = None) -> tuple[int, str]:
    """Upload a generated image that matches the ``watch`` review bank; returns (case id, item id)."""
    if "watch" not in {b.name for b in engine.banks.list_banks()}:
        engine.banks.create("watch", default_action="review")
    data = encode(textured_image(seed, HELD_IMAGE_SIZE))
    engine.add_entries_from_content("watch", engine.content("image", data=data), labels=list(labels), note="",
                                    source="test list", added_by="test")
    item = engine.submit(engine.content("image", data=data), content_id=content_id or f"post-{seed}",
                         account_id=account, reach=reach)
    assert item.verdict.verdict == "review", item.verdict
    [case] = [c for c in review_service(engine).waiting() if c.item_id == item.id]
    return case.id, item.id


def events(engine: Engine, event_type: str) -> int:
    with engine.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(WebhookEventRow)
                            .where(WebhookEventRow.type == event_type)) or 0)


def strikes(engine: Engine, account: str) -> int:
    with engine.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(StrikeRow).where(StrikeRow.account_id == account)) or 0)


def suspensions(engine: Engine, account: str) -> int:
    with engine.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(SuspensionRow)
                            .where(SuspensionRow.account_id == account)) or 0)


@pytest.fixture
def app_client(engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(engine=engine, follow_writes=False)) as c:
        yield c


__all__ = ["PASSWORD", "auth", "csrf_of", "engine_for", "events", "held_image", "make_users", "sign_in", "strikes",
           "suspensions"]
