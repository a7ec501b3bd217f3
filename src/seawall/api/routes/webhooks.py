"""``/v1/webhooks``: subscriptions, their delivery log and manual redelivery (admin only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import JsonDict
from starlette.concurrency import run_in_threadpool

from seawall.api.auth import require
from seawall.api.declared import WEBHOOK_SECRET, WEBHOOK_URL, names, not_null
from seawall.api.edge import MAX_INT64, Id32, Id64, StoredText
from seawall.api.schemas import ErrorBody
from seawall.apikeys import Principal
from seawall.engine import Engine
from seawall.errors import InvalidInput

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
ERRORS: dict[int | str, dict[str, Any]] = {s: {"model": ErrorBody} for s in (401, 403, 404, 422)}
admin = require("admin")


#: What ``seawall.webhooks`` checks of a URL and event list (the URL's address is checked too, when used).
_URL: JsonDict = {"pattern": WEBHOOK_URL}
_EVENTS: JsonDict = {"items": {"type": "string", **names("event_types")}}


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: StoredText = Field(min_length=1, max_length=2000, json_schema_extra=_URL)
    event_types: list[StoredText] = Field(min_length=1, max_length=50, json_schema_extra=_EVENTS)
    description: StoredText = Field(default="", max_length=2000)
    enabled: bool = True
    secret: StoredText | None = Field(
        default=None, max_length=200, description="whsec_… (generated when omitted, null or empty)",
        json_schema_extra={"anyOf": [{"type": "string", "maxLength": 0},
                                     {"type": "string", "pattern": WEBHOOK_SECRET}, {"type": "null"}]})


class WebhookPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=not_null)
    url: StoredText | None = Field(default=None, min_length=1, max_length=2000, json_schema_extra=_URL)
    event_types: list[StoredText] | None = Field(default=None, min_length=1, max_length=50,
                                                 json_schema_extra=_EVENTS)
    description: StoredText | None = Field(default=None, max_length=2000)
    enabled: bool | None = None
    secret: StoredText | None = Field(default=None, max_length=200, json_schema_extra={"pattern": WEBHOOK_SECRET})


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


@router.get("/event-types", responses=ERRORS)
async def event_types(request: Request, _: Principal = Depends(admin)) -> JSONResponse:
    known = request.app.state.engine.registry.event_types
    return JSONResponse([{"type": k, "description": v} for k, v in known.items()])


@router.post("", status_code=201, responses=ERRORS)
async def create_webhook(body: WebhookCreate, request: Request, principal: Principal = Depends(admin)) -> JSONResponse:
    """Subscribe a URL to event types. The signing secret is in this response only; store it.

    Private, loopback and link-local targets are refused (422) unless allow-listed by the operator.
    """
    engine = _engine(request)
    hook = await run_in_threadpool(lambda: engine.webhooks.create(**body.model_dump(), created_by=principal.key_id))
    return JSONResponse(hook, status_code=201)


@router.get("", responses=ERRORS)
async def list_webhooks(request: Request, _: Principal = Depends(admin)) -> JSONResponse:
    return JSONResponse(await run_in_threadpool(_engine(request).webhooks.list_webhooks))


@router.get("/{webhook_id}", responses=ERRORS)
async def get_webhook(webhook_id: Id32, request: Request, _: Principal = Depends(admin)) -> JSONResponse:
    return JSONResponse(await run_in_threadpool(_engine(request).webhooks.get, webhook_id))


@router.patch("/{webhook_id}", responses=ERRORS)
async def update_webhook(webhook_id: Id32, body: WebhookPatch, request: Request,
                         _: Principal = Depends(admin)) -> JSONResponse:
    changes = body.model_dump(exclude_unset=True)
    for key, value in changes.items():
        if value is None:
            raise InvalidInput(f"{key}: may not be null", code="invalid_field")
    engine = _engine(request)
    return JSONResponse(await run_in_threadpool(engine.webhooks.update, webhook_id, changes))


@router.delete("/{webhook_id}", status_code=204, responses=ERRORS)
async def delete_webhook(webhook_id: Id32, request: Request, _: Principal = Depends(admin)) -> None:
    """Unsubscribe; undelivered events for it are dropped."""
    await run_in_threadpool(_engine(request).webhooks.delete, webhook_id)


@router.get("/{webhook_id}/deliveries", responses=ERRORS)
async def deliveries(webhook_id: Id32, request: Request, status: str | None = Query(None, max_length=16),
                     after: int = Query(0, ge=0, le=MAX_INT64), limit: int = Query(100, ge=1, le=1000),
                     _: Principal = Depends(admin)) -> JSONResponse:
    """The delivery log, newest first: status, attempts and every attempt's outcome."""
    engine = _engine(request)
    return JSONResponse(await run_in_threadpool(
        lambda: engine.webhooks.deliveries(webhook_id, status=status, after=after, limit=limit)))


@router.post("/{webhook_id}/deliveries/{delivery_id}/redeliver", status_code=202, responses=ERRORS)
async def redeliver(webhook_id: Id32, delivery_id: Id64, request: Request,
                    _: Principal = Depends(admin)) -> JSONResponse:
    """Queue a delivery again (same ``webhook-id``), e.g. a dead-lettered one after the receiver was fixed."""
    engine = _engine(request)
    result = await run_in_threadpool(engine.webhooks.redeliver, webhook_id, delivery_id)
    engine._events_queued()
    return JSONResponse(result, status_code=202)
