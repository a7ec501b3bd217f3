"""``/v1/items/{id}/decisions``: why an item got its verdict, as stored at the time of the decision."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from seawall.actions.decisions import decisions_for
from seawall.api.auth import require
from seawall.api.schemas import ErrorBody
from seawall.apikeys import Principal
from seawall.engine import Engine

router = APIRouter(prefix="/v1/items", tags=["items"])
ERRORS: dict[int | str, dict[str, Any]] = {s: {"model": ErrorBody} for s in (401, 403, 404)}


@router.get("/{item_id}/decisions", responses=ERRORS)
async def item_decisions(item_id: str, request: Request,
                         _: Principal = Depends(require("submitter", "reviewer"))) -> JSONResponse:
    """Rule set version, rules fired and why, the facts they saw, and each action with its result."""
    engine: Engine = request.app.state.engine
    return JSONResponse(await run_in_threadpool(decisions_for, engine.db, item_id))
