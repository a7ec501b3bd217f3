"""``once`` under concurrent re-sends: fifty identical uploads at the same moment are one upload.

A platform that retries (or a federation peer that re-delivers) may send one event many times at
once. Each of them must get the first item back, and the store must hold exactly one item, one
decision, one strike and one set of webhook events, so a retry storm can never suspend an account.
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from seawall.api.app import create_app
from seawall.banks.service import EntryInput
from seawall.composition import build_engine
from seawall.config import Settings
from seawall.engine import Engine
from seawall.store.tables import (
    ActionRow,
    DecisionRow,
    ItemContentRow,
    ItemRow,
    StrikeRow,
    SuspensionRow,
    WebhookDeliveryRow,
    WebhookEventRow,
)

from .conftest import auth, encode, textured_image
from .live_server import all_at_once, serving
from .webhook_receiver import Receiver

BANNED = "generated stand-in for a banned slogan, number 50"
IMAGE = encode(textured_image(50))
DUPLICATES = 50
RULES = """\
rules:
  - id: threat
    when: {match: {bank_kind: block}}
    then: [block, strike]
"""
EVENTS = ["item.verdict", "account.strike", "account.suspended"]


@pytest.fixture
def live(settings: Settings) -> Iterator[tuple[Engine, str, str, Receiver]]:
    """A served engine whose rules strike on every block; two strikes would suspend the account."""
    receiver = Receiver()
    eng = build_engine(settings.model_copy(update={
        "webhook_allow_hosts": "127.0.0.1", "webhook_poll_seconds": 0.05, "strikes_for_temporary_suspension": 2}))
    try:
        eng.banks.create("tvec")
        eng.add_entry("tvec", EntryInput("sha256", hashlib.sha256(BANNED.encode()).hexdigest(), []), added_by="test")
        eng.add_entries_from_content("tvec", eng.content("image", data=IMAGE), labels=[], note="", source="",
                                     added_by="test")
        eng.rules.save(RULES, created_by="test")
        secret = eng.webhooks.create(url=receiver.url(), event_types=EVENTS, created_by="test")["secret"]
        receiver.secret = secret
        key = eng.api_keys.create("submitter", "platform")[0]
        with serving(create_app(engine=eng, follow_writes=False)) as base:
            yield eng, base, key, receiver
    finally:
        eng.close()
        receiver.stop()


def _count(eng: Engine, table: Any, *where: Any) -> int:
    with eng.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(table).where(*where)) or 0)


def _wait_for(check: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def _check_one_upload(eng: Engine, base: str, key: str, receiver: Receiver, responses: list[httpx.Response],
                      content_id: str, account: str) -> None:
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses if r.status_code != 200]
    bodies = [r.json() for r in responses]
    first = bodies[0]
    assert {b["id"] for b in bodies} == {first["id"]}, "a duplicate got an item of its own"
    assert {b["verdict"] for b in bodies} == {"block"}
    assert _count(eng, ItemRow, ItemRow.content_id == content_id) == 1
    assert _count(eng, ItemContentRow) == 1
    assert _count(eng, DecisionRow) == 1
    assert _count(eng, ActionRow) == 2  # block and strike, once
    assert _count(eng, StrikeRow, StrikeRow.account_id == account) == 1
    assert _count(eng, SuspensionRow) == 0
    status = httpx.get(f"{base}/v1/accounts/{account}", headers=auth(key)).json()
    assert status["active_strikes"] == 1 and status["status"] == "active", status
    with eng.db.session() as s:
        types = sorted(s.scalars(select(WebhookEventRow.type)))
    assert types == ["account.strike", "item.verdict"]
    assert _count(eng, WebhookDeliveryRow) == 2
    _wait_for(lambda: len(receiver.processed) == 2)
    time.sleep(0.3)  # a duplicate delivery, if any, would arrive now
    assert sum(receiver.arrivals.values()) == 2 and receiver.bad_signatures == 0


def test_fifty_concurrent_text_resends_are_one_upload(live: tuple[Engine, str, str, Receiver]) -> None:
    eng, base, key, receiver = live
    body = {"content_id": "$event:hs", "account_id": "@sender:hs", "text": BANNED, "once": True}
    responses = all_at_once(DUPLICATES, lambda c: c.post(f"{base}/v1/items", json=body, headers=auth(key)))
    _check_one_upload(eng, base, key, receiver, responses, "$event:hs", "@sender:hs")


def test_fifty_concurrent_image_resends_are_one_upload(live: tuple[Engine, str, str, Receiver]) -> None:
    eng, base, key, receiver = live
    form = {"content_id": "mxc://hs/media", "account_id": "@poster:hs", "once": "true"}
    responses = all_at_once(DUPLICATES, lambda c: c.post(f"{base}/v1/items", data=form, headers=auth(key),
                                              files={"file": ("a.jpg", IMAGE, "image/jpeg")}))
    _check_one_upload(eng, base, key, receiver, responses, "mxc://hs/media", "@poster:hs")


def test_concurrent_video_resends_store_one_pending_item(live: tuple[Engine, str, str, Receiver]) -> None:
    """Deferred uploads (video, animated GIF) are stored pending and queued: duplicates queue nothing."""
    eng, base, key, _ = live
    frames = [textured_image(n, (64, 48)) for n in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=200, loop=0)
    form = {"content_id": "mxc://hs/clip", "account_id": "@clipper:hs", "once": "true"}
    responses = all_at_once(DUPLICATES, lambda c: c.post(f"{base}/v1/items", data=form, headers=auth(key),
                                              files={"file": ("a.gif", buf.getvalue(), "image/gif")}))
    assert {r.status_code for r in responses} <= {200, 202}, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert _count(eng, ItemRow, ItemRow.content_id == "mxc://hs/clip") == 1
    _wait_for(lambda: _count(eng, ItemRow, ItemRow.status == "pending") == 0)
    assert _count(eng, DecisionRow) == 1
    spool = eng.settings.data_dir / "spool"
    assert not spool.exists() or not any(spool.iterdir()), "a duplicate left its upload spooled"


def test_once_is_per_submitter_and_resends_without_once_still_count(
        live: tuple[Engine, str, str, Receiver]) -> None:
    eng, base, key, _ = live
    other = eng.api_keys.create("submitter", "another platform")[0]
    body = {"content_id": "shared-id", "text": "hello", "once": True}
    a = httpx.post(f"{base}/v1/items", json=body, headers=auth(key)).json()
    b = httpx.post(f"{base}/v1/items", json=body, headers=auth(other)).json()
    assert a["id"] != b["id"], "two platforms' content ids are separate namespaces"
    again = httpx.post(f"{base}/v1/items", json={**body, "once": False}, headers=auth(key)).json()
    assert again["id"] not in (a["id"], b["id"])
    assert _count(eng, ItemRow, ItemRow.content_id == "shared-id") == 3
