"""How a serving process is set up for short requests: GIL hand-off and FastAPI's per-request telemetry check."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from opentelemetry import trace
from opentelemetry.trace import NoOpTracer, TracerProvider

from seawall.api import telemetry
from seawall.api.app import create_app
from seawall.api.gil import SERVING_SWITCH_INTERVAL, favour_event_loop
from seawall.engine import Engine


@pytest.fixture
def switch_interval() -> Iterator[None]:
    before = sys.getswitchinterval()
    try:
        yield
    finally:
        sys.setswitchinterval(before)


@pytest.mark.usefixtures("switch_interval")
def test_favour_event_loop_lowers_the_switch_interval_and_never_raises_it() -> None:
    sys.setswitchinterval(0.005)
    assert favour_event_loop() == pytest.approx(0.005)
    assert sys.getswitchinterval() == pytest.approx(SERVING_SWITCH_INTERVAL)
    sys.setswitchinterval(0.0001)
    lower = sys.getswitchinterval()  # the interpreter keeps whole microseconds
    favour_event_loop()
    assert sys.getswitchinterval() == lower


@pytest.mark.usefixtures("switch_interval")
def test_a_serving_app_hands_the_gil_over_quickly(engine: Engine) -> None:
    sys.setswitchinterval(0.005)
    with TestClient(create_app(engine=engine, follow_writes=False)) as client:
        assert client.get("/healthz").status_code == 200
        assert sys.getswitchinterval() == pytest.approx(SERVING_SWITCH_INTERVAL)


class _Provider(TracerProvider):
    def get_tracer(self, *args: object, **kwargs: object) -> NoOpTracer:
        return NoOpTracer()


def test_telemetry_is_on_only_for_configured_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    assert telemetry.telemetry_options() == {"tracing": False, "metrics": False, "logs": False}
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: _Provider())
    assert telemetry.telemetry_options() == {"tracing": True, "metrics": False, "logs": False}
