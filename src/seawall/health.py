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
DEGRADED_REASONS = ("queue_unreachable", "queue_lagging", "stage2_shedding", "plugin_failed", "source_failing",
                    "source_stale")


def source_reasons(sources: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Sources (hash-sharing exchanges) that fail or have not synced for too long: matching still works,
    but with banks that may be missing what partners know."""
    reasons: list[dict[str, str]] = []
    failing = [s for s in sources if s.get("failing")]
    stale = [s for s in sources if s.get("stale")]
    if failing:
        reasons.append({"code": "source_failing", "message": "source(s) failing: " + "; ".join(
            f"{s['name']}: {s.get('last_error') or 'error'}" for s in failing[:5])})
    if stale:
        reasons.append({"code": "source_stale", "message": "source(s) not synced recently: " + ", ".join(
            f"{s['name']} (lag {s['lag_seconds']} s)" for s in stale[:5])})
    return reasons


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
    if queue.get("stage2_shedding"):
        # lost coverage must not be silent: these uploads got no OCR or region hashes at all
        reasons.append({"code": "stage2_shedding", "message": (
            f"stage 2 (OCR, region hashes) was skipped for uploads in the last few minutes: "
            f"{queue.get('stage2_max_backlog', 0):,} already waited for it "
            f"({queue.get('stage2_skipped', 0):,} skipped since start)")})
    return reasons


def plugin_reasons(engine: Engine) -> list[dict[str, str]]:
    """One reason per plugin left out by a degraded start (``SEAWALL_PLUGINS_DEGRADED``): lost coverage
    must be visible to whoever watches the node, not only in a log line at start-up."""
    return [{"code": "plugin_failed", "plugin": f.plugin,
             "message": f"plugin {f.plugin!r}{f' ({f.package})' if f.package else ''} failed to load and is not "
                        f"active: {f.error}"} for f in engine.registry.failures]


def report(engine: Engine) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) for /healthz; blocking (a database round trip), so call it off the event loop."""
    try:
        with engine.db.session() as s:
            s.execute(text("SELECT 1"))
    except Exception as exc:
        return 503, {"status": "unavailable", "database": f"error: {type(exc).__name__}",
                     "reasons": [{"code": "database_unreachable", "message": "the store does not answer"}]}
    queue = engine.queue_status()
    sources = engine.sources.statuses()
    reasons = degraded_reasons(queue) + plugin_reasons(engine) + source_reasons(sources)
    return 200, {
        "status": "degraded" if reasons else "ok",
        "reasons": reasons,
        "ready": engine.ready.is_set(),
        "queue": queue,
        "version": __version__,
        "database": engine.db.dialect,
        "index": engine.indexes.sizes(),
        "sources": sources,
    }
