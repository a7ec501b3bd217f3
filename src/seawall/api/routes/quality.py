"""``/v1/quality``: second-review agreement for a platform's own dashboards, as the console shows it.

Agreement per first reviewer (share of their sampled decisions a second reviewer agreed with on the
outcome) and per label (of the second reviews where either gave the label, the share where both did),
over the last ``days`` days, and how many sampled decisions still wait for a second review.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from seawall.api.auth import require
from seawall.api.schemas import ErrorBody
from seawall.apikeys import Principal
from seawall.review.quality import SecondReviews

router = APIRouter(prefix="/v1/quality", tags=["review"])
ERRORS: dict[int | str, dict[str, Any]] = {s: {"model": ErrorBody} for s in (401, 403, 422, 429)}


@router.get("/agreement", responses=ERRORS)
async def agreement(request: Request, _: Principal = Depends(require("reviewer")),
                    days: int = Query(default=30, ge=1, le=366)) -> JSONResponse:
    """Second-review agreement per reviewer and per label over the last ``days`` days."""
    engine = request.app.state.engine
    found = await run_in_threadpool(lambda: SecondReviews(engine.db).agreement(window=timedelta(days=days)))
    return JSONResponse({"share": engine.settings.second_review_share, "days": days, "since": found["since"],
                         "waiting": found["waiting"],
                         "reviewers": [a.to_dict() for a in found["reviewers"]],
                         "labels": [a.to_dict() for a in found["labels"]]})
