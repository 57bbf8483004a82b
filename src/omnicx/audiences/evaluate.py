"""Whether a person is in a segment now, and when that could next change by itself.

Pure functions of a definition, the person's facts and the instant `now` (UTC); see
docs/audiences-definitions.md#windows for the exact rules:

- an event counts once its time has come (`ts <= now`): an event stamped in the future (a
  device's clock ahead) counts from that instant on;
- "in the last N days/hours" is the half-open interval (now − N, now]: an event exactly N
  days old is **out**, so the condition changes exactly at `ts + N`;
- "between A and B" is [A, B) for date-times; a date A starts at its midnight UTC and a date
  B ends at the midnight after it (the whole day B is in).

Counts change only at those instants, so `next_change_at` looks at them alone.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from omnicx.audiences.definition import (
    AllOf,
    AnyOf,
    ComputedCondition,
    ConsentCondition,
    Count,
    Definition,
    EventCondition,
    IdentityCondition,
    NotOf,
    SegmentCondition,
    TraitCondition,
    event_conditions,
    walk,
)
from omnicx.audiences.facts import EventFact, PersonFacts
from omnicx.audiences.values import compare
from omnicx.store.clock import as_utc


class MissingEventTimes(LookupError):
    """The facts lack the times of an event condition (build them with `event_times`)."""


def property_value(properties: Mapping[str, Any], name: str) -> Any:
    """A property by its key, else by a dotted path into objects (`address.city`)."""
    if name in properties:
        return properties[name]
    current: Any = properties
    for part in name.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return None
        current = current[part]
    return current


def matches(
    condition: EventCondition, name: str, channel: str, properties: Mapping[str, Any]
) -> bool:
    """Whether an event counts for `condition` (its name, channel and property filters;
    the count and window are applied when evaluating)."""
    if name != condition.event:
        return False
    if condition.channel is not None and channel not in condition.channel:
        return False
    return all(
        compare(f.op, property_value(properties, f.property), f.value) for f in condition.where
    )


def event_times(definition: Definition, events: Iterable[EventFact]) -> dict[str, list[datetime]]:
    """For each event condition's key, the sorted UTC times of the events matching it."""
    conditions = event_conditions(definition)
    found: dict[str, list[datetime]] = {key: [] for key in conditions}
    for event in events:
        for key, condition in conditions.items():
            if matches(condition, event.name, event.channel, event.properties):
                found[key].append(as_utc(event.ts))
    for times in found.values():
        times.sort()
    return found


def _times(condition: EventCondition, facts: PersonFacts) -> Sequence[datetime]:
    try:
        return facts.events[condition.key]
    except KeyError:
        raise MissingEventTimes(
            f"the facts have no event times for {condition.event!r} (key {condition.key}): "
            "build them with event_times(definition, events)"
        ) from None


def count_at(condition: EventCondition, times: Sequence[datetime], now: datetime) -> int:
    """How many of the sorted `times` count for the condition's window at `now`."""
    upto = bisect_right(times, now)
    window = condition.within
    if window is None:
        return upto
    span = window.span
    if span is not None:
        return upto - bisect_right(times, now - span)
    bounds = window.bounds
    assert bounds is not None
    start, end = bounds
    return max(0, min(upto, bisect_left(times, end)) - bisect_left(times, start))


def _count_holds(count: Count, n: int) -> bool:
    value = count.value
    if count.op == "between":
        return bool(value[0] <= n <= value[1])
    holds: bool = {
        "eq": n == value,
        "gt": n > value,
        "gte": n >= value,
        "lt": n < value,
        "lte": n <= value,
    }[count.op]
    return holds


def _event_holds(condition: EventCondition, times: Sequence[datetime], now: datetime) -> bool:
    n = count_at(condition, times, now)
    if not condition.did:
        return n == 0
    return n >= 1 if condition.count is None else _count_holds(condition.count, n)


def _holds(condition: Any, facts: PersonFacts, now: datetime) -> bool:
    holds: bool = _RULES[type(condition)](condition, facts, now)
    return holds


_RULES: dict[type, Callable[[Any, PersonFacts, datetime], bool]] = {
    AllOf: lambda c, f, now: all(_holds(x, f, now) for x in c.all),
    AnyOf: lambda c, f, now: any(_holds(x, f, now) for x in c.any),
    NotOf: lambda c, f, now: not _holds(c.not_, f, now),
    TraitCondition: lambda c, f, now: compare(c.op, f.traits.get(c.trait), c.value),
    ComputedCondition: lambda c, f, now: compare(c.op, f.computed.get(c.computed), c.value),
    EventCondition: lambda c, f, now: _event_holds(c, _times(c, f), now),
    IdentityCondition: lambda c, f, now: bool(f.identities.get(c.identity)) == c.present,
    ConsentCondition: lambda c, f, now: (
        (f.consents.get((c.consent.channel, c.consent.purpose)) is True) == c.granted
    ),
    SegmentCondition: lambda c, f, now: (c.segment in f.memberships) == c.member,
}


def evaluate(definition: Definition, facts: PersonFacts, now: datetime) -> bool:
    """Whether the person is in the segment at `now` (naive: taken as UTC)."""
    return _holds(definition, facts, as_utc(now))


def _moments(condition: EventCondition, times: Sequence[datetime], now: datetime) -> list[datetime]:
    """The instants after `now` at which the condition's count changes: a future-stamped
    event's time; for a sliding window, each counted or future event's time + its length."""
    future = list(times[bisect_right(times, now) :])
    window = condition.within
    if window is None:
        return future
    span = window.span
    if span is not None:
        return future + [t + span for t in times[bisect_right(times, now - span) :]]
    bounds = window.bounds
    assert bounds is not None
    return [t for t in future if bounds[0] <= t < bounds[1]]


_PARTS: dict[int, tuple[Definition, tuple[EventCondition, ...]]] = {}


def _event_parts(definition: Definition) -> tuple[EventCondition, ...]:
    """The definition's event conditions in document order (remembered per definition object:
    the live path asks for every segment of every profile it evaluates)."""
    found = _PARTS.get(id(definition))
    if found is None or found[0] is not definition:
        if len(_PARTS) > 10_000:
            _PARTS.clear()
        parts = tuple(c for _, c in walk(definition) if isinstance(c, EventCondition))
        found = _PARTS[id(definition)] = (definition, parts)
    return found[1]


def next_change_at(definition: Definition, facts: PersonFacts, now: datetime) -> datetime | None:
    """The earliest instant after `now` at which `evaluate` gives another answer if nothing
    else happens (no new event, no change of traits, consents or other segments); None when
    the answer stays. At that instant the answer has changed; just before it, it has not."""
    now = as_utc(now)
    flips: set[datetime] = set()
    for condition in _event_parts(definition):
        times = _times(condition, facts)
        # Only the instants where this condition itself turns true or false can change the
        # whole (a boolean function of its conditions).
        before = _event_holds(condition, times, now)
        for at in sorted(set(_moments(condition, times, now))):
            holds = _event_holds(condition, times, at)
            if holds != before:
                flips.add(at)
                before = holds
    if not flips:
        return None
    current = _holds(definition, facts, now)
    return next((at for at in sorted(flips) if _holds(definition, facts, at) != current), None)
