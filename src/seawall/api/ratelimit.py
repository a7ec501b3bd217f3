"""Request rate limits per API key and per client address: token buckets, bounded memory, 429 + Retry-After.

A stolen key or a single noisy client must not be able to starve every other caller, and password
guessing against the console must be slow. Buckets live in each server process (a deployment with N
API processes admits up to N times the configured rate from one client); the number of buckets is
capped, least recently used first out, so a flood of distinct addresses or tokens cannot grow memory.
Health checks, metrics and static files are never limited.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from seawall.api.raw_errors import send_error
from seawall.errors import RateLimited

MAX_BUCKETS = 100_000


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """Token buckets by name: ``rate`` tokens a second, at most ``burst`` saved up; rate 0 turns it off."""

    def __init__(self, rate: float, burst: int, *, max_buckets: int = MAX_BUCKETS) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self.max_buckets = max_buckets
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, name: str, now: float | None = None) -> float:
        """Take one token for ``name``: 0 when admitted, else the seconds until a token is available."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        with self._lock:
            bucket = self._buckets.pop(name, None)
            if bucket is None:
                bucket = _Bucket(float(self.burst), now)
            else:
                bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) * self.rate)
                bucket.at = now
            self._buckets[name] = bucket
            while len(self._buckets) > self.max_buckets:
                self._buckets.popitem(last=False)
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return 0.0
            return (1 - bucket.tokens) / self.rate

    def waiting(self, name: str, now: float | None = None) -> float:
        """Like ``retry_after`` but takes nothing: 0 when a token is available."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        with self._lock:
            bucket = self._buckets.get(name)
            if bucket is None:
                return 0.0
            tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) * self.rate)
            return 0.0 if tokens >= 1 else (1 - tokens) / self.rate

    def __len__(self) -> int:
        return len(self._buckets)

    def check(self, name: str, what: str) -> None:
        """Raise ``RateLimited`` (429) when ``name`` is over its rate."""
        wait = self.retry_after(name)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            raise RateLimited(f"too many requests from this {what}; retry in {seconds} s",
                              detail={"retry_after_seconds": seconds})


def client_address(scope: Scope) -> str:
    """The peer address (uvicorn already applied trusted proxy headers, see ``--forwarded-allow-ips``)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class AddressRateLimitMiddleware:
    """Per-address limits before any routing or authentication: the API, and (stricter) console sign-ins."""

    def __init__(self, app: ASGIApp, api: RateLimiter, login: RateLimiter) -> None:
        self.app = app
        self.api = api
        self.login = login

    def _limiter(self, method: str, path: str) -> RateLimiter | None:
        if path.startswith("/v1/"):
            return self.api
        if method == "POST" and path == "/console/login":
            return self.login
        return None  # health, metrics, static files, docs and console pages

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limiter = self._limiter(scope.get("method", ""), scope.get("path", "")) if scope["type"] == "http" else None
        if limiter is not None and await refuse_address(limiter, scope, send):
            return
        await self.app(scope, receive, send)


async def refuse_address(limiter: RateLimiter, scope: Scope, send: Send) -> bool:
    """Take one token for the caller's address; when there is none, answer 429 and return True.

    Shared by the middleware and the text-item fast path, so both refuse alike.
    """
    wait = limiter.retry_after(f"addr:{client_address(scope)}")
    if wait <= 0:
        return False
    seconds = max(1, math.ceil(wait))
    await send_error(send, 429, "rate_limited", f"too many requests from this address; retry in {seconds} s",
                     detail={"retry_after_seconds": seconds}, headers=[(b"retry-after", str(seconds).encode())])
    return True
