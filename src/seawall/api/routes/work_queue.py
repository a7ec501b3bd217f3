"""``/v1/work-queue``: the state of the work queue (background stages), for operators.

Named apart from the review queues (``/console/queue``) and the ``queue`` rule action. The first
path, ``/v1/queue``, still answers the same, marked deprecated in the API description.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from seawall.api.auth import require
from seawall.apikeys import Principal
from seawall.engine import Engine

router = APIRouter(prefix="/v1/work-queue", tags=["work queue"])


@router.get("")
async def queue_status(request: Request, _: Principal = Depends(require("admin"))) -> dict[str, Any]:
    """Backend, jobs waiting or in flight across all workers, and whether workers lag."""
    engine: Engine = request.app.state.engine
    return await run_in_threadpool(engine.queue_status)


@router.get("/dead-letters")
async def dead_letters(request: Request, limit: int = Query(100, ge=1, le=1000),
                       _: Principal = Depends(require("admin"))) -> dict[str, Any]:
    """Jobs given up on after ``SEAWALL_NATS_MAX_DELIVERIES`` failed or crashed deliveries, newest first.

    Each names the stage, the item (now ``failed`` with error code ``dead_letter``), the number of
    deliveries and the last error. The embedded queue keeps none: its failures mark the item at once.
    """
    engine: Engine = request.app.state.engine
    if engine.queue is None:
        return {"dead_letters": []}
    queue = engine.queue
    items = await run_in_threadpool(queue.dead_letters, limit)
    return {"dead_letters": items}


#: The same two calls under their first path, kept so that existing operator scripts keep working.
deprecated_router = APIRouter(prefix="/v1/queue", tags=["work queue"], deprecated=True)
deprecated_router.add_api_route("", queue_status, methods=["GET"])
deprecated_router.add_api_route("/dead-letters", dead_letters, methods=["GET"])
