"""Shared pieces for the legal tests: a client whose legal clock is a manual one, orders, items."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from seawall.api.app import create_app
from seawall.config import Settings
from seawall.engine import Engine
from seawall.legal.clock import ManualClock
from seawall.legal.service import LegalService
from tests.console_support import auth, engine_for

T0 = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    yield from engine_for(settings)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def client(engine: Engine, clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The app with its background tick parked (tests call ``tick()``) and the manual clock injected."""
    monkeypatch.setenv("SEAWALL_LEGAL_TICK_SECONDS", "3600")
    monkeypatch.setenv("SEAWALL_LEGAL_PROVIDER_NAME", "Example Hosting Ltd")
    monkeypatch.setenv("SEAWALL_LEGAL_ESTABLISHMENT_STATE", "IE")
    monkeypatch.setenv("SEAWALL_LEGAL_AUTHORISED_PERSON", "A. Compliance")
    monkeypatch.setenv("SEAWALL_LEGAL_CONTACT_EMAIL", "tco@hosting.example")
    with TestClient(create_app(engine=engine, follow_writes=False)) as c:
        legal(c).clock = clock
        yield c


def legal(client: TestClient) -> LegalService:
    service: LegalService = client.app.state.legal  # type: ignore[attr-defined]
    return service


def order_body(url: str = "https://social.example/posts/post-abc123", **over: Any) -> dict[str, Any]:
    """A complete Annex I order (every Art. 3(4) element present)."""
    body: dict[str, Any] = {
        "language": "en", "issuing_state": "DE", "addressee": "Example Hosting Ltd",
        "contact_point": "tco@hosting.example", "establishment_state": "IE",
        "issued_at": "2026-03-14T08:50:00+00:00", "reference": "BKA-2026-0042",
        "urls": [url], "reasons": ["incitement", "threat"], "additional_reasons": "Synthetic test order.",
        "authority": {"type": "law_enforcement", "name": "Bundeskriminalamt", "file_number": "ST-42",
                      "email": "tco@authority.example", "signed": True},
        "redress": {"body": "Verwaltungsgericht Wiesbaden", "deadline": "1 month from receipt"},
    }
    body.update(over)
    return body


def post_text_item(client: TestClient, key: str, content_id: str, account: str = "acct-7") -> str:
    """A stored, allowed text item whose content Seawall keeps (so it can be preserved)."""
    r = client.post("/v1/items", headers=auth(key), json={"content_id": content_id, "account_id": account,
                                                          "text": f"generated post {content_id}", "keep": True})
    assert r.status_code == 200 and r.json()["verdict"] == "allow", r.text
    return str(r.json()["id"])


def pdf_text(pdf: bytes) -> str:
    """The text drawn in a PDF: its content streams inflated, the strings of their text operators joined.

    Enough to check that a generated form says what the JSON says, without a PDF library.
    """
    import base64
    import contextlib
    import re
    import zlib

    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    out: list[str] = []
    for m in re.finditer(rb"stream\r?\n(.*?)endstream", pdf, re.S):
        raw = m.group(1).strip()
        if raw.endswith(b"~>"):
            raw = base64.a85decode(raw, adobe=True)
        with contextlib.suppress(zlib.error):
            raw = zlib.decompress(raw)
        for s in re.findall(rb"\(((?:\\.|[^\\)])*)\)\s*Tj", raw):
            out.append(re.sub(rb"\\(.)", rb"\1", s).decode("latin-1"))
    return " ".join(out)


def blocked_text_item(engine: Engine, content_id: str, account: str = "acct-b") -> str:
    """An item blocked at upload by a hash match (a generated text in a block bank): Seawall's own measure."""
    if "tvec" not in {b.name for b in engine.banks.list_banks()}:
        engine.banks.create("tvec", labels=["behaviour:glorification"])
    text = f"generated extremist stand-in text number {content_id} " * 3
    engine.add_entries_from_content("tvec", engine.content("text", text=text), labels=["behaviour:glorification"],
                                    note="", source="test list", added_by="test")
    item = engine.submit(engine.content("text", text=text), content_id=content_id, account_id=account, keep=True)
    assert item.verdict.verdict == "block", item.verdict
    return item.id
