"""Small random lakes for the property tests of retention, lifecycle, churn, channels and
multichannel: a few people on several anchors, events in shuffled order over a few months
with times at the edges of days, merges and unmerges after the writing, a date range and
a channel filter."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

from hypothesis import strategies as st

from omnicx.analytics.lake import LakeSnapshot
from omnicx.analytics.scope import Filter, Scope
from tests.analytics import reference_retention as ref
from tests.analytics.lakes import Row, build_lake, reattribute

PEOPLE = ("ada", "bo", "cy", "di")
CHANNELS = ("web", "app", "email", "store", "support")
EVENTS = (
    ("Page Viewed", True),
    ("Order Completed", True),
    ("Email Delivered", False),
    ("Product Added", True),
    ("Ticket Created", True),
    ("Ticket Replied", True),
    ("Ticket Resolved", True),
)
FIRST_DAY = date(2026, 1, 1)
EDGES = (time(0), time(23, 59, 59, 999999), time(9, 30), time(18, 5, 7, 250))
"""A period boundary falls between 23:59:59.999999 of one day and 00:00 of the next."""
EDGE_DAYS = (30, 31, 58, 59, 89, 90)
"""Jan 31, Feb 1, Feb 28, Mar 1, Mar 31, Apr 1: month ends and starts."""


@dataclass
class Case:
    """A lake to write and what to ask of it."""

    rows: list[Row]
    owners: dict[int, str]
    moves: dict[int, str]
    batches: int
    start: date | None
    end: date | None
    condition: tuple[str, str] | None
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def scope(self) -> Scope:
        filters = (Filter("channel", *self.condition),) if self.condition else ()
        return Scope(start=self.start, end=self.end, filters=filters)

    def keep(self, event: ref.Event) -> bool:
        if self.condition is None:
            return True
        op, value = self.condition
        return (event.channel == value) == (op == "=")

    @property
    def events(self) -> list[ref.Event]:
        return ref.attributed(self.rows, {**self.owners, **self.moves})

    @property
    def days(self) -> set[date]:
        return {r.ts.date() for r in self.rows}

    @property
    def window(self) -> dict[str, object]:
        return {"start": self.start, "end": self.end, "keep": self.keep}


@contextmanager
def written(case: Case) -> Iterator[LakeSnapshot]:
    """The case's lake, written in batches, with its merges applied afterwards."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "lake"
        lake = build_lake(path, case.rows, batches=case.batches)
        if case.moves:
            lake = reattribute(path, case.moves)
        yield lake


@st.composite
def cases(draw: st.DrawFn, *, max_rows: int = 30) -> Case:
    """A random small lake and scope."""
    anchors = draw(st.integers(2, 7))
    owners = {a: draw(st.sampled_from(PEOPLE)) for a in range(1, anchors + 1)}
    # Spread over months, on the days around month ends, or in a burst of a few instants
    # where many events are simultaneous (so the order between them is tested too).
    mode = draw(st.sampled_from(("spread", "edges", "burst")))
    days = {
        "spread": st.integers(0, 100),
        "edges": st.sampled_from(EDGE_DAYS),
        "burst": st.sampled_from((58, 59)),
    }[mode]
    clocks = st.sampled_from(EDGES[:2] if mode == "burst" else EDGES)
    rows = []
    for _ in range(draw(st.integers(0, max_rows))):
        anchor = draw(st.integers(1, anchors))
        name, active = draw(st.sampled_from(EVENTS))
        moment = datetime.combine(FIRST_DAY + timedelta(days=draw(days)), draw(clocks))
        kind, event = "track", name
        if name == "Page Viewed" and draw(st.booleans()):
            kind, event = "page", None  # a page without a name: its touch is its type
        rows.append(
            Row(
                owners[anchor],
                event,
                moment,
                channel=draw(st.sampled_from(CHANNELS)),
                type=kind,
                properties={"ticket_id": f"T{draw(st.integers(0, 3))}"}
                if name.startswith("Ticket")
                else None,
                revenue=float(draw(st.integers(1, 90))) if name == "Order Completed" else None,
                active=active,
                anchor=anchor,
            )
        )
    # Merges and unmerges move anchors between profiles. (An anchor moved to nobody is left
    # out: the lake's `people` view keeps the old profile then, a foundation bug reported.)
    moves = draw(st.dictionaries(st.integers(1, anchors), st.sampled_from(PEOPLE), max_size=3))
    bound = st.one_of(st.none(), st.integers(0, 100).map(lambda d: FIRST_DAY + timedelta(days=d)))
    start, end = draw(bound), draw(bound)
    if start and end and start > end:
        start, end = end, start
    condition = draw(
        st.one_of(st.none(), st.tuples(st.sampled_from(("=", "!=")), st.sampled_from(CHANNELS)))
    )
    return Case(rows, owners, moves, draw(st.integers(1, 3)), start, end, condition)
