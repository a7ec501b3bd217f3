"""``/v1/lookup``: is this hash, computed elsewhere, in any bank?

This is the hottest read path (a platform may call it for every upload it hashes itself), so it is
served by a plain Starlette endpoint that skips FastAPI's dependency and validation machinery; the
FastAPI declaration below exists for the OpenAPI document and behaves identically.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from starlette.routing import Route

from seawall.api.auth import ensure_role, principal_from, require
from seawall.api.declared import names
from seawall.api.schemas import ErrorBody, LookupOut
from seawall.apikeys import Principal
from seawall.engine import Engine
from seawall.errors import InvalidInput

router = APIRouter(prefix="/v1", tags=["lookup"])
ERRORS: dict[int | str, dict[str, Any]] = {s: {"model": ErrorBody} for s in (401, 403, 422)}
#: Who may look up (``admin`` always may); the fast path (``seawall.api.lookuppath``) checks the same.
ROLES = ("submitter", "reviewer")
#: Query parameters and their longest accepted value, as the documented route declares them.
LIMITS = (("signal_type", 32), ("value", 10_000))


def lookup_query(params: Mapping[str, str]) -> tuple[str, str]:
    """(signal_type, value) from the query, or the 422 the documented route's validation gives: one check
    for the two undocumented ways in (this module's plain route and the ASGI fast path)."""
    for name, limit in LIMITS:
        given = params.get(name)
        if given is None:
            raise InvalidInput(f"{name}: Field required", code="invalid_request")
        if len(given) > limit:
            raise InvalidInput(f"{name}: at most {limit} characters", code="invalid_request")
    return params["signal_type"], params["value"]


def lookup_body(engine: Engine, signal_type: str, value: str) -> dict[str, Any]:
    """The answer's document: the query as looked up and every match."""
    matches = engine.lookup(signal_type, value)
    return {"signal_type": signal_type, "value": value.strip().lower(), "matches": [m.to_dict() for m in matches]}


@router.get("/lookup", response_model=LookupOut, responses=ERRORS)
async def lookup(request: Request,
                 signal_type: str = Query(..., max_length=32, json_schema_extra=names("signal_types")),
                 value: str = Query(..., max_length=10_000),
                 _: Principal = Depends(require(*ROLES))) -> JSONResponse:
    """Matches for one signal value. Runs on the event loop: an index probe takes microseconds."""
    return JSONResponse(lookup_body(request.app.state.engine, signal_type, value))


async def lookup_fast(request: Request) -> JSONResponse:
    """The same endpoint without per-request dependency injection (see the module docstring)."""
    ensure_role(await principal_from(request), ROLES)
    signal_type, value = lookup_query(request.query_params)
    return JSONResponse(lookup_body(request.app.state.engine, signal_type, value))


fast_route = Route("/v1/lookup", lookup_fast, methods=["GET"], include_in_schema=False)
