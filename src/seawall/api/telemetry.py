"""FastAPI's native OpenTelemetry, switched on once when the app is built instead of asked on every request.

Why: FastAPI checks on every request whether a global tracer, meter or logger provider has been configured
(three provider look-ups, each reading the environment). Seawall configures none, so the answer is almost
always no, and the question cost about a tenth of a ``GET /v1/lookup``'s Python time. An operator who
runs Seawall under ``opentelemetry-instrument`` (or configures providers before the app is built) still gets
FastAPI's spans and metrics: each kind stays on when its provider is configured at that moment. Providers
configured later are not noticed; nothing in Seawall does that.
"""

from __future__ import annotations

from fastapi.telemetry import TelemetryConfig
from opentelemetry import metrics, trace

#: The placeholder providers the OpenTelemetry API returns until one is configured (FastAPI's own test).
_PLACEHOLDERS = frozenset({
    ("opentelemetry.trace", "ProxyTracerProvider"),
    ("opentelemetry.metrics._internal", "_ProxyMeterProvider"),
    ("opentelemetry._logs._internal", "ProxyLoggerProvider"),
})


def _configured(provider: object) -> bool:
    cls = type(provider)
    return (cls.__module__, cls.__name__) not in _PLACEHOLDERS


def _logger_provider() -> object:
    from opentelemetry import _logs  # the logs API is still marked experimental (underscore module)

    return _logs.get_logger_provider()


def telemetry_options() -> TelemetryConfig:
    """``FastAPI(telemetry=…)``: each kind of telemetry on only if its global provider is configured now."""
    return {"tracing": _configured(trace.get_tracer_provider()),
            "metrics": _configured(metrics.get_meter_provider()),
            "logs": _configured(_logger_provider())}
