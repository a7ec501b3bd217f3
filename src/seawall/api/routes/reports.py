"""``/v1/reports``: a platform forwards its users' reports of an item into the review queue."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from seawall.api.auth import require
from seawall.api.edge import StoredText
from seawall.api.schemas import ErrorBody
from seawall.apikeys import Principal
from seawall.review.reports import ReportService, categories

router = APIRouter(prefix="/v1/reports", tags=["review"])
ERRORS: dict[int | str, dict[str, Any]] = {s: {"model": ErrorBody} for s in (401, 403, 404, 422)}


class ReportIn(BaseModel):
    # exactly one of item_id and content_id, not empty (ReportService._resolve)
    model_config = ConfigDict(extra="forbid", json_schema_extra={"oneOf": [
        {"required": [key], "properties": {key: {"type": "string", "minLength": 1}}}
        for key in ("item_id", "content_id")]})
    item_id: StoredText | None = Field(default=None, max_length=32, description="Seawall's item id")
    content_id: StoredText | None = Field(default=None, max_length=300, description="Or the platform's content id")
    reporter_account: StoredText | None = Field(default=None, max_length=300,
                                                description="Who reported (pseudonymous)")
    category: StoredText = Field(min_length=1, max_length=64, json_schema_extra={"enum": [c for c in categories()]},
                                 description="A behaviour slug of the taxonomy, or 'other'")
    text: StoredText = Field(default="", max_length=5_000, description="What the reporter wrote, if anything")


@router.post("", status_code=201, responses=ERRORS)
async def create_report(body: ReportIn, request: Request,
                        principal: Principal = Depends(require("submitter"))) -> JSONResponse:
    """Queue a reported item for review; reports of the same item share one case and raise its priority."""
    service: ReportService = request.app.state.reports
    out = await run_in_threadpool(lambda: service.report(
        item_id=body.item_id, content_id=body.content_id, category=body.category,
        reporter_account=body.reporter_account, text=body.text, submitted_by=principal.key_id))
    return JSONResponse(out, status_code=201 if out["created"] else 200)
