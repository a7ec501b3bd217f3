"""Review workload figures for the dashboard: queue sizes, time to decision, SLA breaches, labels.

Figures are computed from cases and reviewer decisions over a window (30 days by default) in Python
rather than with percentile SQL, because SQLite has none and the numbers must match on both stores.
Percentiles use the nearest-rank method, so a p90 is always a time some case actually took.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select

from seawall.review.cases import TIERS, tier_of
from seawall.review.users import aware
from seawall.store.db import Database
from seawall.store.tables import AppealRow, CaseDecisionRow, CaseRow, utcnow

WINDOW = timedelta(days=30)
DAYS_CHARTED = 14


@dataclass(slots=True)
class Dashboard:
    open_by_tier: list[tuple[str, int]]
    open_by_queue: dict[str, int]
    decided: int
    median_seconds: float | None
    p90_seconds: float | None
    breaches_open: int
    breaches_decided: int
    decisions_per_label: list[tuple[str, int]]
    decisions_per_day: list[tuple[str, int]]
    appeals: dict[str, int] = field(default_factory=dict)


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0–100) of values; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = round(seconds)
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


def dashboard(db: Database, *, now: datetime | None = None, window: timedelta = WINDOW) -> Dashboard:
    now = now or utcnow()
    since = now - window
    with db.session() as s:
        open_rows = s.execute(select(CaseRow.priority, CaseRow.queue, CaseRow.sla_due_at)
                              .where(CaseRow.status != "decided")).all()
        decided_rows = s.execute(select(CaseRow.created_at, CaseRow.decided_at, CaseRow.sla_due_at)
                                 .where(CaseRow.status == "decided", CaseRow.decided_at >= since)).all()
        decisions = s.execute(select(CaseDecisionRow.outcome, CaseDecisionRow.labels, CaseDecisionRow.created_at)
                              .where(CaseDecisionRow.created_at >= since)).all()
        appeals = s.execute(select(AppealRow.status, AppealRow.outcome).where(AppealRow.created_at >= since)).all()
    by_tier = Counter(tier_of(p) for p, _, _ in open_rows)
    waits = [(aware(d) - aware(c)).total_seconds() for c, d, _ in decided_rows if d is not None]
    per_label: Counter[str] = Counter()
    per_day: Counter[str] = Counter()
    for outcome, labels, at in decisions:
        per_day[aware(at).date().isoformat()] += 1
        if outcome == "violating":
            per_label.update(labels or [])
    days = [(now - timedelta(days=i)).date().isoformat() for i in range(DAYS_CHARTED - 1, -1, -1)]
    appeal_counts = Counter("received" if st == "received" else (out or "decided") for st, out in appeals)
    return Dashboard(
        open_by_tier=[(t, by_tier.get(t, 0)) for t in reversed(TIERS)],
        open_by_queue=dict(Counter(q for _, q, _ in open_rows)),
        decided=len(waits),
        median_seconds=percentile(waits, 50),
        p90_seconds=percentile(waits, 90),
        breaches_open=sum(1 for _, _, due in open_rows if aware(due) < now),
        breaches_decided=sum(1 for _, d, due in decided_rows if d is not None and aware(d) > aware(due)),
        decisions_per_label=per_label.most_common(12),
        decisions_per_day=[(d, per_day.get(d, 0)) for d in days],
        appeals=dict(appeal_counts),
    )
