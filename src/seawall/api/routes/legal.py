"""Installs Seawall's legal features on the app: the service, its API routers and console pages."""

from __future__ import annotations

from fastapi import FastAPI

from seawall.composition import legal_service
from seawall.legal.service import LegalService


def install(app: FastAPI) -> LegalService:
    from seawall.api.routes import legal_console, preservation, removal_orders, statements

    legal = legal_service(app.state.engine)
    app.state.legal = legal
    app.include_router(removal_orders.router)
    app.include_router(preservation.router)
    app.include_router(statements.router)
    app.include_router(statements.reports_router)
    app.include_router(legal_console.router)
    app.include_router(legal_console.transparency_router)
    return legal
