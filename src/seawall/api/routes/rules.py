"""``/v1/rules``: read, replace (validated, versioned) and dry-run the policy rules; crisis mode."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from seawall.api import offload
from seawall.api.auth import require
from seawall.api.edge import MAX_INT32, check_stored
from seawall.api.schemas import ErrorBody
from seawall.apikeys import Principal
from seawall.engine import Engine
from seawall.errors import InvalidInput
from seawall.plugins import registry
from seawall.rules.facts import FactsIn
from seawall.rules.language import RuleError, RulesInvalid
from seawall.rules.service import rules_dict

router = APIRouter(prefix="/v1/rules", tags=["rules"])
ERRORS: dict[int | str, dict[str, Any]] = {s: {"model": ErrorBody} for s in (401, 403, 404, 413, 422)}
admin = require("admin")
reader = require("reviewer")
YAML_BODY = {"requestBody": {"content": {
    "application/yaml": {"schema": {"type": "string"}},
    "application/json": {"schema": {"type": "object", "required": ["source"], "properties": {
        "source": {"type": "string"}, "note": {"type": "string"}}}},
}}}


class DryRunIn(BaseModel):
    # either a stored item or made-up facts (Engine.dry_run refuses both and neither)
    model_config = ConfigDict(extra="forbid", json_schema_extra={"oneOf": [
        {"required": ["item_id"], "properties": {"item_id": {"type": "string"}}},
        {"required": ["facts"], "properties": {"facts": {"type": "object"}}}]})
    item_id: str | None = Field(default=None, max_length=32, description="A stored item to re-evaluate")
    facts: FactsIn | None = Field(default=None, description="Or a made-up item")
    source: str | None = Field(default=None, description="Candidate rules (YAML) instead of those in force")


class CrisisIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


async def _source(request: Request) -> tuple[str, str]:
    """Rules arrive as a YAML body, or as JSON ``{"source": …, "note": …}``."""
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("the rules must be UTF-8 text", code="invalid_rules") from None
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = json.loads(text)
        except ValueError:
            raise InvalidInput("the JSON body is invalid", code="invalid_request") from None
        if not isinstance(body, dict) or not isinstance(body.get("source"), str):
            raise InvalidInput("source: required, the rules as YAML text", code="invalid_request")
        source, note = body["source"], str(body.get("note", ""))[:1000]
    else:
        source, note = text, request.query_params.get("note", "")[:1000]
    return check_stored(source, "source"), check_stored(note, "note")


async def _checked(engine: Engine, source: str) -> list[str] | None:
    """Parse and check ``source`` in a worker process (see ``seawall.api.offload``): a document at the
    YAML limits holds the GIL for a good fraction of a second, which a thread would take from every other
    request. Raises ``RulesInvalid``; returns the rule ids. ``None`` when the engine has its own plugin
    registry (embedded use), which a worker cannot rebuild: the caller then parses in a thread."""
    if engine.registry is not registry():
        return None
    ids, errors = await offload.run(offload.check_rules, source)
    if errors:
        raise RulesInvalid([RuleError(line, message) for line, message in errors])
    return ids


@router.get("", responses=ERRORS)
async def get_rules(request: Request, version: int | None = Query(None, ge=0, le=MAX_INT32),
                    _: Principal = Depends(admin)) -> JSONResponse:
    """The rules in force (or an older ``version``; 0 is the built-in defaults), with their YAML source."""
    engine = _engine(request)
    rules = engine.rules.current() if version is None else await run_in_threadpool(engine.rules.version, version)
    return JSONResponse(rules_dict(rules))


@router.put("", responses=ERRORS, openapi_extra=YAML_BODY)
async def put_rules(request: Request, principal: Principal = Depends(admin)) -> JSONResponse:
    """Replace the rules. Invalid rules are refused (422, every error with its line) and change nothing."""
    source, note = await _source(request)
    engine = _engine(request)
    await _checked(engine, source)  # refused documents never reach this process's parser
    rules = await run_in_threadpool(lambda: engine.rules.save(source, created_by=principal.key_id, note=note))
    return JSONResponse(rules_dict(rules))


@router.post("/validate", responses=ERRORS, openapi_extra=YAML_BODY)
async def validate_rules(request: Request, _: Principal = Depends(admin)) -> JSONResponse:
    """Check rules without saving them."""
    source, _note = await _source(request)
    engine = _engine(request)
    ids = await _checked(engine, source)
    if ids is None:
        ids = [r.id for r in (await run_in_threadpool(engine.rules.parse, source)).rules]
    return JSONResponse({"valid": True, "rules": ids})


@router.get("/history", responses=ERRORS)
async def rules_history(request: Request, limit: int = Query(100, ge=1, le=1000),
                        _: Principal = Depends(admin)) -> JSONResponse:
    """Stored versions, newest first (the source of each is at ``GET /v1/rules?version=N``)."""
    return JSONResponse(await run_in_threadpool(_engine(request).rules.history, limit))


@router.post("/dry-run", responses=ERRORS)
async def dry_run(body: DryRunIn, request: Request, _: Principal = Depends(admin)) -> JSONResponse:
    """Which rule fires for a stored item or made-up facts, and why; nothing is stored or done.

    Admin only, like every other route that reads or tries rules: candidate rules are arbitrary YAML
    and the answer discloses the policy in force.
    """
    engine = _engine(request)
    if body.source is not None:
        await _checked(engine, body.source)
    try:
        facts = body.facts.to_facts() if body.facts is not None else None
    except ValidationError as exc:  # pragma: no cover - pydantic validated already
        raise InvalidInput(str(exc), code="invalid_request") from None
    result = await run_in_threadpool(lambda: engine.dry_run(item_id=body.item_id, facts=facts, source=body.source))
    return JSONResponse(result)


@router.get("/crisis-mode", responses=ERRORS)
async def get_crisis_mode(request: Request, _: Principal = Depends(reader)) -> JSONResponse:
    return JSONResponse({"enabled": _engine(request).rules.crisis_mode()})


@router.put("/crisis-mode", responses=ERRORS)
async def put_crisis_mode(body: CrisisIn, request: Request, principal: Principal = Depends(admin)) -> JSONResponse:
    """Switch crisis mode for every node (rules may test ``crisis_mode: true``), e.g. after an attack."""
    engine = _engine(request)
    enabled = await run_in_threadpool(lambda: engine.rules.set_crisis_mode(body.enabled,
                                                                          updated_by=principal.key_id))
    return JSONResponse({"enabled": enabled})
