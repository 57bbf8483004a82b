"""Plain-Python reference implementations of retention, lifecycle, churn points, channel
performance and cross-channel value, written from their documented definitions (one event
at a time, no SQL), to check the DuckDB versions against."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from tests.analytics.lakes import Row

Predicate = Callable[["Event"], bool]


@dataclass(frozen=True)
class Event:
    """An event as the lake's views show it: with its id and its person now."""

    id: int
    person: str
    channel: str
    event: str | None
    type: str
    ts: datetime
    active: bool
    revenue: float | None
    properties: Mapping[str, Any]

    @property
    def touch(self) -> tuple[str, str]:
        return (self.channel, self.event if self.event is not None else self.type)


def attributed(rows: Sequence[Row], owners: Mapping[int, str | None]) -> list[Event]:
    """The events of `rows` (written in this order to a fresh lake, every row with an
    anchor) with the person `owners` gives their anchor (None: nobody, left out)."""
    events = []
    for index, row in enumerate(rows):
        assert row.anchor is not None
        person = owners.get(row.anchor, row.person)
        if person is None:
            continue
        events.append(
            Event(
                index + 1,
                person,
                row.channel,
                row.event,
                row.type,
                row.ts,
                row.active,
                row.revenue,
                dict(row.properties or {}),
            )
        )
    return events


# Periods ------------------------------------------------------------------------------


def start_of(day: date, period: str) -> date:
    if period == "month":
        return date(day.year, day.month, 1)
    if period == "week":
        return day - timedelta(days=day.weekday())
    return day


def following(start: date, period: str) -> date:
    if period == "month":
        return date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return start + timedelta(days=7 if period == "week" else 1)


def preceding(start: date, period: str) -> date:
    if period == "month":
        return date(start.year - (start.month == 1), (start.month - 2) % 12 + 1, 1)
    return start - timedelta(days=7 if period == "week" else 1)


def period_of(moment: datetime, period: str) -> date:
    return start_of(moment.date(), period)


def midnight(day: date) -> datetime:
    return datetime.combine(day, time())


@dataclass(frozen=True)
class Span:
    first: date  # first period's start
    last: date  # last day counted
    period: str

    @property
    def periods(self) -> list[date]:
        found, current = [], self.first
        while current <= self.last:
            found.append(current)
            current = following(current, self.period)
        return found

    @property
    def since(self) -> datetime:
        return midnight(self.first)

    @property
    def until(self) -> datetime:
        return midnight(self.last + timedelta(days=1))


def span(
    lake_days: Iterable[date], start: date | None, end: date | None, period: str
) -> Span | None:
    """The report's periods: the range within the lake's days, widened to a period start."""
    days = sorted(set(lake_days))
    if not days:
        return None
    first = max(days[0], start) if start else days[0]
    last = min(days[-1], end) if end else days[-1]
    if first > last:
        return None
    return Span(start_of(first, period), last, period)


def _is(name: str | None) -> Predicate:
    return (lambda e: e.active) if name is None else (lambda e: e.event == name)


# Retention ----------------------------------------------------------------------------


def retention(
    events: Sequence[Event],
    lake_days: Iterable[date],
    *,
    start: date | None,
    end: date | None,
    keep: Predicate,
    period: str,
    kind: str,
    start_event: str | None,
    return_event: str | None,
    by_channel: bool,
    periods: int,
) -> dict[tuple[date, str | None], list[int | None]]:
    """(cohort, first channel) -> people retained in periods 0..periods (None: not seen)."""
    bounds = span(lake_days, start, end, period)
    if bounds is None:
        return {}
    seen = [e for e in events if keep(e) and e.ts < bounds.until]
    starts, returns = _is(start_event), _is(return_event)
    returned = {
        (e.person, period_of(e.ts, period)) for e in seen if returns(e) and e.ts >= bounds.since
    }
    members: list[tuple[str, date, str | None]] = []
    by_person: dict[str, list[Event]] = defaultdict(list)
    for e in seen:
        if starts(e):
            by_person[e.person].append(e)
    for person, started in by_person.items():
        if kind == "first_time":
            entry = min(started, key=lambda e: (e.ts, e.id))
            if entry.ts >= bounds.since:
                members.append((person, period_of(entry.ts, period), entry.channel))
        else:
            by_period: dict[date, list[Event]] = defaultdict(list)
            for e in started:
                if e.ts >= bounds.since:
                    by_period[period_of(e.ts, period)].append(e)
            for cohort, inside in by_period.items():
                members.append((person, cohort, min(inside, key=lambda e: (e.ts, e.id)).channel))
    last_period = start_of(bounds.last, period)
    grid: dict[tuple[date, str | None], list[int | None]] = {}
    for person, cohort, channel in members:
        key = (cohort, channel if by_channel else None)
        if key not in grid:
            grid[key] = [0] * (periods + 1)
        row = grid[key]
        target = cohort
        for k in range(periods + 1):
            if target > last_period:
                row[k] = None
            elif k == 0 or (person, target) in returned:
                row[k] = (row[k] or 0) + 1
            target = following(target, period)
    return grid


# Lifecycle ----------------------------------------------------------------------------


def lifecycle(
    events: Sequence[Event],
    lake_days: Iterable[date],
    *,
    start: date | None,
    end: date | None,
    keep: Predicate,
    period: str,
    event: str | None,
) -> list[tuple[date, int, int, int, int]]:
    """(period, new, returning, resurrecting, dormant) for every period of the range."""
    bounds = span(lake_days, start, end, period)
    if bounds is None:
        return []
    chosen = _is(event)
    active: dict[str, set[date]] = defaultdict(set)
    for e in events:
        if keep(e) and chosen(e) and e.ts < bounds.until:
            active[e.person].add(period_of(e.ts, period))
    rows = []
    for current in bounds.periods:
        before = preceding(current, period)
        new = returning = resurrecting = dormant = 0
        for periods_active in active.values():
            if current in periods_active:
                if min(periods_active) == current:
                    new += 1
                elif before in periods_active:
                    returning += 1
                else:
                    resurrecting += 1
            elif before in periods_active:
                dormant -= 1
        rows.append((current, new, returning, resurrecting, dormant))
    return rows


# Churn points -------------------------------------------------------------------------


def churn(
    events: Sequence[Event],
    lake_days: Iterable[date],
    *,
    start: date | None,
    end: date | None,
    keep: Predicate,
    inactive_after: int,
    as_of: date | None,
    touches: int,
) -> tuple[int, int, dict[tuple[tuple[str, str], ...], tuple[int, int]]]:
    """(people, churned, {last touches: (churned, retained)})."""
    days = sorted(set(lake_days))
    as_of = as_of or (days[-1] if days else None)
    if as_of is None:
        return 0, 0, {}
    until = midnight(as_of + timedelta(days=1))
    cutoff = until - timedelta(days=inactive_after)
    low = midnight(start) if start else datetime.min
    high = min(until, midnight(end + timedelta(days=1))) if end else until
    mine: dict[str, list[Event]] = defaultdict(list)
    for e in events:
        if keep(e) and e.active and e.ts < until:
            mine[e.person].append(e)
    counts: dict[tuple[tuple[str, str], ...], list[int]] = defaultdict(lambda: [0, 0])
    people = churned = 0
    for evs in mine.values():
        if not any(low <= e.ts < high for e in evs):
            continue
        ordered = sorted(evs, key=lambda e: (e.ts, e.id))
        gone = ordered[-1].ts < cutoff
        people += 1
        churned += gone
        counts[tuple(e.touch for e in ordered[-touches:])][0 if gone else 1] += 1
    return people, churned, {k: (v[0], v[1]) for k, v in counts.items()}


# Channel performance ------------------------------------------------------------------


def channel_figures(
    events: Sequence[Event],
    lake_days: Iterable[date],
    *,
    start: date | None,
    end: date | None,
    keep: Predicate,
    period: str,
    conversion: str = "Order Completed",
) -> dict[tuple[str, date | None], tuple[int, int, int, int, float]]:
    """(channel, period or None for the range) -> (reach, engaged, converted, orders,
    revenue), for the channels and periods with events."""
    bounds = span(lake_days, start, end, period)
    if bounds is None:
        return {}
    groups: dict[tuple[str, date | None], list[Event]] = defaultdict(list)
    for e in events:
        if keep(e) and bounds.since <= e.ts < bounds.until:
            groups[(e.channel, period_of(e.ts, period))].append(e)
            groups[(e.channel, None)].append(e)
    figures = {}
    for key, evs in groups.items():
        orders = [e for e in evs if e.event == conversion]
        figures[key] = (
            len({e.person for e in evs}),
            len({e.person for e in evs if e.active}),
            len({e.person for e in orders}),
            len(orders),
            sum(e.revenue or 0.0 for e in orders),
        )
    return figures


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between the nearest ranks (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def support_times(
    events: Sequence[Event],
    lake_days: Iterable[date],
    *,
    start: date | None,
    end: date | None,
    keep: Predicate,
    period: str,
    kinds: Sequence[tuple[str, str, str, Sequence[str]]],
) -> dict[tuple[str, date | None], tuple[int, int, int, Any, Any, Any, Any]]:
    """(channel, period or None) -> (conversations, responded, resolved, response median,
    response p90, resolution median, resolution p90), hours; kinds are (opened, closed,
    key, responses)."""
    bounds = span(lake_days, start, end, period)
    if bounds is None:
        return {}
    timed: dict[tuple[str, date | None], list[tuple[float | None, float | None]]] = defaultdict(
        list
    )
    for opened_name, closed_name, key, responses in kinds:
        opened: dict[str, list[Event]] = defaultdict(list)
        for e in events:
            if (
                e.event == opened_name
                and keep(e)
                and bounds.since <= e.ts < bounds.until
                and e.properties.get(key) is not None
            ):
                opened[str(e.properties[key])].append(e)
        for value, evs in opened.items():
            first = min(evs, key=lambda e: (e.ts, e.id))
            later = [e for e in events if e.ts >= first.ts and str(e.properties.get(key)) == value]
            answer = min((e.ts for e in later if e.event in responses), default=None)
            close = min((e.ts for e in later if e.event == closed_name), default=None)
            hours = (
                None if answer is None else (answer - first.ts).total_seconds() / 3600,
                None if close is None else (close - first.ts).total_seconds() / 3600,
            )
            timed[(first.channel, period_of(first.ts, period))].append(hours)
            timed[(first.channel, None)].append(hours)
    result = {}
    for group, values in timed.items():
        answered = [a for a, _ in values if a is not None]
        resolved = [r for _, r in values if r is not None]
        result[group] = (
            len(values),
            len(answered),
            len(resolved),
            percentile(answered, 0.5),
            percentile(answered, 0.9),
            percentile(resolved, 0.5),
            percentile(resolved, 0.9),
        )
    return result


# Cross-channel value ------------------------------------------------------------------


def multichannel(
    events: Sequence[Event],
    *,
    start: date | None,
    end: date | None,
    keep: Predicate,
    cap: int,
    edges: Sequence[int],
    order: str = "Order Completed",
) -> dict[str, Any]:
    """People grouped by channels and touchpoints used: {"channels": {label: (people,
    customers, orders, revenue)}, "touchpoints": {...}, "multichannel": (people, customers)}."""
    low = midnight(start) if start else datetime.min
    high = midnight(end + timedelta(days=1)) if end else datetime.max
    mine: dict[str, list[Event]] = defaultdict(list)
    for e in events:
        if keep(e) and low <= e.ts < high:
            mine[e.person].append(e)
    channel_labels = [str(n) for n in range(1, cap)] + [f"{cap}+"]
    touch_labels = [
        f"{a}+" if b is None else (str(a) if b == a + 1 else f"{a}-{b - 1}")
        for a, b in zip(edges, [*edges[1:], None], strict=True)
    ]
    by_channels = {label: [0, 0, 0, 0.0] for label in channel_labels}
    by_touches = {label: [0, 0, 0, 0.0] for label in touch_labels}
    multi = [0, 0]
    for evs in mine.values():
        touches = [e for e in evs if e.active]
        if not touches:
            continue
        channels = len({e.channel for e in touches})
        orders = [e for e in evs if e.event == order]
        figures = (1, 1 if orders else 0, len(orders), sum(e.revenue or 0.0 for e in orders))
        band = max(i for i, edge in enumerate(edges) if len(touches) >= edge)
        for group in (
            by_channels[channel_labels[min(channels, cap) - 1]],
            by_touches[touch_labels[band]],
        ):
            for i, value in enumerate(figures):
                group[i] += value
        if channels > 1:
            multi[0] += 1
            multi[1] += 1 if orders else 0
    return {
        "channels": {k: tuple(v) for k, v in by_channels.items()},
        "touchpoints": {k: tuple(v) for k, v in by_touches.items()},
        "multichannel": tuple(multi),
    }
