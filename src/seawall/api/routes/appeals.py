"""``/v1/appeals``: a user contests a decision about their item; the platform reads the outcome back."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from seawall.api.auth import require
from seawall.api.declared import NOT_BLANK
from seawall.api.edge import Id64, StoredText
from seawall.api.schemas import ErrorBody
from seawall.apikeys import Principal
from seawall.review.appeals import AppealService

router = APIRouter(prefix="/v1/appeals", tags=["review"])
ERRORS: dict[int | str, dict[str, Any]] = {s: {"model": ErrorBody} for s in (401, 403, 404, 409, 422)}


class AppealIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item_id: StoredText = Field(min_length=1, max_length=32, description="The item whose decision the user contests")
    account_id: StoredText | None = Field(default=None, max_length=300, description="The appellant; must own the item")
    statement: StoredText = Field(min_length=1, max_length=10_000, description="The user's own words",
                                  json_schema_extra={"pattern": NOT_BLANK})


def _service(request: Request) -> AppealService:
    service: AppealService = request.app.state.appeals
    return service


@router.post("", status_code=201, responses=ERRORS)
async def create_appeal(body: AppealIn, request: Request,
                        principal: Principal = Depends(require("submitter"))) -> JSONResponse:
    """Open an appeal case in the senior queue against the newest decision that acted on the item."""
    service = _service(request)
    out = await run_in_threadpool(lambda: service.submit(item_id=body.item_id, statement=body.statement,
                                                         account_id=body.account_id,
                                                         submitted_by=principal.key_id))
    return JSONResponse(out, status_code=201)


@router.get("/{appeal_id}", responses=ERRORS)
async def get_appeal(appeal_id: Id64, request: Request,
                     _: Principal = Depends(require("submitter", "reviewer"))) -> JSONResponse:
    """Status (``received`` or ``decided``), outcome (``upheld`` / ``rejected``) and what was reversed."""
    service = _service(request)
    return JSONResponse(await run_in_threadpool(service.get, appeal_id))
