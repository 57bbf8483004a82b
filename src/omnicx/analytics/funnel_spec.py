"""What a funnel asks: its steps, window, ordering, exclusions and breakdown, checked.

Text forms, shared by the CLI and the API (docs/analytics/funnels.md):

- a step: `EVENT` or `EVENT[FILTER, FILTER, ...]`, each FILTER as in a scope's `--where`
  (`channel=store_pos`, `properties.total>100`, `type=page`);
- an exclusion: a step's form, optionally followed by `@FROM-TO`, the steps it applies
  between (default: from the first step to the last);
- a breakdown: `channel`, `source`, `property:NAME` or `trait:NAME`;
- an attribution: `first`, `last` or `step:N`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from omnicx.analytics.phrases import analytics_wording as _say
from omnicx.analytics.scope import Filter, ScopeError
from omnicx.wording import WordedError

MAX_STEPS = 20
_STEP = re.compile(r"^\s*(?P<event>[^\[\]]*?)\s*(?:\[(?P<filters>[^\[\]]*)\])?\s*$")
_BETWEEN = re.compile(r"@(\d+)-(\d+)\s*$")
_NAME = re.compile(r"^[A-Za-z0-9_$ .-]{1,100}$")


class FunnelError(WordedError):
    """A funnel that cannot be computed as asked; the message says what is wrong."""


class Ordering(StrEnum):
    """How the steps must follow each other (see docs/analytics/funnels.md)."""

    ordered = "ordered"
    """In the given order; other events may happen in between."""
    strict = "strict"
    """In the given order, with no other touchpoint of the person in between."""
    unordered = "unordered"
    """All of steps 1..k within one window, in any order."""


@dataclass(frozen=True, slots=True)
class FunnelStep:
    """Events named `event` (a track event's or a page's/screen's name) matching every filter."""

    event: str
    filters: tuple[Filter, ...] = ()

    def __post_init__(self) -> None:
        if not self.event.strip():
            raise FunnelError(_say("step_unnamed"))
        for f in self.filters:
            if f.field == "event":
                raise FunnelError(_say("step_filters_event", event=self.event))

    @classmethod
    def parse(cls, text: str) -> FunnelStep:
        """Reads `Order Completed` or `Order Completed[channel=store_pos, properties.total>100]`."""
        found = _STEP.match(text)
        if not found:
            raise FunnelError(_say("step_unreadable", text=text))
        filters = found.group("filters")
        parts = [p for p in (filters or "").split(",") if p.strip()]
        if filters is not None and not parts:
            raise FunnelError(_say("step_empty_brackets", text=text))
        try:
            parsed = tuple(Filter.parse(p) for p in parts)
        except ScopeError as exc:
            raise FunnelError(
                *(_say("in_step", text=text, problem=problem) for problem in exc.wordings)
            ) from None
        return cls(found.group("event"), parsed)

    @property
    def name(self) -> str:
        """The step as text: its event, then its filters in brackets."""
        if not self.filters:
            return self.event
        return f"{self.event}[{', '.join(f'{f.field}{f.op}{f.value}' for f in self.filters)}]"


@dataclass(frozen=True, slots=True)
class Exclusion:
    """People who did `event` between reaching step `from_step` and step `to_step` of their
    attempt (before the window ends when they never reached `to_step`) are left out."""

    event: FunnelStep
    from_step: int = 1
    to_step: int | None = None
    """None: the funnel's last step."""

    @classmethod
    def parse(cls, text: str) -> Exclusion:
        """Reads `Support Ticket`, `Support Ticket[channel=phone]` or `Refund@2-3`."""
        between = _BETWEEN.search(text)
        if between:
            return cls(FunnelStep.parse(text[: between.start()]), int(between[1]), int(between[2]))
        return cls(FunnelStep.parse(text))

    @property
    def name(self) -> str:
        """The exclusion as text."""
        return self.event.name + (f"@{self.from_step}-{self.to_step}" if self.to_step else "")


@dataclass(frozen=True, slots=True)
class Breakdown:
    """What splits the people: the `channel` or `source` of an event, an event's property
    (`property:NAME`) or the person's trait at that moment (`trait:NAME`)."""

    kind: str
    name: str | None = None

    @classmethod
    def parse(cls, text: str) -> Breakdown:
        """Reads `channel`, `source`, `property:NAME` or `trait:NAME`."""
        text = text.strip()
        if text in ("channel", "source"):
            return cls(text)
        kind, _, name = text.partition(":")
        if kind in ("property", "trait") and _NAME.match(name):
            return cls(kind, name)
        raise FunnelError(_say("breakdown_unreadable", text=text))

    @property
    def label(self) -> str:
        """The breakdown as text."""
        return f"{self.kind}:{self.name}" if self.name else self.kind


@dataclass(frozen=True, slots=True)
class Attribution:
    """Which event of a person's attempt gives their breakdown value: the `first` step's, the
    `last` step they reached, or step `N`'s (`step:N`; no value when they never reached it)."""

    kind: str = "first"
    step: int | None = None

    @classmethod
    def parse(cls, text: str) -> Attribution:
        """Reads `first`, `last` or `step:N`."""
        text = text.strip()
        if text in ("first", "last"):
            return cls(text)
        found = re.match(r"^step:(\d+)$", text)
        if found:
            return cls("step", int(found[1]))
        raise FunnelError(_say("attribution_unreadable", text=text))

    @property
    def label(self) -> str:
        """The attribution as text."""
        return f"step:{self.step}" if self.kind == "step" else self.kind


@dataclass(frozen=True, slots=True)
class FunnelSpec:
    """A funnel, checked: `steps` (2 to MAX_STEPS) within `window` of the first step."""

    steps: tuple[FunnelStep, ...]
    window: timedelta = timedelta(days=30)
    ordering: Ordering = Ordering.ordered
    exclusions: tuple[Exclusion, ...] = ()
    breakdown: Breakdown | None = None
    attribution: Attribution = Attribution()
    breakdown_limit: int = 25

    def __post_init__(self) -> None:
        count = len(self.steps)
        if not 2 <= count <= MAX_STEPS:
            raise FunnelError(_say("step_count", low=2, high=MAX_STEPS, count=count))
        if self.window <= timedelta(0):
            raise FunnelError(_say("window_not_positive", window=str(self.window)))
        for exclusion in self.exclusions:
            last = exclusion.to_step or count
            if not 1 <= exclusion.from_step < last <= count:
                raise FunnelError(_say("exclusion_steps", name=exclusion.name, low=1, high=count))
        if self.attribution.kind == "step" and not 1 <= (self.attribution.step or 0) <= count:
            raise FunnelError(
                _say(
                    "attribution_step",
                    given=f"step:{self.attribution.step}",
                    first="step:1",
                    last=f"step:{count}",
                )
            )
        if self.breakdown_limit < 1:
            raise FunnelError(_say("breakdown_limit", low=1, given=self.breakdown_limit))

    @property
    def window_us(self) -> int:
        """The window in microseconds, the lake's unit of time."""
        return self.window // timedelta(microseconds=1)


def funnel_spec(
    steps: Sequence[FunnelStep | str],
    *,
    window: timedelta = timedelta(days=30),
    ordering: Ordering | str = Ordering.ordered,
    exclusions: Sequence[Exclusion | str] = (),
    breakdown: Breakdown | str | None = None,
    breakdown_attribution: Attribution | str = "first",
    breakdown_limit: int = 25,
) -> FunnelSpec:
    """A checked FunnelSpec from objects or their text forms; FunnelError says what is wrong."""
    try:
        chosen = Ordering(ordering)
    except ValueError:
        raise FunnelError(_say("ordering_unknown", ordering=ordering)) from None
    return FunnelSpec(
        steps=tuple(_of(FunnelStep, s) for s in steps),
        window=window,
        ordering=chosen,
        exclusions=tuple(_of(Exclusion, e) for e in exclusions),
        breakdown=_of(Breakdown, breakdown) if breakdown is not None else None,
        attribution=_of(Attribution, breakdown_attribution),
        breakdown_limit=breakdown_limit,
    )


def _of(kind: Any, value: Any) -> Any:
    return kind.parse(value) if isinstance(value, str) else value


def condition(step: FunnelStep, parameters: list[Any]) -> str:
    """DuckDB SQL matching the events of `step` over the `events` columns, adding its
    parameters in the order their `?` appear."""
    parts = ["event = ?"]
    parameters.append(step.event)
    for f in step.filters:
        parts.append(f.sql(parameters))
    return "(" + " AND ".join(parts) + ")"
