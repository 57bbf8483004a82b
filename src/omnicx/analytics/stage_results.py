"""What journey stage analyses answer (stages.py computes them): frozen dataclasses with a
`to_dict()` giving JSON-ready data. Times are naive UTC; JSON writes them with a `Z`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from omnicx.analytics.stage_settings import NEW

Period = Literal["day", "week", "month"]
PERIODS: tuple[Period, ...] = ("day", "week", "month")


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat() + "Z"


@dataclass(frozen=True, slots=True)
class StageEntry:
    """A stage a person was in: from `entered_at` until `left_at` (None: still in it)."""

    stage: str
    entered_at: datetime
    left_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "stage": self.stage,
            "entered_at": _iso(self.entered_at),
            "left_at": _iso(self.left_at),
        }


@dataclass(frozen=True, slots=True)
class StageHistory:
    """One person's stages in order, as of `as_of` (times are naive UTC)."""

    person: str
    as_of: datetime
    entries: tuple[StageEntry, ...]

    @property
    def stage(self) -> str:
        """The stage the person is in at `as_of`."""
        return self.entries[-1].stage

    def reached(self) -> dict[str, datetime]:
        """When the person first entered each stage they were ever in."""
        first: dict[str, datetime] = {}
        for entry in self.entries:
            first.setdefault(entry.stage, entry.entered_at)
        return first

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "profile_id": self.person,
            "as_of": _iso(self.as_of),
            "stage": self.stage,
            "since": _iso(self.entries[-1].entered_at),
            "reached": {k: _iso(v) for k, v in self.reached().items()},
            "history": [e.to_dict() for e in self.entries],
        }


@dataclass(frozen=True, slots=True)
class StageCount:
    """People in a stage at the end of the range (`people`, its `share` of everyone in a
    stage) and people who entered it during the range (`entered`)."""

    stage: str
    people: int
    share: float
    entered: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "stage": self.stage,
            "people": self.people,
            "share": self.share,
            "entered": self.entered,
        }


@dataclass(frozen=True, slots=True)
class PeriodCount:
    """People in a stage at the end of a period (or of the range, for the last one), and
    people who entered it during the period (inside the range)."""

    period: date
    stage: str
    people: int
    entered: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "period": self.period.isoformat(),
            "stage": self.stage,
            "people": self.people,
            "entered": self.entered,
        }


@dataclass(frozen=True, slots=True)
class Transition:
    """People who moved from one stage to another during the range (`new`: a first stage)."""

    source: str
    target: str
    people: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"from": self.source, "to": self.target, "people": self.people}


@dataclass(frozen=True, slots=True)
class StageFlows:
    """A Sankey of the range: each person from their stage at its start (`new` when they
    were in none) to their stage at its end. Node ids are `start:STAGE` and `end:STAGE`."""

    links: tuple[Transition, ...]
    stages: tuple[str, ...] = ()
    """The model's stages, to order the nodes by."""

    def nodes(self) -> list[dict[str, Any]]:
        """The Sankey's nodes with the people on each: the start side, then the end side,
        each in funnel order (`new` first, `churned` last)."""
        totals: dict[tuple[str, str], int] = {}
        for link in self.links:
            for node in (("start", link.source), ("end", link.target)):
                totals[node] = totals.get(node, 0) + link.people
        order = {name: n for n, name in enumerate((NEW, *self.stages))}
        return [
            {"id": f"{side}:{stage}", "side": side, "stage": stage, "people": people}
            for (side, stage), people in sorted(
                totals.items(), key=lambda item: (item[0][0] == "end", order.get(item[0][1], 99))
            )
        ]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: nodes and links (source, target, people), as Sankey charts take them."""
        return {
            "nodes": self.nodes(),
            "links": [
                {"source": f"start:{x.source}", "target": f"end:{x.target}", "people": x.people}
                for x in self.links
            ],
        }


@dataclass(frozen=True, slots=True)
class StageReport:
    """Counts per stage at the end of the range and during it, optionally per period, the
    flows between stages over the range and every transition made in it."""

    start: date | None
    end: date | None
    as_of: datetime | None
    stages: tuple[str, ...]
    counts: tuple[StageCount, ...]
    period: Period | None = None
    periods: tuple[PeriodCount, ...] = ()
    flows: StageFlows = field(default_factory=lambda: StageFlows(()))
    transitions: tuple[Transition, ...] = ()

    @property
    def total(self) -> int:
        """People in any stage at the end of the range."""
        return sum(c.people for c in self.counts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "as_of": _iso(self.as_of),
            "stages": list(self.stages),
            "total": self.total,
            "counts": [c.to_dict() for c in self.counts],
            "period": self.period,
            "periods": [p.to_dict() for p in self.periods],
            "flows": self.flows.to_dict(),
            "transitions": [t.to_dict() for t in self.transitions],
        }
