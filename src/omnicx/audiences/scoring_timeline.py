"""A person's score as a function of time, for one model: what `scoring.score` computes at
one instant, and the search behind `scoring.next_stage_change_at`.

Instants are whole microseconds since the epoch (ints), so ages and half-lives divide
exactly and a search never overflows `datetime`. Until an event stamped later starts to
count, the score only fades, rule by rule: a rule on the person is constant; a rule on events
sums same-signed terms `points * 0.5 ** (age / half_life)`, which shrink as time passes and
drop out as they leave a sliding window, so its sum moves towards 0 and so does its capped
value (`min(|sum|, cap)`, constant while the sum is beyond the cap). Floats keep that order:
`/`, `*`, `+` and `min` round monotonically, and a microsecond changes `0.5 ** x` by several
ulps for any half-life up to 3650 days, more than `pow`'s error. So over an interval each rule
lies between its values at the two ends, which bounds the total inside. Between two events
leaving windows, uncapped rules sharing a half-life also sum to one exponential, monotone
whatever their signs, a tighter bound where rules cancel each other out. The search halves
the intervals whose bounds reach another stage, down to single microseconds where it
evaluates the score exactly as `score` does, and skips the others.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from math import copysign
from typing import Final

from omnicx.audiences.evaluate import MissingEventTimes, evaluate
from omnicx.audiences.facts import PersonFacts
from omnicx.audiences.scoring_model import Rule, ScoringModel
from omnicx.store.clock import as_utc

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND: Final = timedelta(microseconds=1)
DAY: Final = 86_400_000_000
"""A day in microseconds."""
DIGITS: Final = 6
"""Scores are compared with thresholds rounded to a millionth of a point, so that float noise
(0.7 + 0.1 is 0.7999999999999999) does not keep a score below a threshold it reaches."""
MARGIN: Final = 1e-9
"""The search's bounds are widened by this much per point involved, for float rounding."""
UNDERFLOW: Final = 1076
"""After this many half-lives `0.5 ** x` is exactly 0.0: a decaying rule no longer moves."""


def micros(moment: datetime) -> int:
    """An instant as microseconds since the epoch (naive: taken as UTC)."""
    return (as_utc(moment) - EPOCH) // MICROSECOND


def instant(us: int) -> datetime | None:
    """The UTC instant `us` microseconds after the epoch; None past year 9999."""
    try:
        return EPOCH + timedelta(microseconds=us)
    except OverflowError:
        return None


def decay(age: int, half_life: int | None) -> float:
    """What is left of one point after `age` microseconds."""
    return 1.0 if half_life is None else 0.5 ** (age / half_life)


@dataclass(frozen=True, slots=True)
class EventRule:
    """A rule on events with the person's matching times: which count at an instant."""

    rule: Rule
    points: float
    cap: float | None
    half_life: int | None
    times: Sequence[int]
    span: int | None
    """A sliding window's length."""
    window: tuple[int, int] | None
    """A fixed window's [start, end)."""

    def counted(self, at: int) -> range:
        """The indices of `times` that count at `at`: happened, and inside the window."""
        upto = bisect_right(self.times, at)
        if self.span is not None:
            return range(bisect_right(self.times, at - self.span), upto)
        if self.window is not None:
            start, end = self.window
            return range(bisect_left(self.times, start), min(upto, bisect_left(self.times, end)))
        return range(upto)

    def terms(self, at: int) -> list[tuple[int, float]]:
        """Each counted event's time and its points at `at`, after decay."""
        times, points, half_life = self.times, self.points, self.half_life
        return [(times[i], points * decay(at - times[i], half_life)) for i in self.counted(at)]

    def value(self, at: int) -> tuple[float, float]:
        """The rule's decayed terms at `at` summed in time order, and that sum capped."""
        found = 0.0
        for _, points in self.terms(at):
            found += points
        return found, capped(found, self.cap)

    def entries(self, after: int) -> list[int]:
        """The instants after `after` at which an event starts to count (stamped later)."""
        found = self.times[bisect_right(self.times, after) :]
        if self.window is not None:
            start, end = self.window
            return [t for t in found if start <= t < end]
        return list(found)

    def exits(self, after: int) -> list[int]:
        """The instants after `after` at which an event leaves a sliding window."""
        if self.span is None:
            return []
        return [t + self.span for t in self.times[bisect_right(self.times, after - self.span) :]]


def stage_index(model: ScoringModel, total: float) -> int:
    """0 for the base stage, i + 1 for the model's stages[i]: the number of thresholds the
    total, rounded to DIGITS decimals, reaches."""
    return bisect_right(model.thresholds, round(total, DIGITS))


def capped(total: float, cap: float | None) -> float:
    """`total` limited to `cap` either way."""
    return total if cap is None or abs(total) <= cap else copysign(cap, total)


class Timeline:
    """One person's score under one model at any instant, as per-rule values."""

    def __init__(self, model: ScoringModel, facts: PersonFacts, now: datetime) -> None:
        """`now`: when the rules on the person are evaluated (they do not change with time:
        they cannot test events)."""
        self.model = model
        self.parts: list[EventRule | float] = []
        for rule in model.rules:
            if rule.on_events:
                self.parts.append(self._event_rule(rule, facts))
            else:
                holds = evaluate(rule.when, facts, now)
                self.parts.append(float(rule.points) if holds else 0.0)
        self._values: dict[int, tuple[tuple[float, float], ...]] = {}
        self._exits: list[int] = []

    def _event_rule(self, rule: Rule, facts: PersonFacts) -> EventRule:
        condition = rule.event
        try:
            times = facts.events[condition.key]
        except KeyError:
            raise MissingEventTimes(
                f"the facts have no event times for rule {rule.id!r} ({condition.event!r}, "
                f"key {condition.key}): build them with model_event_times(model, events)"
            ) from None
        half_life = self.model.half_life(rule)
        within = condition.within
        span = window = None
        if within is not None and within.span is not None:
            span = within.span // MICROSECOND
        elif within is not None and within.bounds is not None:
            window = (micros(within.bounds[0]), micros(within.bounds[1]))
        return EventRule(
            rule=rule,
            points=float(rule.points),
            cap=None if rule.cap is None else float(rule.cap),
            half_life=None if half_life is None else max(1, round(half_life * DAY)),
            times=[micros(t) for t in times],
            span=span,
            window=window,
        )

    def state(self, at: int) -> tuple[tuple[float, float], ...]:
        """Each rule's sum before its cap and its points at `at`, in the model's order."""
        found = self._values.get(at)
        if found is None:
            found = tuple((p, p) if isinstance(p, float) else p.value(at) for p in self.parts)
            self._values[at] = found
        return found

    def values(self, at: int) -> list[float]:
        """Each rule's points at `at`, in the model's order."""
        return [value for _, value in self.state(at)]

    def bounds(self, first: int, last: int) -> tuple[float, float]:
        """The least and the most the total can be in [first, last], where no event starts
        to count after `first`."""
        ends = list(zip(self.parts, self.state(first), self.state(last), strict=True))
        # Each rule alone: exact in floats (see the module's docstring), loose when rules
        # moving opposite ways cancel each other out.
        low = total(min(a[1], b[1]) for _, a, b in ends)
        high = total(max(a[1], b[1]) for _, a, b in ends)
        at = bisect_right(self._exits, first)
        if at < len(self._exits) and self._exits[at] <= last:
            return low, high  # an event leaves inside: groups need not be monotone
        # Uncapped rules decaying at the same pace as one: tight when they cancel out, with a
        # margin for rounding (it would make the search crawl where the total creeps
        # towards a threshold: the bounds above settle that).
        grouped_low = grouped_high = size = 0.0
        groups: dict[int, list[float]] = {}  # half-life -> the uncapped sums at both ends
        for part, (sum_first, value_first), (sum_last, value_last) in ends:
            size += abs(sum_first)
            if (
                isinstance(part, EventRule)
                and part.half_life is not None
                and (part.cap is None or abs(sum_first) <= part.cap)
            ):
                group = groups.setdefault(part.half_life, [0.0, 0.0])
                group[0] += sum_first
                group[1] += sum_last
            else:  # constant, capped all along, or reaching its cap inside: monotone alone
                grouped_low += min(value_first, value_last)
                grouped_high += max(value_first, value_last)
        for group in groups.values():
            grouped_low += min(group)
            grouped_high += max(group)
        margin = MARGIN * (1.0 + size)
        return max(low, grouped_low - margin), min(high, grouped_high + margin)

    def stage_index(self, total: float) -> int:
        return stage_index(self.model, total)

    def first_change(self, start: int, limit: int | None = None) -> int | None:
        """The earliest instant after `start` at which the stage differs from the stage at
        `start`, or None when it stays (or changes only after year 9999's end). With `limit`,
        the search stops there: `limit + 1` stands for "may change later" (None: it cannot)."""
        current = self.stage_index(total(self.values(start)))
        rules = [p for p in self.parts if isinstance(p, EventRule)]
        entries = sorted({t for rule in rules for t in rule.entries(start)})
        self._exits = sorted({t for rule in rules for t in rule.exits(start)})
        # After the last of them, decay moves the score until every term underflows.
        tail = UNDERFLOW * max((r.half_life for r in rules if r.half_life and r.times), default=0)
        horizon = max([start + 1, *entries, *self._exits]) + tail
        # Only events starting to count break the bounds' monotony: search between them.
        firsts = [start + 1, *entries]
        later = False
        for first, last in zip(firsts, [*(e - 1 for e in entries), horizon], strict=True):
            if limit is not None and last > limit:
                if first <= limit:
                    found = self._search(first, limit, current)
                    if found is not None:
                        return found
                later = later or self._may_change(max(first, limit + 1), last, current)
                continue
            if first <= last:
                found = self._search(first, last, current)
                if found is not None:
                    return found
        return limit + 1 if later and limit is not None else None

    def _may_change(self, first: int, last: int, current: int) -> bool:
        """Whether the stage may differ from `current` somewhere in [first, last] (no event
        starts to count after `first`): the bounds alone, without locating the instant."""
        if first > last or self.stage_index(total(self.values(first))) != current:
            return first <= last
        low, high = self.bounds(first, last)
        return not self.stage_index(low) == current == self.stage_index(high)

    def _search(self, first: int, last: int, current: int) -> int | None:
        """The earliest instant in [first, last] with another stage (no event starts to
        count after `first`)."""
        if self.stage_index(total(self.values(first))) != current:
            return first
        if first == last:
            return None
        low, high = self.bounds(first, last)
        if self.stage_index(low) == current == self.stage_index(high):
            return None
        middle = (first + last) // 2
        found = self._search(first + 1, middle, current) if middle > first else None
        return found if found is not None else self._search(middle + 1, last, current)


def total(values: Iterable[float]) -> float:
    """The rules' values summed in the model's order."""
    found = 0.0
    for value in values:
        found += value
    return found
