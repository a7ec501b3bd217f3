"""Adds a module's router to an app by its routes, so each new app reuses what FastAPI built at import.

``FastAPI.include_router`` wraps the router in an inclusion that rebuilds every route (dependency
analysis, pydantic adapters for parameters and response models) the first time a request is matched
against it, once per app: a process that builds many apps (the test suite builds one per test, an
embedding service may build several) pays that again and again, ~0.1 CPU-s per app for Seawall's
~140 routes. Seawall's routers carry their prefix, tags and dependencies themselves and are included
without options, so their routes, built once when the module is imported, are already what the app
serves; appending them gives the same paths, responses and OpenAPI document.

The one thing inclusion adds that this does not: ``app.dependency_overrides`` does not reach these
routes (Seawall uses no dependency overrides).
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute


def attach_router(app: FastAPI, router: APIRouter) -> None:
    """Append ``router``'s routes to ``app`` in order, as ``app.include_router(router)`` would serve them."""
    for route in router.routes:
        if not isinstance(route, APIRoute):  # a nested inclusion or mount would need include_router's rebuild
            raise TypeError(f"{router.prefix or '/'}: {route!r} is not a plain API route")
    if router.on_startup or router.on_shutdown:
        raise TypeError(f"{router.prefix or '/'}: event handlers need include_router")
    app.router.routes.extend(router.routes)
