"""What a node tells a load balancer or orchestrator: ``ok``, ``degraded`` (with reasons) or ``unavailable``.

``degraded`` keeps HTTP 200 on purpose: a node whose queue broker is away or whose workers lag still
answers image and text verdicts in the request, so it must stay in rotation; the reasons say what is
wrong. Only a store that does not answer makes a node ``unavailable`` (503).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from seawall import __version__

if TYPE_CHECKING:
    from seawall.engine import Engine

#: Machine codes of the reasons a node is degraded (also the ``reason`` label of ``seawall_degraded``).
DEGRADED_REASONS = ("queue_unreachable", "queue_lagging")


def degraded_reasons(queue: dict[str, Any]) -> list[dict[str, str]]:
    """Why the node is degraded, from :meth:`Engine.queue_status`; empty when it is not."""
    reasons: list[dict[str, str]] = []
    if queue.get("connected") is False:
        reasons.append({"code": "queue_unreachable", "message": (
            f"the work queue is unreachable ({queue.get('error', 'not connected')}); retrying in the background. "
            "Image and text verdicts are answered; deferred uploads wait in the store up to a limit")})
    if queue.get("lagging"):
        reasons.append({"code": "queue_lagging", "message": (
            f"{queue.get('depth', 0):,} background jobs wait or run, more than {queue.get('degraded_depth', 0):,}")})
    return reasons


def report(engine: Engine) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) for /healthz; blocking (a database round trip), so call it off the event loop."""
    try:
        with engine.db.session() as s:
            s.execute(text("SELECT 1"))
    except Exception as exc:
        return 503, {"status": "unavailable", "database": f"error: {type(exc).__name__}",
                     "reasons": [{"code": "database_unreachable", "message": "the store does not answer"}]}
    queue = engine.queue_status()
    reasons = degraded_reasons(queue)
    return 200, {
        "status": "degraded" if reasons else "ok",
        "reasons": reasons,
        "ready": engine.ready.is_set(),
        "queue": queue,
        "version": __version__,
        "database": engine.db.dialect,
        "index": engine.indexes.sizes(),
    }
