"""Health, metrics and the landing page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from seawall import __version__, health
from seawall.api.siblings import ServerGroup
from seawall.engine import Engine

router = APIRouter(tags=["system"])


@router.get("/healthz")
async def healthz(request: Request) -> JSONResponse:
    """``ok`` when the store answers; 503 otherwise, so a load balancer stops sending traffic.

    ``degraded`` (still 200, with ``reasons``) when background work lags or the queue broker is
    unreachable: image and text verdicts are still answered in the request, so the node must stay in
    rotation.
    """
    status, body = await run_in_threadpool(health.report, request.app.state.engine)
    return JSONResponse(body, status_code=status)


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """200 once the node has warmed up (models loaded, match kernels compiled), 503 ``warming_up`` before.

    Point a load balancer's readiness check here so no upload pays for a cold start; ``/healthz`` stays
    the liveness check. Under ``seawall serve --workers N`` it answers 200 only once all N processes
    have warmed up (see :mod:`seawall.api.siblings`).
    """
    engine: Engine = request.app.state.engine
    if not engine.ready.is_set():
        return JSONResponse({"status": "warming_up", "code": "warming_up",
                             "message": "loading models and compiling match kernels"}, status_code=503)
    group: ServerGroup | None = getattr(request.app.state, "server_group", None)
    if group is not None and (ready := group.ready_count()) < group.processes:
        # this process is warm but a sibling is not: connections reach every process, so the node is not ready
        return JSONResponse({"status": "warming_up", "code": "warming_up",
                             "message": f"{ready} of {group.processes} server processes have warmed up"},
                            status_code=503)
    return JSONResponse({"status": "ready", "warm_up_seconds": engine.warm_up_seconds})


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)


@router.get("/", include_in_schema=False)
async def home(request: Request) -> HTMLResponse:
    engine: Engine = request.app.state.engine
    html = request.app.state.templates.get_template("home.html").render(
        version=__version__, index=engine.indexes.sizes(), database=engine.db.dialect,
    )
    return HTMLResponse(html)
