"""``GET /v1/plugins``: what this node has loaded, by extension kind and plugin (admin only).

An operator checking that a signal type or exchange is really active on every node asks here rather
than reading start-up logs; plugins left out by a degraded start are listed under ``failed``.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from seawall.api.auth import require
from seawall.apikeys import Principal
from seawall.plugins import EXTENSION_POINTS, Registry

router = APIRouter(prefix="/v1/plugins", tags=["plugins"])
admin = require("admin")


def plugins_body(reg: Registry) -> dict[str, object]:
    """The listing shared by the API and ``seawall plugins --json``."""
    return {
        "plugins": [{"name": name, "package": package} for name, package in reg.plugins().items()],
        "extensions": reg.listing(),
        "extension_points": [{"kind": k, "description": v} for k, v in EXTENSION_POINTS.items()],
        "failed": [f.to_dict() for f in reg.failures],
    }


@router.get("")
async def list_plugins(request: Request, _: Principal = Depends(admin)) -> JSONResponse:
    """Loaded plugins, every extension each registered (kind, name, plugin, package), and failures."""
    return JSONResponse(plugins_body(request.app.state.engine.registry))
