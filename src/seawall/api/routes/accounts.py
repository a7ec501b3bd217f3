"""``/v1/accounts``: an account's history (items, strikes, suspensions) and the appeal path."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from seawall.api.auth import require
from seawall.api.edge import StoredText
from seawall.api.schemas import ErrorBody
from seawall.apikeys import Principal
from seawall.engine import Engine
from seawall.review.appeals import AppealService

router = APIRouter(prefix="/v1/accounts", tags=["accounts"])
ERRORS: dict[int | str, dict[str, Any]] = {s: {"model": ErrorBody} for s in (401, 403, 404, 422)}


class AppealIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: StoredText = Field(min_length=1, max_length=10_000, description="The user's own words")
    item_id: StoredText | None = Field(default=None, max_length=32, description="The decision appealed, if one item")


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


@router.get("/{account_id}", responses=ERRORS)
async def get_account(account_id: str, request: Request, limit: int = Query(100, ge=1, le=1000),
                      _: Principal = Depends(require("submitter", "reviewer"))) -> JSONResponse:
    """Status (active or suspended), active strikes, and the history of items, strikes, suspensions, appeals."""
    engine = _engine(request)
    return JSONResponse(await run_in_threadpool(lambda: engine.accounts.history(account_id, limit=limit)))


@router.post("/{account_id}/appeal", status_code=201, responses=ERRORS)
async def appeal(account_id: str, body: AppealIn, request: Request,
                 principal: Principal = Depends(require("submitter"))) -> JSONResponse:
    """Record the account holder's appeal (forwarded by the platform).

    Only the platform's submitter keys (and admins) file appeals, as for ``POST /v1/appeals``: a
    reviewer key filing one would open senior-queue cases and reverse decisions on nobody's behalf.

    With ``item_id`` this is the same as ``POST /v1/appeals``: an appeal case opens in the senior queue
    and its outcome can reverse the decision. Without it (an appeal against a suspension as such) the
    appeal is recorded and announced (``account.appealed``) for the platform's own process. Both
    go through :meth:`seawall.review.appeals.AppealService.submit`.
    """
    appeals: AppealService = request.app.state.appeals
    result = await run_in_threadpool(lambda: appeals.submit(item_id=body.item_id, statement=body.text,
                                                            account_id=account_id,
                                                            submitted_by=principal.key_id))
    return JSONResponse(result, status_code=201)
