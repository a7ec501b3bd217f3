"""``/v1/sources``: exchanges this instance pulls bank entries from (admin only).

The body of ``POST`` names the exchange (``kind``), the target bank(s) and the action policy, plus
the exchange's own settings, either flat (``{"kind": "seawall", "url": …, "feed": …}``) or under
``config``. Secrets (tokens) are never shown back.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from seawall.api.auth import require
from seawall.api.declared import NAME_PATTERN, labels, names
from seawall.api.schemas import ErrorBody
from seawall.apikeys import Principal
from seawall.engine import Engine
from seawall.errors import InvalidInput
from seawall.models.records import ACTIONS

router = APIRouter(prefix="/v1/sources", tags=["sources"])
ERRORS: dict[int | str, dict[str, Any]] = {s: {"model": ErrorBody} for s in (401, 403, 404, 409, 422)}
admin = require("admin")


_BANK_NAMES = {"type": "array", "items": {"type": "string", "pattern": NAME_PATTERN}}
#: ``bank`` and ``banks`` are the same field under two names: one bank's name, or a list of them.
_BANK_OR_BANKS = {"anyOf": [{"type": "string", "pattern": NAME_PATTERN}, {**_BANK_NAMES, "minItems": 1}]}
#: The fields ``seawall.sharing.sources`` checks, as it checks them; an exchange's own settings (flat or
#: under ``config``) are the exchange's to check.
_POLICY: dict[str, Any] = {
    "bank": _BANK_OR_BANKS,
    "banks": _BANK_OR_BANKS,
    "label_map": {"anyOf": [{"type": "object", "additionalProperties": {
        "anyOf": [{"type": "string", "maxLength": 0}, labels()["items"]]}}, {"type": "null"}],
        "description": 'remote label → local label ("" drops it)'},
    "action": {"enum": list(ACTIONS)},
    "trusted_action": {"enum": list(ACTIONS)},
    "trusted": {"type": "boolean"},
    "enabled": {"type": "boolean"},
    "interval_seconds": {"type": "number", "minimum": 1, "maximum": 86400},
    "push_banks": {"anyOf": [_BANK_NAMES, {"type": "null"}]},
}
_CONFIG = {"description": "The exchange's settings (or give them at the top level)"}
CREATE_BODY = {"requestBody": {"content": {"application/json": {"schema": {
    "type": "object", "required": ["name", "kind"],
    "properties": {"name": {"type": "string", "pattern": NAME_PATTERN},
                   "kind": {"type": "string", **names("exchanges")}, **_POLICY, "config": _CONFIG}}}}}}
UPDATE_BODY = {"requestBody": {"content": {"application/json": {"schema": {
    "type": "object", "additionalProperties": False,
    "properties": {**_POLICY, "config": {**_CONFIG, "type": "object"}, "checkpoint": {"type": ["string", "null"]}}}}}}}


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object", code="invalid_body")
    return body


@router.post("", status_code=201, responses=ERRORS, openapi_extra=CREATE_BODY)
async def create_source(request: Request, body: Any = Body(...), who: Principal = Depends(admin)) -> JSONResponse:
    """Add a source; its first sync starts in the background (or run ``POST /v1/sources/{name}/sync``)."""
    engine = _engine(request)
    out = await run_in_threadpool(lambda: engine.sources.create(_object(body), created_by=who.name or who.key_id))
    engine.matcher.reload_banks()
    return JSONResponse(out, status_code=201)


@router.get("", responses=ERRORS)
async def list_sources(request: Request, _: Principal = Depends(admin)) -> list[dict[str, Any]]:
    """Every source with its counts, checkpoint, last success, lag, last error and whether it is stale."""
    return await run_in_threadpool(_engine(request).sources.list_sources)


@router.get("/{name}", responses=ERRORS)
async def get_source(name: str, request: Request, _: Principal = Depends(admin)) -> dict[str, Any]:
    return await run_in_threadpool(_engine(request).sources.get, name)


@router.patch("/{name}", responses=ERRORS, openapi_extra=UPDATE_BODY)
async def update_source(name: str, request: Request, body: Any = Body(...),
                        _: Principal = Depends(admin)) -> dict[str, Any]:
    """Change enabled, action / trusted_action / trusted (the bank's action follows), label_map, banks,
    interval_seconds, config (merged) or checkpoint (null re-syncs from the start, adding nothing twice)."""
    engine = _engine(request)
    out = await run_in_threadpool(engine.sources.update, name, dict(_object(body)))
    engine.matcher.reload_banks()
    return out


@router.delete("/{name}", status_code=204, responses=ERRORS)
async def delete_source(name: str, request: Request, _: Principal = Depends(admin)) -> None:
    await run_in_threadpool(_engine(request).sources.delete, name)


@router.post("/{name}/sync", responses=ERRORS)
async def sync_source(name: str, request: Request, max_pages: int | None = Query(None, ge=1, le=1_000_000),
                      _: Principal = Depends(admin)) -> dict[str, Any]:
    """Sync now and report pages, entries added and seen, withdrawals, rejects (with positions), errors."""
    engine = _engine(request)
    report = await run_in_threadpool(lambda: engine.sources.sync(name, max_pages=max_pages))
    return report.to_dict()


@router.post("/{name}/push", responses=ERRORS)
async def push_source(name: str, request: Request, _: Principal = Depends(admin)) -> dict[str, Any]:
    """Send the source the new entries of its ``push_banks`` now (they are also sent in the background
    within seconds of being added); reports how many went and the error if the exchange refused."""
    return await run_in_threadpool(_engine(request).sources.push, name)
