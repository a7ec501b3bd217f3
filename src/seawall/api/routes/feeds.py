"""``/v1/feeds``: banks published to partner Seawall instances as signed feeds.

Admins create feeds and partners; partners read ``/entries`` with their own token (a partner token
opens its feed and nothing else) and send ``/feedback`` signed with their own Ed25519 key, which an
admin registers on the partner. ``wait`` turns a read into a long poll: the
answer comes as soon as something is new, which is the live channel subscribers keep open.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from seawall.api.auth import require
from seawall.api.declared import ED25519_KEY, NAME_PATTERN, labels
from seawall.api.edge import StoredText
from seawall.api.schemas import ErrorBody
from seawall.apikeys import Principal
from seawall.banks.contributions import accept_contributions
from seawall.engine import Engine
from seawall.errors import InvalidInput, Unauthorized
from seawall.sharing.feeds import PAGE_MAX, read_ahead_hint

router = APIRouter(prefix="/v1/feeds", tags=["feeds"])
ERRORS: dict[int | str, dict[str, Any]] = {s: {"model": ErrorBody} for s in (401, 403, 404, 409, 422)}
admin = require("admin")
POLL_SECONDS = 0.1
#: Longest one event stream stays open (the client reconnects with Last-Event-ID), and heartbeat gap.
STREAM_SECONDS = 300.0
HEARTBEAT_SECONDS = 15.0
#: How often an open long poll or event stream checks that its partner was not revoked meanwhile.
RECHECK_SECONDS = 1.0


class FeedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: StoredText = Field(min_length=1, max_length=100, json_schema_extra={"pattern": NAME_PATTERN})
    banks: list[StoredText] = Field(min_length=1, max_length=100)
    partners: list[StoredText] = Field(default_factory=list, max_length=1000,
                                       json_schema_extra={"items": {"type": "string", "pattern": NAME_PATTERN}})
    labels: list[StoredText] = Field(default_factory=list, max_length=100, json_schema_extra=labels(),
                              description="Publish only entries carrying one of these labels (empty: all)")
    contributions_bank: StoredText | None = Field(None, max_length=100,
                                           description="A review-only bank that takes entries partners push "
                                                       "(null: the feed takes none)")


class PartnerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: StoredText = Field(min_length=1, max_length=100, json_schema_extra={"pattern": NAME_PATTERN})


class PartnerChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    public_key: StoredText | None = Field(None, max_length=100, json_schema_extra={"pattern": ED25519_KEY},
                                   description="The partner's Ed25519 public key (base64); its feedback is "
                                               "signed with the matching private key. null clears it.")
    revoked: bool | None = Field(None, description="true stops the partner's token; false restores it")


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


@router.post("", status_code=201, responses=ERRORS)
async def create_feed(body: FeedIn, request: Request, who: Principal = Depends(admin)) -> JSONResponse:
    """Publish banks to partners; the answer holds each partner's token, shown this once only."""
    engine = _engine(request)
    out = await run_in_threadpool(lambda: engine.feeds.create(body.name, body.banks, body.partners,
                                                              labels=body.labels,
                                                              contributions_bank=body.contributions_bank,
                                                              created_by=who.name))
    return JSONResponse(out, status_code=201)


@router.get("", responses=ERRORS)
async def list_feeds(request: Request, _: Principal = Depends(admin)) -> list[dict[str, Any]]:
    return await run_in_threadpool(_engine(request).feeds.list_feeds)


@router.get("/{name}", responses=ERRORS)
async def get_feed(name: str, request: Request, _: Principal = Depends(admin)) -> dict[str, Any]:
    """The feed, its partners and the public key partners pin when they subscribe."""
    return await run_in_threadpool(_engine(request).feeds.get, name)


@router.delete("/{name}", status_code=204, responses=ERRORS)
async def delete_feed(name: str, request: Request, _: Principal = Depends(admin)) -> None:
    await run_in_threadpool(_engine(request).feeds.delete, name)


@router.post("/{name}/partners", status_code=201, responses=ERRORS)
async def add_partner(name: str, body: PartnerIn, request: Request, _: Principal = Depends(admin)) -> JSONResponse:
    out = await run_in_threadpool(_engine(request).feeds.add_partner, name, body.name)
    return JSONResponse(out, status_code=201)


@router.patch("/{name}/partners/{partner}", responses=ERRORS)
async def update_partner(name: str, partner: str, body: PartnerChange, request: Request,
                         _: Principal = Depends(admin)) -> dict[str, Any]:
    """Register the partner's feedback key, or revoke or restore its token."""
    changes = body.model_dump(exclude_unset=True)
    if changes.get("revoked") is None:
        changes.pop("revoked", None)
    return await run_in_threadpool(_engine(request).feeds.update_partner, name, partner, changes)


@router.delete("/{name}/partners/{partner}", status_code=204, responses=ERRORS)
async def delete_partner(name: str, partner: str, request: Request, _: Principal = Depends(admin)) -> None:
    """Remove a partner: its token stops working and its opinions are forgotten."""
    await run_in_threadpool(_engine(request).feeds.delete_partner, name, partner)


@router.get("/{name}/feedback", responses=ERRORS)
async def feedback_summary(name: str, request: Request, _: Principal = Depends(admin)) -> dict[str, Any]:
    """Partners' opinions per entry and each partner's precision."""
    return await run_in_threadpool(_engine(request).feeds.feedback_summary, name)


@router.get("/{name}/entries", responses=ERRORS)
async def feed_entries(name: str, request: Request, after: str = Query("", max_length=200),
                       limit: int = Query(1000, ge=1, le=PAGE_MAX),
                       wait: float = Query(0, ge=0, le=30)) -> Response:
    """A signed page of entries and tombstones after ``after``; with ``wait`` held open until news.

    The answer is ``{"signature", "page"}`` with the page in canonical JSON (sorted keys, no spaces),
    exactly the bytes the signature covers. The ``Seawall-Checkpoint`` and ``Seawall-More`` headers
    repeat the page's checkpoint and whether more is waiting, unsigned: a subscriber may ask for the
    next page with them while it still verifies this one, and trusts only the signed page."""
    feeds = _engine(request).feeds
    partner = await run_in_threadpool(feeds.authenticate, name, request.headers.get("authorization", ""))
    deadline = time.monotonic() + wait
    checked = time.monotonic()
    while True:
        page = await run_in_threadpool(lambda: feeds.signed_page(partner, after or None, limit=limit))
        if page.news or time.monotonic() >= deadline or await request.is_disconnected():
            return Response(page.wire, media_type="application/json", headers=read_ahead_hint(page))
        await asyncio.sleep(POLL_SECONDS)
        if time.monotonic() - checked >= RECHECK_SECONDS:
            if not await run_in_threadpool(feeds.still_open, partner):
                raise Unauthorized("unknown or revoked partner token", code="invalid_token")
            checked = time.monotonic()


@router.get("/{name}/events", responses=ERRORS, response_class=StreamingResponse)
async def feed_events(name: str, request: Request, after: str = Query("", max_length=200),
                      limit: int = Query(1000, ge=1, le=PAGE_MAX),
                      seconds: float = Query(STREAM_SECONDS, ge=1, le=STREAM_SECONDS,
                                             description="How long the stream stays open before it ends")
                      ) -> StreamingResponse:
    """The feed's live channel as server-sent events: each signed page that carries news is one
    ``page`` event whose id is its checkpoint (a reconnect sends it back as ``Last-Event-ID``), with a
    comment line as a heartbeat when nothing happens. The same pages as ``/entries``, pushed. When the
    partner is revoked or removed the stream sends a ``revoked`` event and ends within seconds."""
    feeds = _engine(request).feeds
    partner = await run_in_threadpool(feeds.authenticate, name, request.headers.get("authorization", ""))
    cursor = request.headers.get("last-event-id") or after or None
    if cursor is not None and len(cursor) > 200:
        raise InvalidInput("Last-Event-ID: a checkpoint of at most 200 characters", code="invalid_checkpoint")

    async def events() -> AsyncIterator[bytes]:
        nonlocal cursor
        deadline = time.monotonic() + seconds
        beat = checked = time.monotonic()
        yield b"retry: 1000\n\n"
        while time.monotonic() < deadline and not await request.is_disconnected():
            if time.monotonic() - checked >= RECHECK_SECONDS:
                if not await run_in_threadpool(feeds.still_open, partner):
                    yield b"event: revoked\ndata: {}\n\n"
                    return
                checked = time.monotonic()
            page = await run_in_threadpool(feeds.signed_page, partner, cursor, limit=limit)
            if page.has_rows:
                yield b"event: page\nid: " + page.checkpoint.encode() + b"\ndata: " + page.wire + b"\n\n"
                beat = time.monotonic()
            cursor = page.checkpoint
            if page.more:
                continue
            if time.monotonic() - beat >= HEARTBEAT_SECONDS:
                yield b": keep-alive\n\n"
                beat = time.monotonic()
            await asyncio.sleep(POLL_SECONDS)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@router.post("/{name}/feedback", responses=ERRORS)
async def feed_feedback(name: str, request: Request) -> dict[str, Any]:
    """A partner's opinions on entries (``true_positive``, ``false_positive``, ``seen``):
    ``{"feedback": {"feed", "sent_at", "opinions": [{entry_id, opinion}]}, "signature"}``, the signature
    being Ed25519 over the canonical JSON of ``feedback`` by the partner's registered key. A bad
    signature is a 401, a replay (not newer than the last accepted) a 409; nothing is recorded."""
    feeds = _engine(request).feeds
    partner = await run_in_threadpool(feeds.authenticate, name, request.headers.get("authorization", ""))
    raw = await request.body()
    return await run_in_threadpool(feeds.feedback, partner, raw)


@router.post("/{name}/contributions", responses=ERRORS)
async def feed_contributions(name: str, request: Request) -> dict[str, Any]:
    """A partner pushes entries ``{"entries": [{signal_type, value, labels}]}``; they land in the feed's
    review-only bank (403 ``contributions_closed`` when it names none), malformed ones rejected by position."""
    engine = _engine(request)
    partner = await run_in_threadpool(engine.feeds.authenticate, name, request.headers.get("authorization", ""))
    bank = await run_in_threadpool(engine.feeds.contributions_bank, partner)
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise InvalidInput("the body is not JSON", code="invalid_body") from None
    return await run_in_threadpool(accept_contributions, engine.add_entry, bank, partner, body)
