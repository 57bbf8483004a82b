"""Cohort retention: of the people who started in a period, how many came back k periods later.

Two kinds, as PostHog defines them:

- `first_time`: a person's cohort is the period of the first start event they ever did
  (history before the date range counts, so someone who started long ago is not new);
- `recurring`: a person is in the cohort of every period they did the start event in.

Retained in period k: did the return event in the cohort's period plus k. Period 0 is the
cohort itself (its size, 100 %). A breakdown by first channel splits each cohort by the
channel of the event that put the person in it.

This module also holds what the period reports (retention, lifecycle, channels) share:
calendar periods, the report's bounds and the scoped history of events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from omnicx.analytics.lake import LakeSnapshot
from omnicx.analytics.scope import Scope


class Period(StrEnum):
    """A calendar period: UTC days, ISO weeks (from Monday) or months."""

    day = "day"
    week = "week"
    month = "month"


class RetentionKind(StrEnum):
    """Who makes up a cohort (see the module's documentation)."""

    first_time = "first_time"
    recurring = "recurring"


def period_start(day: date, period: Period) -> date:
    """The first day of the period holding `day`."""
    if period is Period.month:
        return day.replace(day=1)
    if period is Period.week:
        return day - timedelta(days=day.weekday())
    return day


def add_periods(start: date, period: Period, count: int) -> date:
    """The start of the period `count` periods after the one starting on `start`."""
    if period is Period.month:
        months = start.year * 12 + start.month - 1 + count
        return date(months // 12, months % 12 + 1, 1)
    return start + timedelta(days=count * (7 if period is Period.week else 1))


def periods_between(first: date, later: date, period: Period) -> int:
    """How many periods separate two period starts."""
    if period is Period.month:
        return (later.year - first.year) * 12 + later.month - first.month
    return (later - first).days // (7 if period is Period.week else 1)


def trunc_sql(period: Period, column: str) -> str:
    """SQL: the start (DATE) of the period holding the timestamp `column`."""
    return f"CAST(date_trunc('{period.value}', {column}) AS DATE)"


def steps_sql(period: Period, first: str, later: str) -> str:
    """SQL: the periods between two period starts (DATE columns)."""
    if period is Period.month:
        return f"datediff('month', {first}, {later})"
    return f"(datediff('day', {first}, {later}) // {7 if period is Period.week else 1})"


def shift_sql(period: Period, column: str, count: int) -> str:
    """SQL: the start of the period `count` periods after the period starting at `column`."""
    unit = {Period.day: "DAY", Period.week: "DAY", Period.month: "MONTH"}[period]
    amount = count * 7 if period is Period.week else count
    return f"CAST({column} + INTERVAL ({amount}) {unit} AS DATE)"


def text_sql(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def instant_sql(moment: datetime) -> str:
    """A SQL timestamp literal (naive UTC, as the lake stores times)."""
    return f"TIMESTAMP '{moment.isoformat(sep=' ')}'"


ORDER_KEY = "(epoch_us(ts)::HUGEINT * 9223372036854775808 + event_id)"
"""SQL: an event's place in time, simultaneous events in the order the lake received them
(a number: far cheaper to compare than a (ts, event_id) pair)."""


def event_sql(name: str | None) -> str:
    """SQL: the condition "is this event" (None: any active event)."""
    return "active" if name is None else f"event = {text_sql(name)}"


def filters_sql(scope: Scope) -> tuple[str, list[Any]]:
    """SQL: the scope's filters as one condition on event columns, with its parameters."""
    parameters: list[Any] = []
    conditions = [f.sql(parameters) for f in scope.filters]
    return " AND ".join(conditions) or "true", parameters


def history_sql(
    scope: Scope,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    source: str = "all_events",
) -> tuple[str, list[Any]]:
    """SQL selecting the events of every day that match the scope's filters, from `since`
    (inclusive) to `until` (exclusive), with the filters' parameters (in order). From
    `all_events`, or from `lake_raw`: the stored rows before they are attributed to people
    (with `anchor`, without `person_key`), for queries that group by anchor first and meet
    `known_people` after."""
    condition, parameters = filters_sql(scope)
    if since is not None:
        condition += f" AND ts >= {instant_sql(since)}"
    if until is not None:
        condition += f" AND ts < {instant_sql(until)}"
    return f"SELECT * FROM {source} WHERE {condition}", parameters


@dataclass(frozen=True, slots=True)
class Bounds:
    """What a period report covers: whole periods from `first` (a period start) to the
    period holding `last` (the last day counted, which may end that period early)."""

    first: date
    last: date
    period: Period

    @property
    def since(self) -> datetime:
        """The first instant counted."""
        return datetime.combine(self.first, time())

    @property
    def until(self) -> datetime:
        """The first instant not counted."""
        return datetime.combine(self.last + timedelta(days=1), time())

    @property
    def last_period(self) -> date:
        """The start of the last period."""
        return period_start(self.last, self.period)

    def starts(self) -> list[date]:
        """Every period's start, oldest first."""
        count = periods_between(self.first, self.last_period, self.period)
        return [add_periods(self.first, self.period, k) for k in range(count + 1)]


def report_bounds(lake: LakeSnapshot, scope: Scope, period: Period) -> Bounds | None:
    """The scope's range within the lake's days, its start widened to a period start
    (None: no day of the lake is in range)."""
    days = lake.manifest.days()
    if not days:
        return None
    first = max(days[0], scope.start) if scope.start else days[0]
    last = min(days[-1], scope.end) if scope.end else days[-1]
    if first > last:
        return None
    return Bounds(period_start(first, period), last, period)


@dataclass(frozen=True, slots=True)
class Cohort:
    """The people who started in one period (and on one channel, when broken down)."""

    start: date
    channel: str | None
    size: int
    retained: tuple[int | None, ...]
    """People retained in period 0..N (period 0: the size); None: not observed yet."""

    @property
    def rates(self) -> tuple[float | None, ...]:
        """Retained people as a share of the cohort's size."""
        return tuple(None if n is None else n / self.size for n in self.retained)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "cohort": self.start.isoformat(),
            "first_channel": self.channel,
            "size": self.size,
            "retained": list(self.retained),
            "rates": list(self.rates),
        }


@dataclass(frozen=True, slots=True)
class RetentionReport:
    """A retention grid: cohorts by their start period, retention in periods 0..N."""

    period: Period
    kind: RetentionKind
    start_event: str | None
    return_event: str | None
    by_first_channel: bool
    periods: int
    first: date | None
    last: date | None
    cohorts: tuple[Cohort, ...]

    def average(self) -> tuple[tuple[int, int], ...]:
        """Per period k: (retained, size) summed over the cohorts that reached period k."""
        totals: list[tuple[int, int]] = []
        for k in range(self.periods + 1):
            seen = [c for c in self.cohorts if c.retained[k] is not None]
            totals.append((sum(c.retained[k] or 0 for c in seen), sum(c.size for c in seen)))
        return tuple(totals)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        average = self.average()
        return {
            "period": self.period.value,
            "kind": self.kind.value,
            "start_event": self.start_event,
            "return_event": self.return_event,
            "breakdown": "first_channel" if self.by_first_channel else None,
            "periods": self.periods,
            "start": self.first.isoformat() if self.first else None,
            "end": self.last.isoformat() if self.last else None,
            "cohorts": [c.to_dict() for c in self.cohorts],
            "average": {
                "retained": [r for r, _ in average],
                "rates": [r / s if s else None for r, s in average],
            },
        }


def retention(
    lake: LakeSnapshot,
    scope: Scope,
    *,
    period: Period = Period.month,
    kind: RetentionKind = RetentionKind.first_time,
    start_event: str | None = None,
    return_event: str | None = None,
    by_first_channel: bool = False,
    periods: int = 12,
) -> RetentionReport:
    """Cohort retention over the scope: cohorts of the periods in its range (its start
    widened to a period start), retention in periods 0..`periods` up to the range's end.
    Start and return events default to any active event."""
    if periods < 1:
        raise ValueError("periods must be at least 1")
    bounds = report_bounds(lake, scope, period)
    empty = RetentionReport(
        period, kind, start_event, return_event, by_first_channel, periods, None, None, ()
    )
    if bounds is None:
        return empty
    first_time = kind is RetentionKind.first_time
    # A first-time cohort needs each person's first start event ever: the whole history.
    # Grouped by anchor first: ten million rows grouped by an integer before the join with
    # the people, which then sees a few million.
    history, parameters = history_sql(
        scope, since=None if first_time else bounds.since, until=bounds.until, source="lake_raw"
    )
    with lake.connect(scope) as db:
        query = _grid_sql(
            history,
            bounds,
            first_time=first_time,
            start=event_sql(start_event),
            back=event_sql(return_event),
            by_first_channel=by_first_channel,
            periods=periods,
        )
        found = db.execute(query, parameters).fetchall()
    counts: dict[tuple[date, str | None], dict[int, int]] = {}
    for cohort, channel_name, k, people in found:
        counts.setdefault((cohort, channel_name), {})[int(k)] = int(people)
    rows: list[Cohort] = []
    for (cohort, channel_name), by_k in sorted(
        counts.items(), key=lambda i: (i[0][0], i[0][1] or "")
    ):
        seen = periods_between(cohort, bounds.last_period, period)
        retained = tuple(by_k.get(k, 0) if k <= seen else None for k in range(periods + 1))
        rows.append(Cohort(cohort, channel_name, by_k[0], retained))
    return RetentionReport(
        period,
        kind,
        start_event,
        return_event,
        by_first_channel,
        periods,
        bounds.first,
        bounds.last,
        tuple(rows),
    )


def _grid_sql(
    history: str,
    bounds: Bounds,
    *,
    first_time: bool,
    start: str,
    back: str,
    by_first_channel: bool,
    periods: int,
) -> str:
    """SQL: rows (cohort, channel, k, people), k = 0 giving the cohort's size, from the
    stored rows of `history` (by anchor)."""
    period = bounds.period
    # The entry event: the earliest; of simultaneous ones, the first the lake received.
    entry = (
        f"arg_min(channel, {ORDER_KEY}) FILTER ({start})" if by_first_channel else "NULL::VARCHAR"
    )
    since = f"DATE '{bounds.first}'"
    if first_time:
        cohorts = f"""
            SELECT p, {trunc_sql(period, "entered")} AS cohort, channel
            FROM (SELECT p, min(entered) AS entered, arg_min(channel, entry_key) AS channel
                  FROM periods WHERE entered IS NOT NULL GROUP BY p)
            WHERE entered >= {instant_sql(bounds.since)}
        """
    else:
        cohorts = f"""
            SELECT p, period AS cohort, channel FROM periods
            WHERE entered IS NOT NULL AND period >= {since}
        """
    # One pass over the events: per anchor and period, the entry event and whether they
    # came back; then per person and period (every aggregate composes); cohorts and returns
    # are read from that.
    return f"""
        WITH by_anchor AS (
            SELECT anchor, {trunc_sql(period, "ts")} AS period,
                min(ts) FILTER ({start}) AS entered, min({ORDER_KEY}) FILTER ({start}) AS entry_key,
                {entry} AS channel, bool_or({back}) AS returned
            FROM ({history}) WHERE {start} OR {back} GROUP BY ALL
        ),
        periods AS MATERIALIZED (
            SELECT k.person_key AS p, a.period, min(a.entered) AS entered,
                min(a.entry_key) AS entry_key, arg_min(a.channel, a.entry_key) AS channel,
                bool_or(a.returned) AS returned
            FROM by_anchor a JOIN known_people k ON k.anchor = a.anchor GROUP BY ALL
        ),
        cohorts AS MATERIALIZED ({cohorts}),
        returns AS (SELECT p, period FROM periods WHERE returned AND period >= {since})
        SELECT cohort, channel, 0 AS k, count(*) FROM cohorts GROUP BY ALL
        UNION ALL
        SELECT c.cohort, c.channel, {steps_sql(period, "c.cohort", "r.period")} AS k, count(*)
        FROM cohorts c JOIN returns r ON r.p = c.p AND r.period > c.cohort
            AND r.period <= {shift_sql(period, "c.cohort", periods)}
        GROUP BY ALL
    """
