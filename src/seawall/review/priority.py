"""Queue order: how bad (severity), how far it spreads (reach, reports), how long it has waited (age).

The stored case priority is ``tier × 10 + severity`` (see :func:`seawall.review.cases.open_case`);
the queue multiplies it by a reach factor and an age factor at read time, because age changes every
minute and storing it would mean rewriting every open case. Logarithmic reach keeps a viral post
ahead of an unseen one without letting follower counts drown severity: a million views weigh 7×,
not a million times. Each further user report of the same item counts half a tenfold reach step
(capped), so a brigade of reports cannot outrank a credible threat on its own. Age grows linearly
to 2× when the SLA window has passed, so nothing is starved within a severity.

The queue orders by the stored priority first (tier and severity: an imminent credible threat before
glorification before "other") and by this score only within one priority, so no amount of reach
lets a report of a logo jump a credible threat. An item sent without reach counts as
``UNKNOWN_REACH`` views rather than none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

#: Further reports beyond the first count at most this many reach steps.
MAX_REPORT_STEPS = 3.0
#: An item sent without ``reach`` counts as this many views: unknown is not the same as unseen, and a
#: platform that does not send reach must not see its items sink below every item that has some.
UNKNOWN_REACH = 100


@dataclass(frozen=True, slots=True)
class Score:
    base: int
    reach_factor: float
    age_factor: float

    @property
    def value(self) -> float:
        return round(self.base * self.reach_factor * self.age_factor, 1)

    def explain(self) -> str:
        return f"{self.base} × reach {self.reach_factor:.2f} × age {self.age_factor:.2f}"


def score(base: int, *, reach: int | None, reports: int, created_at: datetime, sla: timedelta,
          now: datetime) -> Score:
    """The queue score of a case; higher is more urgent."""
    views = UNKNOWN_REACH if reach is None else max(0, reach)
    steps = math.log10(1 + views) + min(MAX_REPORT_STEPS, 0.5 * max(0, reports - 1))
    waited = max(0.0, (now - created_at).total_seconds())
    age = 1.0 + min(1.0, waited / max(1.0, sla.total_seconds()))
    return Score(base, 1.0 + steps, age)
