"""Calls with our own deadline, on the reactor and never blocking it.

Synapse's HTTP client waits up to 60 s for response headers and has no limit on the body: far too long
for someone waiting for their message to be sent. ``Deferred.addTimeout`` cancels the call when the
budget runs out; the cancellation surfaces as various exception types, so callers catch ``Exception``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from synapse.module_api import make_deferred_yieldable, run_in_background
from twisted.internet import reactor

T = TypeVar("T")


async def within(seconds: float, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
    """``await fn(*args, **kwargs)``, cancelled after ``seconds``."""
    d = run_in_background(fn, *args, **kwargs)
    d.addTimeout(seconds, reactor)
    result: T = await make_deferred_yieldable(d)
    return result
