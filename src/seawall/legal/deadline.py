"""The one-hour clock of TCO Art. 3(3), with the pauses of Art. 3(7) and 3(8).

The hour runs from receipt. A force-majeure answer (Annex III, Art. 3(7)) stops it until the
obstacle ends; a manifest-errors or insufficient-information answer (Art. 3(8)) stops it until the
clarification arrives. Either way a *new* hour then starts, so each start opens a new clock
"epoch" with its own 30/45/55-minute alerts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from seawall.legal.clock import as_utc

HOUR = timedelta(hours=1)
#: Minutes into the hour at which reviewers and the platform are warned; 60 means overdue.
ALERT_MINUTES = (30, 45, 55, 60)
#: Annex III reasons, and what restarts the clock after each.
IMPOSSIBILITY = {
    "force_majeure": "obstacle_ended",
    "manifest_errors": "clarification_received",
    "insufficient_information": "clarification_received",
}


@dataclass(frozen=True, slots=True)
class ClockState:
    """Where an order's hour stands at one moment."""

    running: bool
    started_at: datetime | None
    deadline_at: datetime | None
    remaining_seconds: float | None
    elapsed_minutes: float | None
    overdue: bool
    #: The highest alert level reached (30/45/55/60) or None.
    level: int | None


def state(*, started_at: datetime | None, paused: bool, done: bool, now: datetime) -> ClockState:
    """The clock of an order started at ``started_at`` (None while paused before any start)."""
    if started_at is None or paused:
        return ClockState(False, started_at, None, None, None, False, None)
    started_at = as_utc(started_at)
    deadline = started_at + HOUR
    if done:
        return ClockState(False, started_at, deadline, None, None, False, None)
    now = as_utc(now)
    elapsed = (now - started_at).total_seconds() / 60
    level = max((m for m in ALERT_MINUTES if elapsed >= m), default=None)
    return ClockState(True, started_at, deadline, (deadline - now).total_seconds(), elapsed, now >= deadline, level)


def due_alerts(started_at: datetime, now: datetime, sent: set[int]) -> list[int]:
    """Alert minutes reached by ``now`` and not yet sent in this epoch, oldest first."""
    elapsed = as_utc(now) - as_utc(started_at)
    return [m for m in ALERT_MINUTES if elapsed >= timedelta(minutes=m) and m not in sent]


def within_hour(started_at: datetime, done_at: datetime) -> bool:
    return as_utc(done_at) <= as_utc(started_at) + HOUR
