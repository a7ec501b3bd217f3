"""The FastAPI application: routers, error handlers, body limits, metrics."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from seawall import __version__
from seawall.api import docs
from seawall.api.attach import attach_router
from seawall.api.edge import NulGuardMiddleware
from seawall.api.errors import install_error_handlers
from seawall.api.gil import favour_event_loop
from seawall.api.headers import SecurityHeadersMiddleware
from seawall.api.imagepath import ImageUploadFastPath
from seawall.api.limits import BodyLimitMiddleware
from seawall.api.lookuppath import LookupFastPath
from seawall.api.metrics import Metrics
from seawall.api.openapi import install as install_openapi
from seawall.api.ratelimit import AddressRateLimitMiddleware, RateLimiter
from seawall.api.routes import (
    accounts,
    appeals,
    banks,
    cases,
    decisions,
    feeds,
    items,
    lookup,
    plugins,
    profiles,
    quality,
    reports,
    retro,
    rules,
    sources,
    system,
    webhooks,
    work_queue,
)
from seawall.api.routes.console import install as install_console
from seawall.api.routes.legal import install as install_legal
from seawall.api.serving_group import ServingGroup
from seawall.api.slowclients import BodyReadTimeoutMiddleware
from seawall.api.telemetry import telemetry_options
from seawall.api.textpath import TextItemFastPath
from seawall.api.textpath import warm_up as warm_text_route
from seawall.composition import build_engine, start
from seawall.config import Settings
from seawall.engine import Engine


def _mark_when_ready(engine: Engine, group: ServingGroup) -> None:
    """Leave this process's ready mark once its warm-up finished (see :mod:`seawall.api.serving_group`)."""
    engine.ready.wait()
    group.mark_ready()


def _nothing() -> None:
    """Run once in the thread pool at start-up (see the lifespan)."""


def prime_endpoint_contexts(app: FastAPI) -> int:
    """Have FastAPI note each route's source file and line now, not on the route's first request; how many.

    Why: FastAPI (0.16x) reads where each endpoint is defined, for its error messages, on the endpoint's
    first call in a process (``inspect.getsourcelines``, which tokenizes the function's source), and
    keeps it: 15 ms of the event loop for the first image upload, five times the median one. For every
    route at start-up it costs about 50 ms of CPU once. A FastAPI without that step is left alone.
    """
    from fastapi import routing

    extract = getattr(routing, "_extract_endpoint_context", None)
    if extract is None:
        return 0
    primed = 0
    for route in app.routes:
        dependant = getattr(route, "dependant", None)
        if dependant is not None and dependant.call is not None:
            extract(dependant.call)
            primed += 1
    return primed


@cache
def page_templates() -> Environment:
    """The home page's and console's templates, one environment per process shared by every app.

    Apps add nothing to it (no globals, no filters), so sharing it only saves work: a template is
    compiled once per process instead of once per app on its first render.
    """
    return Environment(loader=PackageLoader("seawall.web", "templates"), autoescape=select_autoescape())


def create_app(settings: Settings | None = None, *, engine: Engine | None = None,
               follow_writes: bool = True, text_fast_path: bool = True, lookup_fast_path: bool = True,
               image_fast_path: bool = True) -> FastAPI:
    """Build the app. Pass an ``engine`` to share one with the caller (tests, embedded use).

    ``text_fast_path=False`` leaves out :class:`~seawall.api.textpath.TextItemFastPath`, so plain JSON text
    items take the documented route (tests compare the two); ``lookup_fast_path=False`` does the same for
    :class:`~seawall.api.lookuppath.LookupFastPath` and ``GET /v1/lookup``, ``image_fast_path=False`` for
    :class:`~seawall.api.imagepath.ImageUploadFastPath` and multipart uploads.
    """
    settings = settings or (engine.settings if engine else Settings())
    owns_engine = engine is None
    eng = engine or build_engine(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # the thread pool's async backend is imported on its first use (10–40 ms), and an upload whose API
        # key is not yet cached reads it in that pool: use it once before the first request does
        await run_in_threadpool(_nothing)
        warm_text_route(eng)  # the text route's body parsing, before uvicorn accepts the first request
        await run_in_threadpool(prime_endpoint_contexts, app)  # each route's first call, before it too
        # requests on the event loop wait at most 0.5 ms for the GIL, not 5, behind a background thread
        favour_event_loop()
        # models and kernels load beside start-up, not inside the first upload; /readyz says when done
        start(eng, follow_writes=follow_writes)
        if group is not None:
            threading.Thread(target=_mark_when_ready, args=(eng, group), name="seawall-ready-mark", daemon=True).start()
        legal.start()
        yield
        if group is not None:
            group.forget()  # a process shutting down no longer serves: the node is not ready without it
        legal.close()  # the parsing workers (api/offload.py) are the process's: they end with it
        if owns_engine:
            eng.close()

    app = FastAPI(
        title="Seawall",
        version=__version__,
        description="Upload-time matching of terrorist and violent-extremist content against hash banks.",
        lifespan=lifespan,
        docs_url=None,  # served by seawall.api.docs from bundled assets, never from a CDN
        redoc_url=None,
        telemetry=telemetry_options(),  # decided now, not asked on every request
    )
    app.state.engine = eng
    #: The other processes of this ``seawall serve --workers N`` (None when serving alone): /readyz waits for all.
    app.state.serving_group = group = ServingGroup.from_environ()
    app.state.metrics = Metrics(eng)
    app.state.templates = page_templates()
    install_error_handlers(app)
    install_openapi(app)

    def limit_for(path: str, content_type: str) -> int:
        if path.endswith("/import"):
            return settings.max_import_bytes
        if content_type.startswith("application/json"):
            return min(settings.max_json_bytes, settings.max_upload_bytes)
        return settings.max_upload_bytes

    app.add_middleware(BodyLimitMiddleware, limit_for=limit_for)
    app.add_middleware(NulGuardMiddleware)
    app.add_middleware(BodyReadTimeoutMiddleware, timeout=settings.body_read_timeout_seconds)
    app.state.key_limiter = RateLimiter(settings.rate_limit_key_per_second, settings.rate_limit_key_burst)
    app.state.auth_failure_limiter = RateLimiter(settings.auth_failures_per_second, settings.auth_failures_burst)
    address_limiter = RateLimiter(settings.rate_limit_address_per_second, settings.rate_limit_address_burst)
    app.add_middleware(AddressRateLimitMiddleware, api=address_limiter,
                       login=RateLimiter(settings.login_rate_per_minute / 60, settings.login_rate_burst))
    app.add_middleware(SecurityHeadersMiddleware)
    if text_fast_path:  # outermost: a plain JSON text item skips the layers above (it applies them itself)
        app.add_middleware(TextItemFastPath, json_limit=limit_for("/v1/items", "application/json"),
                           address_limiter=address_limiter, body_timeout=settings.body_read_timeout_seconds)
    if image_fast_path:  # outermost too: a multipart upload skips the layers above (it applies them itself)
        app.add_middleware(ImageUploadFastPath, upload_limit=limit_for("/v1/items", "multipart/form-data"),
                           address_limiter=address_limiter, body_timeout=settings.body_read_timeout_seconds)
    if lookup_fast_path:  # outermost too: GET /v1/lookup skips the layers above (it applies them itself)
        app.add_middleware(LookupFastPath, address_limiter=address_limiter)
    app.router.routes.append(lookup.fast_route)  # matched before the documented twin registered below
    for r in (system.router, items.router, banks.router, lookup.router, rules.router, webhooks.router,
              accounts.router, profiles.router, work_queue.router, decisions.router, retro.router, reports.router,
              appeals.router, plugins.router, sources.router, feeds.router, cases.router, quality.router,
              work_queue.deprecated_router):
        attach_router(app, r)
    install_console(app)
    docs.install(app)
    legal = install_legal(app)
    app.mount("/static", StaticFiles(packages=[("seawall.web", "static")]), name="static")
    return app
