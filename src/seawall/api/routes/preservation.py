"""``/v1/preservation`` (TCO Art. 6 vault) and ``/v1/uploader-notices`` (Art. 11 notices).

Reading preserved content names its purpose and is audited; extending the period names the
authority or court that asked for it.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from seawall.api.auth import require
from seawall.api.schemas import ErrorBody
from seawall.apikeys import Principal
from seawall.legal import complaints, notices, preservation
from seawall.legal.service import LegalService
from seawall.store.tables import UploaderNoticeRow

router = APIRouter(prefix="/v1", tags=["legal"])
ERRORS: dict[int | str, dict[str, Any]] = {s: {"model": ErrorBody} for s in (401, 403, 404, 409, 422)}
staff = require("reviewer")


class Extend(BaseModel):
    model_config = ConfigDict(extra="forbid")
    until: datetime
    requested_by: str = Field(min_length=1, max_length=300)
    reason: str = Field(default="", max_length=2000)


def _legal(request: Request) -> LegalService:
    legal: LegalService = request.app.state.legal
    return legal


@router.get("/preservation/{item_id}", responses=ERRORS)
async def read_preserved(item_id: str, request: Request,
                         purpose: str = Query(json_schema_extra={"enum": list(preservation.PURPOSES)}),
                         p: Principal = Depends(staff)) -> JSONResponse:
    """The preserved content (base64) and related data, for an Art. 6 purpose; the read is audited."""
    legal = _legal(request)

    def run() -> dict[str, Any]:
        with legal.db.session() as s:
            out = preservation.read(s, item_id, actor=f"key:{p.key_id}", purpose=purpose)
        data = out.pop("data")
        out["content_base64"] = base64.b64encode(data).decode() if data is not None else None
        return out

    return JSONResponse(await run_in_threadpool(run))


@router.post("/preservation/{item_id}/extend", responses=ERRORS)
async def extend(item_id: str, body: Extend, request: Request,
                 p: Principal = Depends(require("admin"))) -> JSONResponse:
    """Keep longer because an authority or court asked (Art. 6(2))."""
    legal = _legal(request)

    def run() -> dict[str, Any]:
        with legal.db.session() as s:
            return preservation.extend(s, item_id, until=body.until, requested_by=body.requested_by,
                                       reason=body.reason, actor=f"key:{p.key_id}", now=legal.clock.now())

    return JSONResponse(await run_in_threadpool(run))


@router.get("/uploader-notices", responses=ERRORS)
async def list_notices(request: Request, item_id: str = Query(min_length=1, max_length=32),
                       _: Principal = Depends(require("submitter", "reviewer"))) -> JSONResponse:
    """Notices for an item; a notice under an authority's embargo shows no text until it ends."""
    legal = _legal(request)

    def run() -> list[dict[str, Any]]:
        now = legal.clock.now()
        with legal.db.session() as s:
            rows = s.scalars(select(UploaderNoticeRow).where(UploaderNoticeRow.item_id == item_id)
                             .order_by(UploaderNoticeRow.id)).all()
            return [notices.notice_dict(r, now=now) for r in rows]

    return JSONResponse(await run_in_threadpool(run))


@router.get("/complaints", responses=ERRORS)
async def complaint_deadlines(request: Request, include_decided: bool = Query(default=False),
                              _: Principal = Depends(staff)) -> JSONResponse:
    """Open complaints (appeals) with the day each must be answered (TCO Art. 10: two weeks)."""
    legal = _legal(request)
    return JSONResponse(await run_in_threadpool(lambda: complaints.deadlines(
        legal.db, legal.clock.now(), answer_days=legal.settings.complaint_days, include_decided=include_decided)))
