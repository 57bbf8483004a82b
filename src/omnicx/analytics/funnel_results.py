"""What a funnel answers: people per step, conversion, drop-off, time to convert."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

HISTOGRAM_EDGES = (
    60,
    5 * 60,
    15 * 60,
    3600,
    6 * 3600,
    86400,
    2 * 86400,
    7 * 86400,
    14 * 86400,
    30 * 86400,
    60 * 86400,
    90 * 86400,
    180 * 86400,
    365 * 86400,
)
"""Where the time-to-convert histogram's bins end (seconds), up to the window."""


@dataclass(frozen=True, slots=True)
class StepStats:
    """One step of a funnel (or of one breakdown group)."""

    index: int
    """1 for the first step."""
    name: str
    event: str
    count: int
    """People whose best attempt reached this step."""
    conversion_from_start: float | None
    """count / the first step's count (None when nobody entered)."""
    conversion_from_previous: float | None
    dropped: int
    """People who reached the previous step but not this one (0 for the first step)."""
    drop_off: float | None
    """dropped / the previous step's count."""
    median_seconds_from_previous: float | None
    """Over the people who reached this step: time from the previous step (None for step 1)."""
    average_seconds_from_previous: float | None
    median_seconds_from_start: float | None
    """Time from the attempt's first event to reaching this step."""
    average_seconds_from_start: float | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: `step` is the step's name, `count` its people."""
        return {
            "step": self.name,
            "index": self.index,
            "event": self.event,
            "count": self.count,
            "conversion_from_start": self.conversion_from_start,
            "conversion_from_previous": self.conversion_from_previous,
            "dropped": self.dropped,
            "drop_off": self.drop_off,
            "median_seconds_from_previous": self.median_seconds_from_previous,
            "average_seconds_from_previous": self.average_seconds_from_previous,
            "median_seconds_from_start": self.median_seconds_from_start,
            "average_seconds_from_start": self.average_seconds_from_start,
        }


@dataclass(frozen=True, slots=True)
class HistogramBin:
    """People who converted in `from_seconds` <= time < `to_seconds` (the last bin includes
    its end, the window)."""

    from_seconds: int
    to_seconds: int
    count: int

    @property
    def label(self) -> str:
        """`1h–6h`."""
        return f"{short_duration(self.from_seconds)}–{short_duration(self.to_seconds)}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "from_seconds": self.from_seconds,
            "to_seconds": self.to_seconds,
            "label": self.label,
            "count": self.count,
        }


@dataclass(frozen=True, slots=True)
class TimeToConvert:
    """From the attempt's first event to the last step, over the people who converted."""

    people: int
    median_seconds: float | None
    average_seconds: float | None
    histogram: tuple[HistogramBin, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "people": self.people,
            "median_seconds": self.median_seconds,
            "average_seconds": self.average_seconds,
            "histogram": [b.to_dict() for b in self.histogram],
        }


@dataclass(frozen=True, slots=True)
class FunnelGroup:
    """The funnel of the people with one breakdown value (`other`: the values past the limit,
    together)."""

    value: str | None
    other: bool
    steps: tuple[StepStats, ...]
    time_to_convert: TimeToConvert

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "value": self.value,
            "other": self.other,
            "steps": [s.to_dict() for s in self.steps],
            "time_to_convert": self.time_to_convert.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class FunnelResult:
    """A funnel over everyone in scope, and per breakdown value when asked."""

    steps: tuple[StepStats, ...]
    time_to_convert: TimeToConvert
    ordering: str
    window: timedelta
    excluded: int
    """People left out by an exclusion step."""
    breakdown: str | None = None
    attribution: str | None = None
    groups: tuple[FunnelGroup, ...] = ()
    """Largest first (by people entering); `other` last."""

    @property
    def conversion(self) -> float | None:
        """Share of the people entering who reached the last step."""
        return self.steps[-1].conversion_from_start

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: `{"steps": [{"step": NAME, "count": PEOPLE, ...}, ...], ...}`."""
        return {
            "steps": [s.to_dict() for s in self.steps],
            "people": self.steps[0].count,
            "converted": self.steps[-1].count,
            "conversion": self.conversion,
            "excluded": self.excluded,
            "ordering": self.ordering,
            "window_seconds": int(self.window.total_seconds()),
            "time_to_convert": self.time_to_convert.to_dict(),
            "breakdown": None
            if self.breakdown is None
            else {
                "by": self.breakdown,
                "attribution": self.attribution,
                "groups": [g.to_dict() for g in self.groups],
            },
        }


@dataclass(frozen=True, slots=True)
class DroppedPerson:
    """A person who reached a step and not the next, and when they reached it (UTC)."""

    profile_id: str
    reached_at: datetime


@dataclass(frozen=True, slots=True)
class DroppedPeople:
    """Who dropped between step `step - 1` and step `step`, by profile id."""

    step: int
    step_name: str
    previous_name: str
    people: tuple[DroppedPerson, ...]

    def rows(self) -> list[dict[str, Any]]:
        """One row per person: `profile_id`, `reached_at` (ISO, UTC)."""
        return [
            {"profile_id": p.profile_id, "reached_at": p.reached_at.isoformat() + "Z"}
            for p in self.people
        ]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "step": self.step,
            "step_name": self.step_name,
            "previous_step_name": self.previous_name,
            "count": len(self.people),
            "people": self.rows(),
        }


def histogram_edges(window_seconds: int) -> list[int]:
    """The bin edges for a window: 0, the standard edges inside it, the window."""
    return [0, *(e for e in HISTOGRAM_EDGES if e < window_seconds), window_seconds]


def short_duration(seconds: float) -> str:
    """`45s`, `90m`, `6h`, `30d`: the largest unit that divides it; else `1.5m`."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    if seconds < 60:
        return f"{seconds:g}s"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:g}s"
