"""The clock every legal deadline is measured with, injectable so tests never sleep.

Times are always timezone-aware UTC. :func:`monotonic_after` keeps a recorded time from running
backwards when the host clock is set back across a restart: a receipt, pause or removal is never
recorded earlier than the last event already stored for the same order.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """The host's clock, in UTC."""

    source = "server"

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told: the test double for every deadline."""

    source = "manual"

    def __init__(self, start: datetime) -> None:
        self._now = as_utc(start)

    def now(self) -> datetime:
        return self._now

    def advance(self, **delta: float) -> datetime:
        self._now += timedelta(**delta)
        return self._now

    def set(self, when: datetime) -> None:
        self._now = as_utc(when)


def as_utc(when: datetime) -> datetime:
    """Naive datetimes (SQLite reads them back that way) are UTC by construction in Seawall."""
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def monotonic_after(now: datetime, last: datetime | None) -> datetime:
    """``now``, or ``last`` if the clock was set back since ``last`` was recorded."""
    now = as_utc(now)
    if last is None:
        return now
    last = as_utc(last)
    return last if now < last else now
