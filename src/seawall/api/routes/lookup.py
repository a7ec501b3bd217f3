"""``/v1/lookup``: is this hash, computed elsewhere, in any bank?"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from seawall.api.auth import require
from seawall.api.schemas import ErrorBody, LookupOut
from seawall.apikeys import Principal
from seawall.engine import Engine

router = APIRouter(prefix="/v1", tags=["lookup"])
ERRORS: dict[int | str, dict[str, Any]] = {s: {"model": ErrorBody} for s in (401, 403, 422)}


@router.get("/lookup", response_model=LookupOut, responses=ERRORS)
async def lookup(request: Request, signal_type: str = Query(..., max_length=32),
                 value: str = Query(..., max_length=10_000),
                 _: Principal = Depends(require("submitter", "reviewer"))) -> JSONResponse:
    """Matches for one signal value. Runs on the event loop: an index probe takes microseconds."""
    engine: Engine = request.app.state.engine
    matches = engine.lookup(signal_type, value)
    return JSONResponse({
        "signal_type": signal_type,
        "value": value.strip().lower(),
        "matches": [m.to_dict() for m in matches],
    })
