"""The Matrix Synapse connector against a real Synapse and a real Seawall server, both on loopback.

One homeserver is connected to Seawall (fail-open, webhooks for later decisions); two more point at a
Seawall that cannot answer, one failing open (connection refused) and one failing closed (a listener
that never replies, so the module's own deadline is what ends the wait).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import select

from seawall.store.db import Database
from seawall.store.tables import ItemRow
from seawall.webhooks.delivery import sign_headers
from tests.conftest import encode, textured_image
from tests.processes import cli, free_port, running_server, seawall_env
from tests.synapse_server import Homeserver, User, running_homeservers

BANNED_TEXT = "generated stand-in for a banned recruitment slogan, copy 3"
WEBHOOK_PATH = "/_seawall/webhook"


@dataclass
class Seawall:
    base: str
    admin_key: str
    submitter_key: str
    data_dir: Path

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_key}"}

    def item(self, item_id: str) -> dict[str, Any]:
        r = httpx.get(f"{self.base}/v1/items/{item_id}", headers=self.admin, timeout=30)
        r.raise_for_status()
        got: dict[str, Any] = r.json()
        return got

    def content(self, item_id: str) -> dict[str, Any]:
        r = httpx.get(f"{self.base}/v1/items/{item_id}/content", headers=self.admin, timeout=30)
        r.raise_for_status()
        got: dict[str, Any] = r.json()
        return got

    def items_for(self, content_id: str) -> list[dict[str, Any]]:
        r = httpx.get(f"{self.base}/v1/items", params={"content_id": content_id}, headers=self.admin, timeout=30)
        r.raise_for_status()
        got: list[dict[str, Any]] = r.json()
        return got

    def decide(self, content_id: str, actions: list[Any]) -> dict[str, Any]:
        [item] = self.items_for(content_id)
        r = httpx.post(f"{self.base}/v1/items/{item['id']}/actions", headers=self.admin, timeout=30,
                       json={"actions": actions, "note": "decided in a test"})
        assert r.status_code == 201, r.text
        got: dict[str, Any] = r.json()
        return got

    def stored_media_items(self) -> list[ItemRow]:
        """Read straight from the server's store: a rejected upload's media id is never shown to its sender."""
        db = Database(f"sqlite:///{(self.data_dir / 'seawall.db').resolve()}")
        try:
            with db.session() as s:
                return list(s.scalars(select(ItemRow).where(ItemRow.content_id.like("mxc://%"))))
        finally:
            db.dispose()


@dataclass
class Matrix:
    hs: Homeserver
    room: str
    operator: User
    moderator: User

    def user(self, name: str) -> User:
        user = self.hs.register(name)
        user.join(self.room)
        return user


def wait_for(check: Callable[[], Any], seconds: float = 30.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def banned_image() -> Image.Image:
    return textured_image(4242)


@pytest.fixture(scope="module")
def seawall(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seawall]:
    """A Seawall server with a block bank holding the banned text and image, webhooks sent fast to loopback."""
    data = tmp_path_factory.mktemp("seawall")
    env = seawall_env(data, SEAWALL_WEBHOOK_ALLOW_HOSTS="127.0.0.1", SEAWALL_WEBHOOK_POLL_SECONDS="0.05",
                      SEAWALL_WEBHOOK_RETRY_BASE_SECONDS="0.2", SEAWALL_WEBHOOK_RETRY_MAX_SECONDS="1",
                      SEAWALL_WEBHOOK_TIMEOUT_SECONDS="10")
    admin_key = cli(["apikey", "create", "--role", "admin", "--name", "test"], env).strip().splitlines()[-1]
    submitter_key = cli(["apikey", "create", "--role", "submitter", "--name", "synapse"], env).strip().splitlines()[-1]
    with running_server(env) as base:
        sw = Seawall(base, admin_key, submitter_key, data)
        r = httpx.post(f"{base}/v1/banks", json={"name": "tvec"}, headers=sw.admin)
        assert r.status_code == 201, r.text
        r = httpx.post(f"{base}/v1/banks/tvec/entries", headers=sw.admin, json={
            "signal_type": "sha256", "value": hashlib.sha256(BANNED_TEXT.encode()).hexdigest()})
        assert r.status_code == 201, r.text
        r = httpx.post(f"{base}/v1/banks/tvec/entries", headers=sw.admin,
                       files={"file": ("b.jpg", encode(banned_image(), quality=95), "image/jpeg")})
        assert r.status_code == 201, r.text
        # warm up (language model, OCR, connections) so the first checks are not cut off by the deadline
        sub = {"Authorization": f"Bearer {submitter_key}"}
        httpx.post(f"{base}/v1/items", headers=sub, json={"content_id": "warm-up", "text": "warm up text"}, timeout=60)
        httpx.post(f"{base}/v1/items", headers=sub, data={"content_id": "warm-up"}, timeout=60,
                   files={"file": ("w.jpg", encode(textured_image(1)), "image/jpeg")})
        yield sw


def module_config(seawall_url: str, api_key: str, **extra: Any) -> list[dict[str, Any]]:
    """Deadlines generous for a busy test machine; the unreachable homeservers use the 1 s default."""
    return [{"module": "seawall_synapse.SeawallModule",
             "config": {"seawall_url": seawall_url, "api_key": api_key, "timeout_s": 5.0, "media_timeout_s": 20.0,
                        **extra}}]


@pytest.fixture(scope="module")
def matrix(seawall: Seawall, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    """A homeserver connected to Seawall, subscribed to its decisions through a signed webhook."""
    directory = tmp_path_factory.mktemp("synapse-connected")
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    token_file = directory / "admin-token"
    token_file.write_text("")
    modules = module_config(seawall.base, seawall.submitter_key, webhook_secret=secret,
                            admin_token_path=str(token_file), notice_user="@moderator:localhost",
                            synapse_url="http://127.0.0.1:{synapse_port}")
    with running_homeservers([(directory / "hs", modules)]) as [hs]:
        operator = hs.register("operator", admin=True)
        token_file.write_text(operator.token)
        moderator = hs.register("moderator")
        room = operator.create_room()
        moderator.join(room)
        r = httpx.post(f"{seawall.base}/v1/webhooks", headers=seawall.admin, json={
            "url": f"{hs.base}{WEBHOOK_PATH}", "secret": secret,
            "event_types": ["item.removed", "item.labelled", "account.suspended"]})
        assert r.status_code == 201, r.text
        yield Matrix(hs, room, operator, moderator)


@pytest.fixture(scope="module")
def unreachable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, User]]:
    """Two homeservers whose Seawall cannot answer: fail-open (port closed) and fail-closed (never replies)."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)  # accepts connections into its backlog, never reads or answers
    silent_url = f"http://127.0.0.1:{silent.getsockname()[1]}"
    closed_url = f"http://127.0.0.1:{free_port()}"
    root = tmp_path_factory.mktemp("synapse-unreachable")
    try:
        with running_homeservers([
            (root / "open", module_config(closed_url, "sw_unused_key", fail_closed=False, timeout_s=1.0)),
            (root / "closed", module_config(silent_url, "sw_unused_key", fail_closed=True, timeout_s=1.0,
                                            media_timeout_s=1.0)),
        ]) as [open_hs, closed_hs]:
            yield {"open": open_hs.register("olga"), "closed": closed_hs.register("clara")}
    finally:
        silent.close()


# --- upload time ------------------------------------------------------------------------------------------

def test_banned_message_is_refused_with_seawalls_reason_and_kept_as_evidence(matrix: Matrix, seawall: Seawall) -> None:
    alice = matrix.user("alice")
    r = alice.send(matrix.room, BANNED_TEXT)
    assert r.status_code == 403, r.text
    body = r.json()
    assert body["errcode"] == "M_FORBIDDEN" and body["org.seawall.verdict"] == "block"
    assert "tvec" in body["org.seawall.reason"]
    item = seawall.item(body["org.seawall.item_id"])
    assert item["verdict"] == "block" and item["account_id"] == alice.user_id
    kept = seawall.content(item["id"])
    assert kept["text"] == BANNED_TEXT and kept["reason"] == "flagged"
    assert kept["context"]["room_id"] == matrix.room and kept["context"]["sender"] == alice.user_id
    assert kept["context"]["content"]["body"] == BANNED_TEXT
    assert all(e.get("content", {}).get("body") != BANNED_TEXT for e in alice.messages(matrix.room))


def test_unrelated_message_passes_and_a_resend_gets_one_decision(matrix: Matrix, seawall: Seawall) -> None:
    alice = matrix.user("alice2")
    txn = f"/_matrix/client/v3/rooms/{matrix.room}/send/m.room.message/fixed-txn"
    first = httpx.put(f"{matrix.hs.base}{txn}", headers=alice.headers, json={"msgtype": "m.text", "body": "hi all"})
    again = httpx.put(f"{matrix.hs.base}{txn}", headers=alice.headers, json={"msgtype": "m.text", "body": "hi all"})
    assert first.status_code == 200 and again.json()["event_id"] == first.json()["event_id"]
    event_id = first.json()["event_id"]
    assert any(e["event_id"] == event_id for e in alice.messages(matrix.room))
    [item] = seawall.items_for(event_id)
    assert item["verdict"] == "allow" and item["account_id"] == alice.user_id
    assert seawall.content(item["id"])["reason"] == "asked"  # keep_content: evidence for a later removal


def test_banned_image_upload_is_refused_also_rotated_and_kept(matrix: Matrix, seawall: Seawall) -> None:
    bob = matrix.user("bob")
    before = {row.id for row in seawall.stored_media_items()}
    original = encode(banned_image(), quality=90)
    rotated = encode(banned_image().transpose(Image.Transpose.ROTATE_90), quality=80)
    for data in (original, rotated):
        r = bob.upload(data)
        assert r.status_code == 400, r.text
        assert r.json()["errcode"] == "M_UNKNOWN"
    fresh = [row for row in seawall.stored_media_items() if row.id not in before]
    assert sorted(row.verdict or "" for row in fresh) == ["block", "block"]
    kept = {base64.b64decode(seawall.content(row.id)["data_base64"]) for row in fresh}
    assert kept == {original, rotated}

    fine = bob.upload(encode(textured_image(77)))
    assert fine.status_code == 200, fine.text
    [item] = seawall.items_for(fine.json()["content_uri"])  # local media are known to Seawall by their mxc URI
    assert item["verdict"] == "allow"


# --- later decisions through the signed webhook ---------------------------------------------------------

def test_later_remove_redacts_a_message_that_had_passed(matrix: Matrix, seawall: Seawall) -> None:
    carol = matrix.user("carol")
    r = carol.send(matrix.room, "looked harmless when it was sent")
    assert r.status_code == 200, r.text
    event_id = r.json()["event_id"]
    assert carol.event(matrix.room, event_id)["content"]["body"] == "looked harmless when it was sent"
    seawall.decide(event_id, ["remove"])
    redacted = wait_for(lambda: carol.event(matrix.room, event_id)["content"] == {} and
                        carol.event(matrix.room, event_id))
    assert redacted["unsigned"]["redacted_because"]["sender"] == carol.user_id
    assert "Removed by moderation" in redacted["unsigned"]["redacted_because"]["content"]["reason"]
    [item] = seawall.items_for(event_id)
    assert item["verdict"] == "block"
    assert seawall.content(item["id"])["text"] == "looked harmless when it was sent"  # preserved after removal


def test_later_remove_quarantines_media(matrix: Matrix, seawall: Seawall) -> None:
    dan = matrix.user("dan")
    uri = dan.upload(encode(textured_image(91))).json()["content_uri"]
    download = f"{matrix.hs.base}/_matrix/media/v3/download/{uri.removeprefix('mxc://')}"
    assert httpx.get(download, timeout=30).status_code == 200
    seawall.decide(uri, ["remove"])
    wait_for(lambda: httpx.get(download, timeout=30).status_code == 404)


def test_later_label_posts_a_notice_in_reply(matrix: Matrix, seawall: Seawall) -> None:
    erin = matrix.user("erin")
    event_id = erin.send(matrix.room, "graphic but newsworthy report").json()["event_id"]
    seawall.decide(event_id, [{"label": "Graphic violence: news report"}])

    def notice() -> dict[str, Any] | None:
        for e in erin.messages(matrix.room):
            content = e.get("content", {})
            if content.get("org.seawall.label") == "Graphic violence: news report":
                return e
        return None

    found = wait_for(notice)
    assert found["sender"] == matrix.moderator.user_id and found["content"]["msgtype"] == "m.notice"
    assert found["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == event_id


def test_suspend_decision_suspends_the_sender(matrix: Matrix, seawall: Seawall) -> None:
    frank = matrix.user("frank")
    event_id = frank.send(matrix.room, "an ordinary message").json()["event_id"]
    seawall.decide(event_id, [{"suspend": 7}])
    wait_for(lambda: matrix.hs.admin_user(frank.user_id, matrix.operator)["suspended"])
    r = frank.send(matrix.room, "still here?")
    assert r.status_code == 403 and r.json()["errcode"] == "M_USER_SUSPENDED", r.text


def test_permanent_suspension_deactivates_the_sender(matrix: Matrix, seawall: Seawall) -> None:
    gina = matrix.user("gina")
    event_id = gina.send(matrix.room, "another ordinary message").json()["event_id"]
    seawall.decide(event_id, [{"suspend": "permanent"}])
    wait_for(lambda: matrix.hs.admin_user(gina.user_id, matrix.operator)["deactivated"])


def test_webhook_endpoint_accepts_only_seawalls_signature(matrix: Matrix) -> None:
    url = f"{matrix.hs.base}{WEBHOOK_PATH}"
    body = json.dumps({"type": "item.verdict", "timestamp": "2026-01-01T00:00:00+00:00", "data": {}})
    forged = sign_headers("whsec_" + base64.b64encode(b"x" * 32).decode(), "msg_forged", body)
    r = httpx.post(url, content=body, headers={**forged, "content-type": "application/json"})
    assert r.status_code == 401 and "signature" in r.json()["error"]
    assert httpx.post(url, content=body, headers={"content-type": "application/json"}).status_code == 401


# --- Seawall unreachable ------------------------------------------------------------------------------------

def test_fail_open_lets_messages_and_uploads_through(unreachable: dict[str, User]) -> None:
    olga = unreachable["open"]
    room = olga.create_room()
    r = olga.send(room, BANNED_TEXT)  # nothing can be checked, and the operator chose availability
    assert r.status_code == 200, r.text
    assert olga.upload(encode(banned_image())).status_code == 200


def test_fail_closed_refuses_within_the_modules_deadline(unreachable: dict[str, User]) -> None:
    clara = unreachable["closed"]
    room = clara.create_room()
    # the module's 1 s deadline answers; without it Synapse's own client would wait 60 s and this request's
    # 30 s client timeout would fail the test
    r = clara.send(room, "an innocent message nobody could check")
    assert r.status_code == 403 and r.json()["errcode"] == "M_FORBIDDEN", r.text
    assert "unavailable" in r.json()["org.seawall.reason"]
    assert clara.upload(encode(textured_image(3))).status_code == 400


def test_a_wrong_setting_stops_synapse_at_start_up(tmp_path: Path) -> None:
    modules = [{"module": "seawall_synapse.SeawallModule", "config": {"seawall_url": "http://127.0.0.1:9"}}]
    with pytest.raises(RuntimeError, match="api_key: is required"), running_homeservers([(tmp_path / "bad", modules)]):
        pass


def test_slogan_read_in_an_image_by_stage_two_quarantines_the_media(matrix: Matrix, seawall: Seawall) -> None:
    """The upload passes on its stage-1 verdict; stage 2 reads the slogan, decides again, and the module
    takes the media down when Seawall's ``item.removed`` arrives."""
    from seawall.media.content import Content
    from seawall.plugins import registry
    from tests.test_ocr_language import slogan, text_image

    phrase = slogan(77)
    value = registry().signal("text_sha256").compute(Content("text", text=phrase), for_query=False)[0].value
    r = httpx.post(f"{seawall.base}/v1/banks/tvec/entries", headers=seawall.admin,
                   json={"signal_type": "text_sha256", "value": value})
    assert r.status_code == 201, r.text
    olga = matrix.user("olga")
    up = olga.upload(text_image(phrase))
    assert up.status_code == 200, up.text  # stage 1 found nothing: the upload is published
    uri = up.json()["content_uri"]
    download = f"{matrix.hs.base}/_matrix/media/v3/download/{uri.removeprefix('mxc://')}"
    wait_for(lambda: httpx.get(download, timeout=30).status_code == 404, seconds=60)
    [item] = seawall.items_for(uri)
    assert item["final"] is True and item["verdict"] == "block"
    assert [a["type"] for a in item["actions"]] == ["remove"]
