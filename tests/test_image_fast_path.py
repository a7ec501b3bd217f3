"""The fast path for multipart uploads answers exactly as the documented ``POST /v1/items`` route.

Two apps share one engine: one with :class:`seawall.api.imagepath.ImageUploadFastPath`, one without. Every
request here goes to both, and the status, headers and body must be the same (item ids and times aside,
which differ for any two uploads); stored items are read back and compared too. The fast app's counter
shows the path was taken, so a test cannot pass by both apps quietly using the documented route. Hostile
bodies (broken multipart, too many parts, decompression bombs, bytes that are no image) are refused alike.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from seawall.api.app import create_app
from seawall.api.imagepath import ImageUploadFastPath
from seawall.api.routes.items import _RAW_FORM_LIMIT
from seawall.engine import Engine

from .conftest import auth, encode, textured_image

#: Fields that differ between any two stored uploads, whichever path stored them.
PER_ITEM = ("id", "received_at", "item_id", "created_at")
BOUNDARY = "seawall-image-boundary"
CTYPE = f"multipart/form-data; boundary={BOUNDARY}"


def fast_layer(app: FastAPI) -> ImageUploadFastPath:
    layer: Any = app.middleware_stack
    while layer is not None and not isinstance(layer, ImageUploadFastPath):
        layer = getattr(layer, "app", None)
    assert isinstance(layer, ImageUploadFastPath), "the fast path is not in the app's stack"
    return layer


def form(fields: dict[str, str | bytes], file: tuple[str, str, bytes] | None = None, *,
         boundary: str = BOUNDARY, file_name: str = "file") -> bytes:
    """A multipart body, written out by hand so that tests control every byte."""
    parts = []
    for name, value in fields.items():
        raw = value if isinstance(value, bytes) else value.encode()
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + raw + b"\r\n")
    if file is not None:
        filename, mime, data = file
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{file_name}"; filename="{filename}"\r\n'
                     f"Content-Type: {mime}\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts)


def jpeg(seed: int, size: tuple[int, int] = (640, 480)) -> bytes:
    return encode(textured_image(seed, size), "JPEG", quality=85)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width``×``height`` with a tiny, valid IDAT: a decompression-bomb shape."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = chunk(b"IDAT", zlib.compress(b"\x00" * 64))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + idat + chunk(b"IEND", b"")


class Pair:
    """The same engine behind two apps: ``fast`` (with the fast path) and ``twin`` (the documented route)."""

    def __init__(self, engine: Engine, **settings: Any) -> None:
        s = engine.settings.model_copy(update=settings) if settings else None
        self.fast_app = create_app(s, engine=engine, follow_writes=False)
        self.twin_app = create_app(s, engine=engine, follow_writes=False, image_fast_path=False)
        self.fast = TestClient(self.fast_app)
        self.twin = TestClient(self.twin_app)

    def served(self) -> int:
        return fast_layer(self.fast_app).served

    def both(self, body: bytes, headers: dict[str, str], *, ctype: str = CTYPE, twin_body: bytes | None = None,
             params: dict[str, str] | None = None) -> tuple[httpx.Response, httpx.Response]:
        """Send one body to each app (``twin_body``: a different one for the twin, e.g. another id)."""
        return tuple(client.post("/v1/items", content=b, params=params, headers={**headers, "Content-Type": ctype})
                     for client, b in ((self.fast, body), (self.twin, body if twin_body is None else twin_body)))  # type: ignore[return-value]


@pytest.fixture
def pair(engine: Engine) -> Iterator[Pair]:
    p = Pair(engine)
    with p.fast:  # one lifespan is enough: both apps share the engine it starts
        yield p


def normal(body: Any) -> Any:
    if isinstance(body, dict):
        return {k: ("…" if k in PER_ITEM else normal(v)) for k, v in body.items()}
    if isinstance(body, list):
        return [normal(v) for v in body]
    return body


def assert_same(fast: httpx.Response, twin: httpx.Response) -> None:
    assert fast.status_code == twin.status_code, (fast.text, twin.text)
    assert normal(fast.json()) == normal(twin.json())
    skip = {"content-length"}  # a stored item's id and time are the only per-item parts, of equal length
    assert [(k, v) for k, v in fast.headers.items() if k not in skip] == \
           [(k, v) for k, v in twin.headers.items() if k not in skip]


def test_uploads_are_answered_and_stored_alike(pair: Pair, keys: dict[str, str]) -> None:
    sub = auth(keys["submitter"])
    before, split = pair.served(), fast_layer(pair.fast_app).split
    extras: list[dict[str, str | bytes]] = [{}, {"account_id": "acct-7", "reach": "1200"},
                                            {"keep": "true", "context": '{"room": "r1"}'},
                                            {"content_type": "image", "once": "false"}]
    for i, extra in enumerate(extras):
        body = form({"content_id": f"img-{i}", **extra}, (f"p{i}.jpg", "image/jpeg", jpeg(i)))
        fast, twin = pair.both(body, sub)
        assert fast.status_code == 200, fast.text
        assert fast.json()["content_type"] == "image" and fast.json()["signals"]
        assert_same(fast, twin)
        stored = [pair.twin.get(f"/v1/items/{r.json()['id']}", headers=sub) for r in (fast, twin)]
        assert_same(*stored)
    assert pair.served() == before + len(extras)
    assert fast_layer(pair.fast_app).split == split + len(extras)  # plain bodies: split in one pass


def test_a_client_encoded_upload_is_split_and_answered_alike(pair: Pair, keys: dict[str, str]) -> None:
    """httpx writes its own multipart bodies (its boundary, its part headers): the plain shape, taken."""
    sub = auth(keys["submitter"])
    split = fast_layer(pair.fast_app).split
    fast, twin = (c.post("/v1/items", files={"file": ("a.jpg", jpeg(12), "image/jpeg")},
                         data={"content_id": "httpx", "account_id": "acct-2"}, headers=sub)
                  for c in (pair.fast, pair.twin))
    assert fast.status_code == 200, fast.text
    assert_same(fast, twin)
    assert fast_layer(pair.fast_app).split == split + 1


def test_banked_image_is_blocked_kept_and_counted_alike(pair: Pair, keys: dict[str, str], engine: Engine) -> None:
    engine.banks.create("pictures", labels=["behaviour:recruitment"])
    picture = jpeg(900, (800, 600))
    _, refused = engine.add_entries_from_content("pictures", engine.content("image", data=picture), labels=[],
                                                 note="", source="test", added_by="test")
    assert not refused
    body = form({"content_id": "bad", "account_id": "acct-1"}, ("bad.jpg", "image/jpeg", picture))
    fast, twin = pair.both(body, auth(keys["submitter"]))
    assert fast.json()["verdict"] == "block" and fast.json()["matches"]
    assert_same(fast, twin)
    reviewer = auth(keys["reviewer"])
    kept = [pair.twin.get(f"/v1/items/{r.json()['id']}/content", headers=reviewer) for r in (fast, twin)]
    assert kept[0].status_code == 200 and kept[0].json()["reason"] == "flagged"
    assert kept[0].json()["data_base64"] == kept[1].json()["data_base64"]
    assert_same(*kept)
    metrics = [app.get("/metrics").text for app in (pair.fast, pair.twin)]
    line = next(m for m in metrics[0].splitlines()
                if m.startswith('seawall_items_total{content_type="image",verdict="block"}'))
    assert line.endswith(" 1.0") and line in metrics[1].splitlines()  # each app counts its own


@pytest.mark.parametrize("who", ["none", "bad", "reviewer", "admin", "submitter", "scheme"])
def test_callers_are_admitted_and_refused_alike(pair: Pair, keys: dict[str, str], who: str) -> None:
    special = {"none": {}, "bad": auth("sw_not_a_key"), "scheme": {"Authorization": f"Basic {keys['submitter']}"}}
    headers = special[who] if who in special else auth(keys[who])
    before = pair.served()
    fast, twin = pair.both(form({"content_id": f"who-{who}"}, ("a.jpg", "image/jpeg", jpeg(3))), headers)
    assert fast.status_code == {"none": 401, "bad": 401, "scheme": 401, "reviewer": 403}.get(who, 200), fast.text
    assert_same(fast, twin)
    assert pair.served() == before + 1


PICTURE = jpeg(11)
INVALID: dict[str, tuple[bytes, str]] = {
    "no boundary parameter": (form({"content_id": "x"}, ("a.jpg", "image/jpeg", PICTURE)), "multipart/form-data"),
    "another boundary": (form({"content_id": "x"}, ("a.jpg", "image/jpeg", PICTURE), boundary="other"), CTYPE),
    "truncated": (form({"content_id": "x"}, ("a.jpg", "image/jpeg", PICTURE))[:-40], CTYPE),
    "empty body": (b"", CTYPE),
    "no name": (f'--{BOUNDARY}\r\nContent-Disposition: form-data\r\n\r\nx\r\n--{BOUNDARY}--\r\n'.encode(), CTYPE),
    "two files": (form({"content_id": "x"}, ("a.jpg", "image/jpeg", PICTURE)).replace(
        f"--{BOUNDARY}--".encode(), form({}, ("b.jpg", "image/jpeg", PICTURE))[:-2 - len(BOUNDARY) - 4]
        + f"--{BOUNDARY}--".encode()), CTYPE),
    "too many fields": (form({f"f{i}": "v" for i in range(21)} | {"content_id": "x"},
                             ("a.jpg", "image/jpeg", PICTURE)), CTYPE),
    "no content": (form({"content_id": "x"}), CTYPE),
    "file as a field": (form({"content_id": "x", "file": "not a file"}), CTYPE),
    "text as a file": (form({"content_id": "x"}, ("t.txt", "text/plain", b"hello"), file_name="text"), CTYPE),
    "content_id as a file": (form({}, ("t.txt", "text/plain", b"hello"), file_name="content_id"), CTYPE),
    "missing content_id": (form({}, ("a.jpg", "image/jpeg", PICTURE)), CTYPE),
    "NUL in content_id": (form({"content_id": "a\x00b"}, ("a.jpg", "image/jpeg", PICTURE)), CTYPE),
    "long content_id": (form({"content_id": "x" * 301}, ("a.jpg", "image/jpeg", PICTURE)), CTYPE),
    "keep not a flag": (form({"content_id": "x", "keep": "perhaps"}, ("a.jpg", "image/jpeg", PICTURE)), CTYPE),
    "context not JSON": (form({"content_id": "x", "context": "{"}, ("a.jpg", "image/jpeg", PICTURE)), CTYPE),
    "context a list": (form({"content_id": "x", "context": "[1]"}, ("a.jpg", "image/jpeg", PICTURE)), CTYPE),
    "reach a word": (form({"content_id": "x", "reach": "many"}, ("a.jpg", "image/jpeg", PICTURE)), CTYPE),
    "content_type text": (form({"content_id": "x", "content_type": "text"}, ("a.jpg", "image/jpeg", PICTURE)), CTYPE),
    "content_type unknown": (form({"content_id": "x", "content_type": "hologram"},
                                  ("a.jpg", "image/jpeg", PICTURE)), CTYPE),
    "bomb": (form({"content_id": "x"}, ("b.png", "image/png", png_header_only(40_000, 40_000))), CTYPE),
    "not an image": (form({"content_id": "x"}, ("a.jpg", "image/jpeg", b"plain words, no pixels")), CTYPE),
    "truncated image": (form({"content_id": "x"}, ("a.jpg", "image/jpeg", PICTURE[:len(PICTURE) // 3])), CTYPE),
    "empty file": (form({"content_id": "x"}, ("a.jpg", "image/jpeg", b"")), CTYPE),
    "text not UTF-8": (form({"content_id": "x", "text": b"caf\xe9"}), CTYPE),
    "text too long": (form({"content_id": "x", "text": "a" * (1024 * 1024 + 1)}), CTYPE),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_hostile_and_invalid_bodies_are_refused_alike(pair: Pair, keys: dict[str, str], engine: Engine,
                                                      case: str) -> None:
    body, ctype = INVALID[case]
    assert len(body) <= _RAW_FORM_LIMIT
    before = pair.served()
    items = len(engine.items.find_by_content_id("x"))
    fast, twin = pair.both(body, auth(keys["submitter"]), ctype=ctype)
    assert 400 <= fast.status_code < 500, fast.text
    assert_same(fast, twin)
    assert pair.served() == before + 1
    assert len(engine.items.find_by_content_id("x")) == items  # nothing stored by either


def test_form_text_items_and_files_are_answered_alike(pair: Pair, keys: dict[str, str]) -> None:
    sub = auth(keys["submitter"])
    before = pair.served()
    for body in (form({"content_id": "t1", "text": "café by the old harbour market"}),
                 form({"content_id": "f1"}, ("notes.bin", "application/octet-stream", b"\x00\x01plain bytes" * 50)),
                 form({"content_id": "f2", "content_type": "file"}, ("a.jpg", "image/jpeg", PICTURE))):
        fast, twin = pair.both(body, sub)
        assert fast.status_code == 200, fast.text
        assert_same(fast, twin)
    assert pair.served() == before + 3


def test_once_returns_the_first_item_whichever_path_stored_it(pair: Pair, keys: dict[str, str]) -> None:
    sub = auth(keys["submitter"])
    body = form({"content_id": "once-1", "once": "true"}, ("a.jpg", "image/jpeg", jpeg(5)))
    first = pair.fast.post("/v1/items", content=body, headers={**sub, "Content-Type": CTYPE})
    again_fast, again_twin = pair.both(body, sub)
    assert first.status_code == 200
    assert again_fast.json() == again_twin.json() == first.json()
    assert_same(again_fast, again_twin)


def test_other_requests_take_the_documented_route(pair: Pair, keys: dict[str, str]) -> None:
    sub = auth(keys["submitter"])
    before = pair.served()
    body = form({"content_id": "route"}, ("a.jpg", "image/jpeg", jpeg(6)))
    big = form({"content_id": "big"}, ("big.bin", "application/octet-stream", b"\x01" * (_RAW_FORM_LIMIT + 10)))
    for fast, twin in (
        pair.both(body, sub, params={"wait": "stage1"}),
        pair.both(body, sub, params={"wait": "never"}),
        pair.both(body, sub, ctype=CTYPE.replace("multipart", "Multipart")),
        pair.both(big, sub),  # over the size the route reads whole: parsed as it streams in, the documented way
    ):
        assert_same(fast, twin)
    assert pair.served() == before


def test_address_and_key_rate_limits_apply_alike(engine: Engine, keys: dict[str, str]) -> None:
    body = form({"content_id": "rl"}, ("a.jpg", "image/jpeg", jpeg(7)))
    for limits in ({"rate_limit_address_per_second": 0.001, "rate_limit_address_burst": 2},
                   {"rate_limit_key_per_second": 0.001, "rate_limit_key_burst": 2}):
        p = Pair(engine, **limits)
        answers = [p.both(body, auth(keys["submitter"])) for _ in range(3)]
        assert [f.status_code for f, _ in answers] == [200, 200, 429]
        for fast, twin in answers[:2]:
            assert_same(fast, twin)
        # an upload takes a moment, so the twin's wait may be a second shorter: the rest is the same
        fast, twin = answers[2]
        waits = [int(r.headers["retry-after"]) for r in (fast, twin)]
        assert abs(waits[0] - waits[1]) <= 2
        assert fast.json()["code"] == twin.json()["code"] == "rate_limited"
        assert [(k, v) for k, v in fast.headers.items() if k not in {"retry-after", "content-length"}] == \
               [(k, v) for k, v in twin.headers.items() if k not in {"retry-after", "content-length"}]
        assert p.served() == 3


def test_body_limit_applies_alike(engine: Engine, keys: dict[str, str]) -> None:
    small = form({"content_id": "s"}, ("s.jpg", "image/jpeg", jpeg(8, (64, 48))))
    large = form({"content_id": "l"}, ("l.jpg", "image/jpeg", jpeg(9)))
    p = Pair(engine, max_upload_bytes=len(small) + 10)
    for body, status in ((small, 200), (large, 413)):
        fast, twin = p.both(body, auth(keys["submitter"]))
        assert fast.status_code == status
        assert_same(fast, twin)
    assert p.served() == 1  # a body declared over the limit is refused by the stack, as ever
