"""``/v1/statements``: DSA statements of reasons — read them, check a record, export or submit batches."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from seawall.api.auth import require
from seawall.api.declared import ISO_DATE_TIME
from seawall.api.edge import Id64
from seawall.api.schemas import ErrorBody
from seawall.apikeys import Principal
from seawall.errors import InvalidInput, NotFound
from seawall.legal import tdb
from seawall.legal.report_render import to_html, to_pdf
from seawall.legal.service import LegalService
from seawall.legal.sor_validate import validate
from seawall.legal.statements import statement_dict
from seawall.legal.transparency import compute
from seawall.store.tables import StatementRow

router = APIRouter(prefix="/v1/statements", tags=["legal"])
ERRORS: dict[int | str, dict[str, Any]] = {s: {"model": ErrorBody} for s in (401, 403, 404, 409, 422, 502)}
STATUSES = ("pending", "submitted", "rejected", "not_required")


def _legal(request: Request) -> LegalService:
    legal: LegalService = request.app.state.legal
    return legal


@router.get("", responses=ERRORS)
async def list_statements(request: Request,
                          status: str | None = Query(default=None, json_schema_extra={"enum": [*STATUSES, None]}),
                          item_id: str | None = Query(default=None, max_length=32),
                          limit: int = Query(200, ge=1, le=1000),
                          _: Principal = Depends(require("submitter", "reviewer"))) -> JSONResponse:
    """Statements, newest first; the platform shows ``user_text`` to the affected user."""
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"status: one of {', '.join(STATUSES)}", code="invalid_status")
    legal = _legal(request)

    def run() -> list[dict[str, Any]]:
        q = select(StatementRow).order_by(StatementRow.id.desc()).limit(limit)
        if status:
            q = q.where(StatementRow.status == status)
        if item_id:
            q = q.where(StatementRow.item_id == item_id)
        with legal.db.session() as s:
            return [statement_dict(r) for r in s.scalars(q)]

    return JSONResponse(await run_in_threadpool(run))


@router.get("/export", responses=ERRORS)
async def export(request: Request, size: int = Query(100, ge=1, le=100),
                 _: Principal = Depends(require("admin"))) -> JSONResponse:
    """Pending statements as Transparency Database batch bodies (≤ 100 each), and those failing validation."""
    legal = _legal(request)
    return JSONResponse(await run_in_threadpool(lambda: tdb.export(legal.db, size=size)))


@router.post("/submit", responses=ERRORS)
async def submit(request: Request, dry_run: bool = Query(default=False), size: int = Query(100, ge=1, le=100),
                 _: Principal = Depends(require("admin"))) -> JSONResponse:
    """Submit pending statements to the configured Transparency Database (``dry_run``: only count and check)."""
    legal = _legal(request)
    report = await run_in_threadpool(lambda: tdb.submit(legal.db, legal.settings.tdb_url, legal.settings.tdb_token,
                                                        legal.clock.now(), dry_run=dry_run, size=size))
    return JSONResponse(report.to_dict())


#: The body ``POST /validate`` reads itself: one statement, a JSON object (its fields are what it checks).
STATEMENT_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "description": "One statement of reasons, as the Transparency Database takes it"}}}}}


@router.post("/validate", responses=ERRORS, openapi_extra=STATEMENT_BODY)
async def check(request: Request, _: Principal = Depends(require("submitter", "reviewer"))) -> JSONResponse:
    """Check one record against the database's field rules; every problem names its field and rule."""
    try:
        body = await request.json()
    except ValueError:
        raise InvalidInput("the body is not valid JSON", code="invalid_json") from None
    if not isinstance(body, dict):
        raise InvalidInput("the body must be one statement (a JSON object)", code="invalid_request")
    problems = validate(body)
    return JSONResponse({"valid": not problems, "problems": problems})


@router.get("/{statement_id}", responses=ERRORS)
async def get_statement(statement_id: Id64, request: Request,
                        _: Principal = Depends(require("submitter", "reviewer"))) -> JSONResponse:
    legal = _legal(request)

    def run() -> dict[str, Any]:
        with legal.db.session() as s:
            row = s.get(StatementRow, statement_id)
            if row is None:
                raise NotFound(f"no statement {statement_id}", code="statement_not_found")
            return statement_dict(row)

    return JSONResponse(await run_in_threadpool(run))


reports_router = APIRouter(prefix="/v1/reports", tags=["legal"])
#: ``from`` and ``to`` as :func:`_when` reads them.
WHEN = {"pattern": ISO_DATE_TIME}
#: The forms the transparency report is given in: declared in the document and checked by the route.
REPORT_FORMATS = ("json", "html", "pdf")


@reports_router.get("/transparency", responses=ERRORS)
async def transparency(request: Request,
                       start: str = Query(alias="from", json_schema_extra=WHEN),
                       end: str = Query(alias="to", description="After from", json_schema_extra=WHEN),
                       format: str = Query(default="json", json_schema_extra={"enum": list(REPORT_FORMATS)}),
                       _: Principal = Depends(require("admin"))) -> Response:
    """The transparency report (TCO Art. 7; DSA Art. 15/24) for ``[from, to)`` as JSON, HTML or PDF."""
    legal = _legal(request)
    if format not in REPORT_FORMATS:
        raise InvalidInput("format: json, html or pdf", code="invalid_format")
    begin, finish = _when(start, "from"), _when(end, "to")
    report = await run_in_threadpool(lambda: compute(legal.db, begin, finish,
                                                     provider=legal.settings.provider_name))
    if format == "html":
        return HTMLResponse(to_html(report))
    if format == "pdf":
        pdf = await run_in_threadpool(to_pdf, report)
        return Response(pdf, media_type="application/pdf",
                        headers={"Content-Disposition": 'attachment; filename="transparency-report.pdf"'})
    return JSONResponse(report)


def _when(value: str, name: str) -> datetime:
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{name}: use a date such as 2026-01-01", code="invalid_field") from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when
