"""Deferred items: 202 at once, verdict later, nothing lost across a restart, no spool files left.

The background path is exercised through the plugin interface with a small deferred signal type
defined here (a digest over video bytes that refuses empty files), exactly as a video signal plugs in.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from fastapi.testclient import TestClient

from seawall.api.app import create_app
from seawall.builtin import register
from seawall.composition import build_engine
from seawall.config import Settings
from seawall.engine import Engine
from seawall.errors import InvalidInput
from seawall.media.content import Content
from seawall.models.records import ComputedSignal
from seawall.plugins import Registry
from seawall.signals.digest import DigestSignal

from .conftest import auth, wait_for_item


class SlowVideoDigest(DigestSignal):
    name = "video_sha1"
    algorithm = "sha1"
    hex_length = 40
    content_types: ClassVar[tuple[str, ...]] = ("video",)
    deferred = True

    def compute(self, content: Content, *, for_query: bool = False) -> list[ComputedSignal]:
        if not content.raw_bytes.strip(b"\x00"):
            raise InvalidInput("the video has no frames", code="empty_video")
        return super().compute(content, for_query=for_query)


def _registry() -> Registry:
    reg = Registry()
    register(reg)
    reg.signal_types.pop("vpdq", None)  # the stand-in bytes below are not a real video
    reg.add_signal_type(SlowVideoDigest())
    return reg


@pytest.fixture
def video_engine(settings: Settings) -> Iterator[Engine]:
    eng = build_engine(settings, reg=_registry())
    try:
        yield eng
    finally:
        eng.close()



def test_video_item_is_accepted_then_decided(video_engine: Engine) -> None:
    admin = video_engine.api_keys.create("admin")[0]
    data = b"generated video stand-in " * 1000
    with TestClient(create_app(engine=video_engine, follow_writes=False)) as client:
        client.post("/v1/banks", json={"name": "vids"}, headers=auth(admin))
        client.post("/v1/banks/vids/entries", json={"signal_type": "video_sha1",
                                                    "value": hashlib.sha1(data).hexdigest()}, headers=auth(admin))
        r = client.post("/v1/items", files={"file": ("v.mp4", data, "video/mp4")}, data={"content_id": "v1"},
                        headers=auth(admin))
        assert r.status_code == 202, r.text
        assert r.json()["status"] == "pending" and r.json()["verdict"] is None
        assert r.headers["location"] == f"/v1/items/{r.json()['id']}"
        done = wait_for_item(client, admin, r.json()["id"])
        assert done["status"] == "complete" and done["verdict"] == "block"
        assert [m["signal_type"] for m in done["matches"]] == ["video_sha1"]  # type: ignore[union-attr]
        assert {s["type"] for s in done["signals"]} == {"md5", "sha256", "video_sha1"}  # type: ignore[union-attr]
        bad = client.post("/v1/items", files={"file": ("e.mp4", b"\x00" * 64, "video/mp4")},
                          data={"content_id": "v2"}, headers=auth(admin))
        failed = wait_for_item(client, admin, bad.json()["id"])
        assert failed["status"] == "failed" and failed["error"] == {
            "code": "empty_video", "message": "the video has no frames"}
    assert list((video_engine.settings.data_dir / "spool").iterdir()) == []


def test_pending_items_survive_a_restart(settings: Settings) -> None:
    first = build_engine(settings, reg=_registry())
    first.items.enqueue = lambda stage, item_id: None  # accepted, then the process "dies" before working
    item = first.submit(first.content("video", data=b"x" * 500), content_id="late")
    assert item.status == "pending"
    first.close()
    spool = settings.data_dir / "spool" / f"{item.id}.upload"
    assert spool.exists()
    second = build_engine(settings, reg=_registry())
    try:
        second.start_workers()
        deadline = time.monotonic() + 10
        while second.items.get(item.id).status == "pending" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert second.items.get(item.id).status == "complete"
        assert not spool.exists()
        second.items.process(item.id)  # a repeated delivery changes nothing
        assert second.items.get(item.id).status == "complete"
    finally:
        second.close()


def test_images_still_decided_in_the_request(video_engine: Engine, tmp_path: Path) -> None:
    admin = video_engine.api_keys.create("admin")[0]
    with TestClient(create_app(engine=video_engine, follow_writes=False)) as client:
        r = client.post("/v1/items", json={"content_id": "t", "text": "hello"}, headers=auth(admin))
        assert r.status_code == 200 and r.json()["status"] == "complete"
