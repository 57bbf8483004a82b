"""Journey stages in plain Python, straight from their definitions (docs/analytics/stages.md),
to check the DuckDB implementation against on small random datasets.

Where the implementation works set-based (first fires, then entries, then gaps between
activity points), this one evaluates a person's state at every instant where it can change:

- S(t): the furthest funnel stage entered at or before t; a stage is entered at the time its
  rule first fires, unless a later stage's rule fired strictly before;
- churned at t: S(t) is `churn.from` or later and no activity point (active event or stage
  entry) lies in (t - after_days, t].
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from omnicx.analytics.scope import Filter
from omnicx.analytics.stage_settings import CHURNED, NEW, StageModel, StageRule

TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class Event:
    """One event as the reference sees it: already attributed to its person."""

    person: str
    ts: datetime
    event: str | None
    channel: str = "web"
    type: str = "track"
    active: bool = True
    properties: Mapping[str, Any] | None = None
    traits: Mapping[str, Any] | None = None


def _text(value: Any) -> str | None:
    """What DuckDB's json_extract_string gives for a JSON value."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value)


def holds(condition: Filter, event: Event) -> bool:
    """A filter's meaning on one event (the semantics of Filter.sql)."""
    if "." in condition.field:
        column, name = condition.field.split(".", 1)
        values = event.properties if column == "properties" else event.traits
        subject = _text((values or {}).get(name))
    else:
        subject = getattr(event, condition.field)
    op, value = condition.op, condition.value
    if op == "~":
        return value in (subject or "")
    try:
        number: float | None = float(value)
    except ValueError:
        number = None
    if number is not None and op not in ("=", "!="):
        try:
            actual = float(subject) if subject is not None else None
        except ValueError:
            actual = None
        if actual is None:
            return False
        return {">": actual > number, ">=": actual >= number, "<": actual < number,
                "<=": actual <= number}[op]  # fmt: skip
    if op == "!=":
        return subject is None or subject != value
    return subject == value


def matches(rule: StageRule, event: Event) -> bool:
    """Whether an event counts for a rule."""
    if not rule.include_passive and not event.active:
        return False
    if rule.events and event.event not in rule.events:
        return False
    if rule.types and event.type not in rule.types:
        return False
    if rule.channels and event.channel not in rule.channels:
        return False
    return all(holds(f, event) for f in (*rule.where, *rule.traits))


Entry = tuple[str, datetime]


def history(
    events: Iterable[Event], model: StageModel, as_of: datetime, filters: Sequence[Filter] = ()
) -> list[Entry]:
    """One person's stage entries (stage, entered_at) in order, as of `as_of`."""
    seen = sorted(
        (e for e in events if e.ts <= as_of and all(holds(f, e) for f in filters)),
        key=lambda e: e.ts,
    )
    fired: dict[int, datetime] = {}
    for index, stage in enumerate(model.stages):
        times = []
        for rule in stage.rules:
            hits = [e.ts for e in seen if matches(rule, e)]
            if len(hits) >= rule.count:
                times.append(hits[rule.count - 1])
        if times:
            fired[index] = min(times)
    entries = sorted(
        (t, i) for i, t in fired.items() if not any(j > i and u < t for j, u in fired.items())
    )
    active = [e.ts for e in seen if e.active]
    points = sorted({*active, *(t for t, _ in entries)})

    def funnel(t: datetime) -> int | None:
        reached = [i for u, i in entries if u <= t]
        return max(reached) if reached else None

    def state(t: datetime) -> int | None:
        stage = funnel(t)
        if stage is None or model.churn is None:
            return stage
        if stage < model.index(model.churn.from_stage):
            return stage
        window = timedelta(days=model.churn.after_days)
        if any(t - window < p <= t for p in points):
            return stage
        return len(model.stages)

    names = model.names
    candidates = sorted({*points, *(p + timedelta(days=model.churn.after_days) for p in points)}
                        if model.churn else points)  # fmt: skip
    out: list[Entry] = []
    current: int | None = None
    for t in candidates:
        if t > as_of:
            break
        entered = sorted(i for u, i in entries if u == t)
        for i in entered:
            out.append((names[i], t))
        now = state(t)
        if entered:
            assert now == entered[-1]
        elif now != current:
            assert now is not None
            out.append((names[now], t))
        current = now
    return out


def state_at(entries: Sequence[Entry], t: datetime) -> str | None:
    """The stage a history says the person was in at instant t."""
    found = None
    for stage, at in entries:
        if at <= t:
            found = stage
    return found


def histories(
    events: Iterable[Event], model: StageModel, as_of: datetime, filters: Sequence[Filter] = ()
) -> dict[str, list[Entry]]:
    """Every person's history (people without a stage left out)."""
    by_person: dict[str, list[Event]] = defaultdict(list)
    for e in events:
        by_person[e.person].append(e)
    out = {p: history(evs, model, as_of, filters) for p, evs in by_person.items()}
    return {p: h for p, h in out.items() if h}


def counts(
    hist: Mapping[str, Sequence[Entry]],
    names: Sequence[str],
    start_at: datetime | None,
    as_of: datetime,
) -> dict[str, tuple[int, int]]:
    """Stage -> (people in it at as_of, people entering it from start_at on)."""
    out = {}
    for name in names:
        people = sum(1 for h in hist.values() if state_at(h, as_of) == name)
        entered = sum(
            1
            for h in hist.values()
            if any(s == name and (start_at is None or at >= start_at) for s, at in h)
        )
        out[name] = (people, entered)
    return out


def period_starts(period: str, first: date, last: date) -> list[date]:
    """Calendar periods (weeks from Monday) from the one holding first to the one holding last."""
    if period == "week":
        first -= timedelta(days=first.weekday())
    elif period == "month":
        first = first.replace(day=1)
    out = []
    while first <= last:
        out.append(first)
        if period == "day":
            first += timedelta(days=1)
        elif period == "week":
            first += timedelta(days=7)
        else:
            first = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return out


def periods(
    hist: Mapping[str, Sequence[Entry]],
    names: Sequence[str],
    period: str,
    start_at: datetime | None,
    as_of: datetime,
) -> list[tuple[date, str, int, int]]:
    """(period start, stage, people at its end or at as_of, people entering during it)."""
    first_at = start_at or min((at for h in hist.values() for _, at in h), default=None)
    if first_at is None or first_at > as_of:
        return []
    starts = period_starts(period, first_at.date(), as_of.date())
    out = []
    for n, day in enumerate(starts):
        following = (
            starts[n + 1]
            if n + 1 < len(starts)
            else period_starts(period, day, day + timedelta(days=40))[1]
        )
        end = datetime.combine(following, datetime.min.time())
        moment = min(end - TICK, as_of)
        begin = max(datetime.combine(day, datetime.min.time()), first_at)
        for name in names:
            people = sum(1 for h in hist.values() if state_at(h, moment) == name)
            entered = sum(
                1 for h in hist.values() if any(s == name and begin <= at < end for s, at in h)
            )
            out.append((day, name, people, entered))
    return out


def flows(
    hist: Mapping[str, Sequence[Entry]], start_at: datetime | None, as_of: datetime
) -> dict[tuple[str, str], int]:
    """(stage just before start_at or `new`, stage at as_of) -> people."""
    out: dict[tuple[str, str], int] = defaultdict(int)
    for h in hist.values():
        before = state_at(h, start_at - TICK) if start_at else None
        out[(before or NEW, state_at(h, as_of) or NEW)] += 1
    return dict(out)


def transitions(
    hist: Mapping[str, Sequence[Entry]], start_at: datetime | None
) -> dict[tuple[str, str], int]:
    """(from, to) -> people who made that move from start_at on."""
    moves: dict[tuple[str, str], set[str]] = defaultdict(set)
    for person, h in hist.items():
        previous = NEW
        for stage, at in h:
            if start_at is None or at >= start_at:
                moves[(previous, stage)].add(person)
            previous = stage
    return {k: len(v) for k, v in moves.items()}


__all__ = ["CHURNED", "Event", "counts", "flows", "histories", "history", "periods", "transitions"]
