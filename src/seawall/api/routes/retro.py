"""``/v1/retro``: retroactive matching of past items against bank entries added later.

It runs by itself in the background wherever background work runs; these routes let an operator see
where it stands and run a pass at once (after a large import, say), optionally over a wider window.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from seawall.api.auth import require
from seawall.api.edge import MAX_INT64
from seawall.api.schemas import ErrorBody
from seawall.apikeys import Principal
from seawall.engine import Engine

router = APIRouter(prefix="/v1/retro", tags=["retro-matching"])
ERRORS: dict[int | str, dict[str, Any]] = {s: {"model": ErrorBody} for s in (401, 403, 422)}


class RunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    window_days: float | None = Field(default=None, gt=0, le=3650,
                                      description="Items received within this many days "
                                                  "(default: SEAWALL_RETRO_WINDOW_DAYS)")
    since_entry_id: int | None = Field(default=None, ge=0, le=MAX_INT64,
                                       description="Re-run every block entry above this id, whatever the cursor "
                                                   "(after widening the window); nothing is acted on twice")


@router.get("", responses=ERRORS)
async def retro_status(request: Request, _: Principal = Depends(require("admin"))) -> dict[str, Any]:
    """The entry cursor, block-bank entries still waiting for a pass, the window and the last run's report."""
    engine: Engine = request.app.state.engine
    return await run_in_threadpool(engine.retro.status)


@router.post("/run", responses=ERRORS)
async def retro_run(request: Request, body: RunIn | None = None,
                    _: Principal = Depends(require("admin"))) -> dict[str, Any]:
    """Run one pass now and report what it did (``skipped`` says so when another node is running one)."""
    engine: Engine = request.app.state.engine
    body = body or RunIn()
    window = timedelta(days=body.window_days) if body.window_days else None
    report = await run_in_threadpool(lambda: engine.retro.run(window=window, since_entry_id=body.since_entry_id))
    return report.to_dict()
