"""The FastAPI application: routers, error handlers, body limits, metrics."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, select_autoescape

from seawall import __version__
from seawall.api.errors import install_error_handlers
from seawall.api.limits import BodyLimitMiddleware
from seawall.api.metrics import Metrics
from seawall.api.routes import (
    accounts,
    appeals,
    banks,
    cases,
    decisions,
    items,
    lookup,
    profiles,
    queue,
    reports,
    retro,
    rules,
    system,
    webhooks,
)
from seawall.api.routes.console import install as install_console
from seawall.config import Settings
from seawall.engine import Engine
from seawall.media.language import warm_up


def create_app(settings: Settings | None = None, *, engine: Engine | None = None,
               follow_writes: bool = True) -> FastAPI:
    """Build the app. Pass an ``engine`` to share one with the caller (tests, embedded use)."""
    settings = settings or (engine.settings if engine else Settings())
    owns_engine = engine is None
    eng = engine or Engine(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if follow_writes:
            eng.start_background_refresh()
        eng.start_workers()
        eng.start_webhook_delivery()
        # The language model takes ~2 s to load: do it beside start-up, not inside the first upload.
        threading.Thread(target=warm_up, name="seawall-language-warm-up", daemon=True).start()
        yield
        if owns_engine:
            eng.close()

    app = FastAPI(
        title="Seawall",
        version=__version__,
        description="Upload-time matching of terrorist and violent-extremist content against hash banks.",
        lifespan=lifespan,
    )
    app.state.engine = eng
    app.state.metrics = Metrics(eng)
    app.state.templates = Environment(loader=PackageLoader("seawall.web", "templates"),
                                      autoescape=select_autoescape())
    install_error_handlers(app)

    def limit_for(path: str) -> int:
        return settings.max_import_bytes if path.endswith("/import") else settings.max_upload_bytes

    app.add_middleware(BodyLimitMiddleware, limit_for=limit_for)
    app.router.routes.append(lookup.fast_route)  # matched before the documented twin registered below
    for r in (system.router, items.router, banks.router, lookup.router, rules.router, webhooks.router,
              accounts.router, profiles.router, queue.router, decisions.router, retro.router, reports.router,
              appeals.router, cases.router):
        app.include_router(r)
    install_console(app)
    app.mount("/static", StaticFiles(packages=[("seawall.web", "static")]), name="static")
    return app
