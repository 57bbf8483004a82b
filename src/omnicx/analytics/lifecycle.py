"""Lifecycle (growth accounting): per period, who is new, returning, resurrecting or dormant.

A person is active in a period when they did an active event (or the chosen event) in it.
Of the people active in a period:

- new: it is their first active period ever (history before the date range counts);
- returning: they were active in the previous period too;
- resurrecting: they were not active in the previous period, but were before it.

Dormant: active in the previous period, not in this one; a negative count, as PostHog shows,
so a stacked bar reads as what the period gained and lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from omnicx.analytics.lake import LakeSnapshot
from omnicx.analytics.retention import (
    Bounds,
    Period,
    event_sql,
    history_sql,
    report_bounds,
    shift_sql,
    trunc_sql,
)
from omnicx.analytics.scope import Scope

STATUSES = ("new", "returning", "resurrecting", "dormant")


@dataclass(frozen=True, slots=True)
class LifecyclePeriod:
    """The lifecycle counts of one period."""

    start: date
    new: int
    returning: int
    resurrecting: int
    dormant: int
    """Zero or negative: the people lost since the previous period."""

    @property
    def active(self) -> int:
        """People active in the period."""
        return self.new + self.returning + self.resurrecting

    @property
    def quick_ratio(self) -> float | None:
        """People gained (new + resurrecting) per person lost (None: nobody was lost)."""
        return (self.new + self.resurrecting) / -self.dormant if self.dormant else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "period": self.start.isoformat(),
            "new": self.new,
            "returning": self.returning,
            "resurrecting": self.resurrecting,
            "dormant": self.dormant,
            "active": self.active,
            "quick_ratio": self.quick_ratio,
        }


@dataclass(frozen=True, slots=True)
class LifecycleReport:
    """Lifecycle counts for every period of the range."""

    period: Period
    event: str | None
    first: date | None
    last: date | None
    periods: tuple[LifecyclePeriod, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "period": self.period.value,
            "event": self.event,
            "start": self.first.isoformat() if self.first else None,
            "end": self.last.isoformat() if self.last else None,
            "periods": [p.to_dict() for p in self.periods],
        }


def lifecycle(
    lake: LakeSnapshot, scope: Scope, *, period: Period = Period.month, event: str | None = None
) -> LifecycleReport:
    """Lifecycle counts per period of the scope's range (its start widened to a period
    start); activity is any active event, or `event` when given."""
    bounds = report_bounds(lake, scope, period)
    if bounds is None:
        return LifecycleReport(period, event, None, None, ())
    history, parameters = history_sql(scope, until=bounds.until)
    with lake.connect(scope) as db:
        query = _statuses_sql(history, "person_key", bounds, event_sql(event))
        found = db.execute(query, parameters).fetchall()
    counts: dict[tuple[date, str], int] = {(start, status): int(n) for start, status, n in found}
    return LifecycleReport(
        period,
        event,
        bounds.first,
        bounds.last,
        tuple(
            LifecyclePeriod(start, *(counts.get((start, s), 0) for s in STATUSES))
            for start in bounds.starts()
        ),
    )


def _statuses_sql(history: str, person: str, bounds: Bounds, active: str) -> str:
    """SQL: rows (period, status, people), dormant people counted negative."""
    period = bounds.period
    in_range = f"BETWEEN DATE '{bounds.first}' AND DATE '{bounds.last_period}'"
    return f"""
        WITH activity AS (
            SELECT DISTINCT {person} AS p, {trunc_sql(period, "ts")} AS period
            FROM ({history}) WHERE {active}
        ),
        marked AS MATERIALIZED (
            SELECT period, lag(period) OVER w AS before, lead(period) OVER w AS after,
                {shift_sql(period, "period", 1)} AS next
            FROM activity WINDOW w AS (PARTITION BY p ORDER BY period)
        )
        SELECT period, CASE
                WHEN before IS NULL THEN 'new'
                WHEN {shift_sql(period, "before", 1)} = period THEN 'returning'
                ELSE 'resurrecting' END AS status,
            count(*)
        FROM marked WHERE period {in_range} GROUP BY ALL
        UNION ALL
        SELECT next, 'dormant', -count(*) FROM marked
        WHERE (after IS NULL OR after > next) AND next {in_range} GROUP BY ALL
    """
