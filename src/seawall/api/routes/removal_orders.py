"""``/v1/removal-orders``: TCO removal orders — intake, the hour, Annex II/III, Art. 4 reversal.

The receipt time is this server's clock when the request arrives; an order body that tries to set it
is refused. Forms come as JSON or, with ``?format=pdf``, as the PDF to send to the authority.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from seawall.api.auth import require
from seawall.api.declared import NOT_BLANK
from seawall.api.edge import Id64
from seawall.api.schemas import ErrorBody
from seawall.apikeys import Principal
from seawall.errors import InvalidInput, invalid_input_from
from seawall.legal.annex1 import Locator, RemovalOrderIn
from seawall.legal.deadline import IMPOSSIBILITY
from seawall.legal.intake_text import parse
from seawall.legal.orders import OrderService
from seawall.legal.pdf import form_pdf
from seawall.legal.service import LegalService

router = APIRouter(prefix="/v1/removal-orders", tags=["legal"])
ERRORS: dict[int | str, dict[str, Any]] = {s: {"model": ErrorBody} for s in (401, 403, 404, 409, 422)}
#: Fields a sender might use to set the receipt time; it is taken from this server's clock instead.
RECEIPT_FIELDS = ("received_at", "receipt_time", "received")
intake = require("submitter")
staff = require("submitter", "reviewer")


def _orders(request: Request) -> OrderService:
    legal: LegalService = request.app.state.legal
    return legal.orders


def parse_order(raw: Any) -> RemovalOrderIn:
    """Validate an Annex I body; a receipt time in it is refused (the transport sets it)."""
    if not isinstance(raw, dict):
        raise InvalidInput("the body must be a JSON object with the Annex I fields", code="invalid_request")
    for name in RECEIPT_FIELDS:
        if name in raw:
            raise InvalidInput(f"{name}: the receipt time is taken from the server's clock when the order "
                               "arrives and cannot be sent", code="receipt_time_not_accepted")
    try:
        return RemovalOrderIn.model_validate(raw)
    except ValidationError as exc:
        raise invalid_input_from(exc) from None


async def _json(request: Request) -> Any:
    try:
        return json.loads(await request.body() or b"null")
    except ValueError:
        raise InvalidInput("the body is not valid JSON", code="invalid_json") from None


class Execute(BaseModel):
    model_config = ConfigDict(extra="forbid")
    locators: list[Locator] = Field(default_factory=list, max_length=1000)


class Impossible(BaseModel):
    # as LegalOrders.impossible checks it: an explanation, and what to clarify unless it is force majeure
    model_config = ConfigDict(extra="forbid", json_schema_extra={"anyOf": [
        {"properties": {"reason": {"const": "force_majeure"}}},
        {"required": ["clarification"], "properties": {"clarification": {"pattern": NOT_BLANK}}}]})
    reason: str = Field(description="force_majeure, manifest_errors or insufficient_information",
                        json_schema_extra={"enum": list(IMPOSSIBILITY)})
    explanation: str = Field(max_length=5000, json_schema_extra={"pattern": NOT_BLANK})
    clarification: str = Field(default="", max_length=5000)


class Resume(BaseModel):
    model_config = ConfigDict(extra="forbid")
    corrections: dict[str, Any] | None = Field(default=None, description="Annex I fields the clarification fixed")


class Reverse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decided_by: str = Field(min_length=1, max_length=300, description="The authority whose scrutiny found it")
    reason: str = Field(default="", max_length=2000)


class TextIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=200_000)


@router.post("", status_code=201, responses=ERRORS, openapi_extra={"requestBody": {
    "required": True, "content": {"application/json": {"schema": RemovalOrderIn.model_json_schema()}}}})
async def receive(request: Request, principal: Principal = Depends(intake)) -> JSONResponse:
    """Receive an order (Annex I fields). Starts the hour now; removes located content at once.

    An order lacking what Art. 3(4) requires is stored and flagged; if its content cannot be
    identified or it has manifest errors, its hour is held and an Annex III answer is drafted.
    """
    order = parse_order(await _json(request))
    source = f"api key {principal.key_id} from {request.client.host if request.client else '?'}"
    out = await run_in_threadpool(lambda: _orders(request).receive(order, via="api", source=source,
                                                                   created_by=f"key:{principal.key_id}"))
    return JSONResponse(out, status_code=201)


@router.post("/parse-text", responses=ERRORS)
async def parse_text(body: TextIn, _: Principal = Depends(staff)) -> JSONResponse:
    """Read Annex I fields from an authority's e-mail or PDF text; returns them and what is missing."""
    return JSONResponse(parse(body.text))


@router.get("", responses=ERRORS)
async def list_orders(request: Request, status: str | None = Query(default=None),
                      _: Principal = Depends(staff)) -> JSONResponse:
    return JSONResponse(await run_in_threadpool(lambda: _orders(request).orders(status=status)))


@router.get("/{order_id}", responses=ERRORS)
async def get_order(order_id: Id64, request: Request, _: Principal = Depends(staff)) -> JSONResponse:
    return JSONResponse(await run_in_threadpool(_orders(request).get, order_id))


def _actor(p: Principal) -> str:
    return f"key:{p.key_id}"


@router.post("/{order_id}/execute", responses=ERRORS)
async def execute(order_id: Id64, body: Execute, request: Request, p: Principal = Depends(staff)) -> JSONResponse:
    """Remove the order's content (with extra locators found since) through the ``remove`` action."""
    locs = [loc.model_dump() for loc in body.locators]
    return JSONResponse(await run_in_threadpool(
        lambda: _orders(request).execute(order_id, actor=_actor(p), locators=locs)))


@router.post("/{order_id}/removed", responses=ERRORS)
async def removed(order_id: Id64, request: Request, p: Principal = Depends(staff)) -> JSONResponse:
    """The platform removed the content itself (by URL); the removal time is the server's clock now."""
    return JSONResponse(await run_in_threadpool(lambda: _orders(request).confirm_removed(order_id, actor=_actor(p))))


@router.post("/{order_id}/impossible", responses=ERRORS)
async def impossible(order_id: Id64, body: Impossible, request: Request,
                     p: Principal = Depends(staff)) -> JSONResponse:
    """Annex III: the order cannot be executed yet; its hour stops until resumed."""
    return JSONResponse(await run_in_threadpool(lambda: _orders(request).impossible(
        order_id, reason=body.reason, explanation=body.explanation, clarification=body.clarification,
        actor=_actor(p))))


@router.post("/{order_id}/resume", responses=ERRORS)
async def resume(order_id: Id64, body: Resume, request: Request, p: Principal = Depends(staff)) -> JSONResponse:
    """The obstacle ended or the clarification arrived: a new hour starts now."""
    return JSONResponse(await run_in_threadpool(
        lambda: _orders(request).resume(order_id, actor=_actor(p), corrections=body.corrections)))


@router.post("/{order_id}/reverse", responses=ERRORS)
async def reverse(order_id: Id64, body: Reverse, request: Request,
                  p: Principal = Depends(require("admin"))) -> JSONResponse:
    """Art. 4(7): scrutiny found the order infringes the Regulation; reinstate the content.

    Admin keys only: in the console reversing an order needs the senior role, which no submitter or
    reviewer key stands for.
    """
    return JSONResponse(await run_in_threadpool(lambda: _orders(request).reverse(
        order_id, actor=_actor(p), decided_by=body.decided_by, reason=body.reason)))


def _form(form: dict[str, Any], fmt: str, name: str) -> Response:
    if fmt == "pdf":
        return Response(form_pdf(form), media_type="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'})
    if fmt != "json":
        raise InvalidInput("format: json or pdf", code="invalid_format")
    return JSONResponse(form)


@router.get("/{order_id}/annex-ii", responses=ERRORS)
async def annex_ii(order_id: Id64, request: Request, format: str = Query(default="json"),
                   _: Principal = Depends(staff)) -> Response:
    """Annex II feedback (removal and its time), once the content is removed."""
    form = await run_in_threadpool(_orders(request).annex2, order_id)
    return _form(form, format, f"annex-ii-order-{order_id}")


@router.get("/{order_id}/annex-iii", responses=ERRORS)
async def annex_iii(order_id: Id64, request: Request, format: str = Query(default="json"),
                    _: Principal = Depends(staff)) -> Response:
    """The newest Annex III answer (cannot execute: force majeure, manifest errors, missing information)."""
    form = await run_in_threadpool(_orders(request).annex3, order_id)
    return _form(form, format, f"annex-iii-order-{order_id}")
