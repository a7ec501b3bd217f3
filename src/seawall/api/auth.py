"""Bearer API-key authentication and role checks, applied per route."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterable

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from seawall.api.ratelimit import RateLimiter, client_address
from seawall.apikeys import Principal
from seawall.errors import Forbidden, RateLimited, Unauthorized


async def principal_from(request: Request) -> Principal:
    """Verified caller; a cache hit costs a dictionary lookup, a key in the fresh snapshot of keys a digest,
    anything else a read of the key row off the event loop."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("send an API key as 'Authorization: Bearer <key>'", code="missing_api_key")
    keys = request.app.state.engine.api_keys
    cached: Principal | None = keys.cached(token) or keys.from_snapshot(token)
    if cached is not None:
        principal = cached
    else:
        # an address that keeps presenting bad keys is slowed down before it costs a store lookup
        failures: RateLimiter | None = getattr(request.app.state, "auth_failure_limiter", None)
        address = f"addr:{client_address(request.scope)}"
        if failures is not None and not keys.verified_before(token) and (wait := failures.waiting(address)) > 0:
            raise RateLimited(f"too many invalid API keys from this address; retry in {max(1, math.ceil(wait))} s",
                              detail={"retry_after_seconds": max(1, math.ceil(wait))})
        try:
            principal = await run_in_threadpool(keys.authenticate, token)
        except Unauthorized:
            if failures is not None:
                failures.retry_after(address)
            raise
    limiter: RateLimiter | None = getattr(request.app.state, "key_limiter", None)
    if limiter is not None:
        limiter.check(f"key:{principal.key_id}", "API key")
    return principal


def ensure_role(principal: Principal, roles: Iterable[str]) -> Principal:
    """403 unless the principal has one of ``roles`` (``admin`` is always admitted)."""
    allowed = set(roles) | {"admin"}
    if principal.role not in allowed:
        raise Forbidden(
            f"the {principal.role!r} role may not do this; needs one of {', '.join(sorted(allowed))}",
            code="forbidden",
        )
    return principal


def require(*roles: str) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency admitting only the given roles (``admin`` is always admitted)."""

    async def dependency(request: Request) -> Principal:
        return ensure_role(await principal_from(request), roles)

    return dependency
