"""Funnels computed the slow, obvious way, straight from the definitions in
docs/analytics/funnels.md: every path of every person is enumerated and the best one chosen
by the documented rules. The tests compare omnicx's SQL with this on random small lakes."""

from __future__ import annotations

import itertools
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from omnicx.analytics.funnel_results import histogram_edges

TOUCHPOINT_TYPES = ("track", "page", "screen")


@dataclass(frozen=True)
class Event:
    """One event as the lake holds it, with the profile its person belongs to now."""

    id: int
    person: str
    event: str | None
    ts: datetime
    channel: str = "web"
    source: str = "web"
    type: str = "track"
    active: bool = True
    properties: dict[str, Any] = field(default_factory=dict)
    traits: dict[str, Any] = field(default_factory=dict)

    @property
    def order(self) -> tuple[datetime, int]:
        return (self.ts, self.id)


@dataclass(frozen=True)
class Condition:
    """`field op value` over an event, as the step filters mean it."""

    field: str
    op: str
    value: str

    def holds(self, e: Event) -> bool:
        if self.field.startswith("properties."):
            raw = e.properties.get(self.field.split(".", 1)[1])
            subject = None if raw is None else json_text(raw)
        else:
            subject = getattr(e, self.field)
        if self.op == "!=":
            return subject is None or subject != self.value
        if subject is None:
            return False
        if self.op == "=":
            return bool(subject == self.value)
        number = float(subject)
        return number > float(self.value) if self.op == ">" else number < float(self.value)


@dataclass(frozen=True)
class Step:
    event: str
    where: tuple[Condition, ...] = ()

    def matches(self, e: Event) -> bool:
        return e.event == self.event and all(c.holds(e) for c in self.where)


@dataclass(frozen=True)
class Spec:
    steps: tuple[Step, ...]
    window: timedelta
    ordering: str = "ordered"
    exclusions: tuple[tuple[Step, int, int], ...] = ()
    """(event, from step, to step)."""
    breakdown: str | None = None
    attribution: str = "first"
    limit: int = 25
    start: date | None = None
    end: date | None = None


def json_text(value: Any) -> str:
    """What DuckDB's json_extract_string gives for a JSON value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class Attempt:
    depth: int
    start: datetime
    reached: tuple[Event, ...]
    """The event that completed each step reached (1..depth)."""
    attributed: Event | None


def best_attempts(events: Sequence[Event], spec: Spec) -> dict[str, Attempt]:
    """Each person's best attempt, people who did no first step left out (and the excluded)."""
    in_scope = [e for e in events if _in_range(e, spec)]
    by_person: dict[str, list[Event]] = defaultdict(list)
    for e in in_scope:
        by_person[e.person].append(e)
    best = {}
    for person, own in by_person.items():
        own.sort(key=lambda e: e.order)
        attempt = (_unordered if spec.ordering == "unordered" else _ordered)(own, spec)
        if attempt is not None and not _excluded(attempt, own, spec):
            best[person] = attempt
    return best


def excluded_people(events: Sequence[Event], spec: Spec) -> int:
    in_scope = [e for e in events if _in_range(e, spec)]
    by_person: dict[str, list[Event]] = defaultdict(list)
    for e in in_scope:
        by_person[e.person].append(e)
    count = 0
    for own in by_person.values():
        own.sort(key=lambda e: e.order)
        attempt = (_unordered if spec.ordering == "unordered" else _ordered)(own, spec)
        count += attempt is not None and _excluded(attempt, own, spec)
    return count


def _in_range(e: Event, spec: Spec) -> bool:
    day = e.ts.date()
    return (spec.start is None or day >= spec.start) and (spec.end is None or day <= spec.end)


def _ordered(own: list[Event], spec: Spec) -> Attempt | None:
    if spec.ordering == "strict":
        sequence = [
            e
            for e in own
            if (e.active and e.type in TOUCHPOINT_TYPES) or any(s.matches(e) for s in spec.steps)
        ]
    else:
        sequence = own
    paths: list[tuple[int, ...]] = []

    def extend(path: tuple[int, ...]) -> None:
        paths.append(path)
        if len(path) == len(spec.steps):
            return
        step = spec.steps[len(path)]
        following = (
            [path[-1] + 1] if spec.ordering == "strict" else range(path[-1] + 1, len(sequence))
        )
        for i in following:
            if (
                i < len(sequence)
                and step.matches(sequence[i])
                and sequence[i].ts - sequence[path[0]].ts <= spec.window
            ):
                extend((*path, i))

    for i, e in enumerate(sequence):
        if spec.steps[0].matches(e):
            extend((i,))
    if not paths:
        return None
    depth = max(len(p) for p in paths)
    # Reached the furthest step first; then the latest start; then each step at its latest.
    chosen = min(
        (p for p in paths if len(p) == depth),
        key=lambda p: (p[-1], -p[0], *(-i for i in reversed(p[1:-1]))),
    )
    reached = tuple(sequence[i] for i in chosen)
    return Attempt(depth, reached[0].ts, reached, _attributed_ordered(reached, spec))


def _attributed_ordered(reached: tuple[Event, ...], spec: Spec) -> Event | None:
    if spec.attribution == "first":
        return reached[0]
    if spec.attribution == "last":
        return reached[-1]
    n = int(spec.attribution.split(":")[1])
    return reached[n - 1] if len(reached) >= n else None


def _unordered(own: list[Event], spec: Spec) -> Attempt | None:
    candidates = [[i for i, e in enumerate(own) if s.matches(e)] for s in spec.steps]
    best: tuple[Any, ...] | None = None
    for depth in range(len(spec.steps), 0, -1):
        for chosen in itertools.product(*candidates[:depth]):
            first, last = min(chosen), max(chosen)
            if own[last].ts - own[first].ts > spec.window:
                continue
            # Reached soonest, then the latest start, then each step at its earliest.
            key = (last, -first, *chosen)
            if best is None or key < best[0]:
                best = (key, chosen)
        if best is not None:
            chosen = best[1]
            reach = tuple(own[max(chosen[: j + 1])] for j in range(depth))
            first_event = own[min(chosen)]
            if spec.attribution == "first":
                attributed: Event | None = first_event
            elif spec.attribution == "last":
                attributed = own[max(chosen)]
            else:
                n = int(spec.attribution.split(":")[1])
                attributed = own[chosen[n - 1]] if depth >= n else None
            return Attempt(depth, first_event.ts, reach, attributed)
    return None


def _excluded(attempt: Attempt, own: list[Event], spec: Spec) -> bool:
    for step, first, last in spec.exclusions:
        if attempt.depth < first:
            continue
        after = attempt.reached[first - 1].order
        for e in own:
            if not step.matches(e) or e.order <= after:
                continue
            if attempt.depth >= last:
                if e.order < attempt.reached[last - 1].order:
                    return True
            elif e.ts <= attempt.start + spec.window:
                return True
    return False


def breakdown_value(attempt: Attempt, everything: Sequence[Event], spec: Spec) -> str | None:
    """The person's breakdown value; traits come from all their events, whatever the scope."""
    e = attempt.attributed
    if e is None or spec.breakdown is None:
        return None
    if spec.breakdown in ("channel", "source"):
        return str(getattr(e, spec.breakdown))
    kind, name = spec.breakdown.split(":")
    if kind == "property":
        value = e.properties.get(name)
        return None if value is None else json_text(value)
    carrying = [
        x
        for x in everything
        if x.person == e.person and x.order <= e.order and x.traits.get(name) is not None
    ]
    return json_text(max(carrying, key=lambda x: x.order).traits[name]) if carrying else None


def funnel(events: Sequence[Event], spec: Spec) -> dict[str, Any]:
    """What omnicx's FunnelResult.to_dict() should say (the numbers that matter)."""
    attempts = best_attempts(events, spec)
    result: dict[str, Any] = {
        "steps": _steps(list(attempts.values()), spec),
        "excluded": excluded_people(events, spec),
        "time_to_convert": _time(list(attempts.values()), spec),
    }
    if spec.breakdown is None:
        result["groups"] = []
        return result
    groups: dict[str | None, list[Attempt]] = defaultdict(list)
    for attempt in attempts.values():
        groups[breakdown_value(attempt, events, spec)].append(attempt)
    ranked = sorted(groups, key=lambda v: (-len(groups[v]), v is None, v or ""))
    kept, rest = ranked[: spec.limit], ranked[spec.limit :]
    listed = [(v, False, groups[v]) for v in kept]
    if rest:
        listed.append((None, True, [a for v in rest for a in groups[v]]))
    listed.sort(key=lambda g: (g[1], -len(g[2]), g[0] is None, g[0] or ""))
    result["groups"] = [
        {"value": v, "other": other, "steps": _steps(a, spec), "time_to_convert": _time(a, spec)}
        for v, other, a in listed
    ]
    return result


def dropped(events: Sequence[Event], spec: Spec, step: int) -> list[tuple[str, datetime]]:
    """(profile id, when they reached step - 1) of the people who stopped there."""
    return sorted(
        (person, a.reached[step - 2].ts)
        for person, a in best_attempts(events, spec).items()
        if a.depth == step - 1
    )


def _steps(attempts: list[Attempt], spec: Spec) -> list[dict[str, Any]]:
    out = []
    for j in range(1, len(spec.steps) + 1):
        reached = [a for a in attempts if a.depth >= j]
        previous = (
            [(a.reached[j - 1].ts - a.reached[j - 2].ts).total_seconds() for a in reached]
            if j > 1
            else []
        )
        since_start = [(a.reached[j - 1].ts - a.start).total_seconds() for a in reached]
        out.append(
            {
                "count": len(reached),
                "median_seconds_from_previous": statistics.median(previous) if previous else None,
                "average_seconds_from_previous": statistics.fmean(previous) if previous else None,
                "median_seconds_from_start": statistics.median(since_start)
                if since_start
                else None,
                "average_seconds_from_start": statistics.fmean(since_start)
                if since_start
                else None,
            }
        )
    return out


def _time(attempts: list[Attempt], spec: Spec) -> dict[str, Any]:
    n = len(spec.steps)
    totals = [(a.reached[-1].ts - a.start).total_seconds() for a in attempts if a.depth == n]
    edges = histogram_edges(int(spec.window.total_seconds()))
    counts = [0] * (len(edges) - 1)
    for total in totals:
        index = next((i for i, e in enumerate(edges[1:-1]) if total < e), len(edges) - 2)
        counts[index] += 1
    return {
        "people": len(totals),
        "median_seconds": statistics.median(totals) if totals else None,
        "histogram": counts,
    }
