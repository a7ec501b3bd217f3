"""Installs Seawall's legal features on the app: the service, its API routers and console pages."""

from __future__ import annotations

from fastapi import FastAPI

from seawall.api.attach import attach_router
from seawall.composition import legal_service
from seawall.legal.service import LegalService


def install(app: FastAPI) -> LegalService:
    from seawall.api.routes import legal_console, preservation, removal_orders, statements

    legal = legal_service(app.state.engine)
    app.state.legal = legal
    attach_router(app, removal_orders.router)
    attach_router(app, preservation.router)
    attach_router(app, statements.router)
    attach_router(app, statements.reports_router)
    attach_router(app, legal_console.router)
    attach_router(app, legal_console.transparency_router)
    return legal
