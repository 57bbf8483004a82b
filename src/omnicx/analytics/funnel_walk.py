"""Each person's best attempt at an ordered or strict funnel, from the step events in time
order: DuckDB sorts them once (by one 64-bit key, the person's number and the time), numpy
walks them.

Why not joins: the chain of an ordered funnel is "the latest event of step j-1 before each
event of step j", an ASOF join per step, each sorting its two sides again (and on a 128-bit
key, as a person's events are ordered by time *then* event id); the best attempt per person
is then an aggregate over every level. Sorted once by (person, time, id), an event's place
is its position in the stream, and "the latest event of step j-1 before x" is a running
count of step j-1 events read at x's position: numpy answers it for every step in less
than the sort's time (about 0.2 s for the four steps of 5.6 M step events, 0.4 s with the
choice of each person's best attempt, against 0.45 s for the sort and 1.8 s for the ASOF
join of the second step alone).

The recurrence (docs/analytics/funnels.md has the rules it implements). For each event x
of step j, `start_j(x)` is the start of the chain with the latest start that reaches step j
at x, or none:

- `start_1(x)` is x's own time;
- `start_j(x)` is `start_{j-1}(q)`, q the person's latest event of step j-1 before x (in
  a strict funnel: the touchpoint just before x, when it is of step j-1), if that is defined
  and x is at most the window after it.

Taking the latest step j-1 event q, whether or not it reached step j-1, is exact: starts
only grow along a person's events, and if q reached no valid chain, neither can x (its
time is at least q's, so an earlier, smaller start is out of the window for x as it was
for q). The best attempt is then the person's first event at their deepest step; its
steps are found by walking the same "latest event of the previous step" links back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from omnicx.analytics.funnel_events import StepEvents

Positions = npt.NDArray[np.int64]

KEY_BITS = 64
"""The width of the sort key (tests narrow it to reach the shifted-time path with small
numbers)."""


@dataclass(frozen=True, slots=True)
class Stream:
    """The sequenced events (step events; in a strict funnel also every touchpoint), sorted
    by person, time and event id."""

    person: npt.NDArray[np.int64]
    """The person's number (PersonIndex): ascending along the stream."""
    time: npt.NDArray[np.int64]
    steps: npt.NDArray[np.uint32]
    """Bit j-1 set: the event matches step j."""
    row: Positions
    """The event's row in `funnel_events` (StepEvents), where the rest of it is."""

    def of_step(self, step: int) -> npt.NDArray[np.bool_]:
        """Which events match step `step` (1-based)."""
        matches: npt.NDArray[np.bool_] = (self.steps >> np.uint32(step - 1)) & np.uint32(1) == 1
        return matches


def read_stream(db: duckdb.DuckDBPyConnection, events: StepEvents, *, strict: bool) -> Stream:
    """The sequenced events among `events`, sorted.

    One sort key of 64 bits: the person's number above the time since the earliest event
    (shifted right as far as the two need to fit, which a lake spanning under 2**64 / people
    microseconds never needs), then the event id (and the exact time, when it was shifted)
    for ties. DuckDB sorts it on both cores, and hands back the sorted key (the person and
    the time come out of it) with the steps and rows as payload: numpy's argsort alone takes
    three times as long, and gathering columns by the order as long again.
    """
    sequenced = events.steps != 0
    if strict and events.touch is not None:
        sequenced |= events.touch
    if sequenced.all():
        time, person, steps, ids = events.time, events.person, events.steps, events.event_id
        rows = np.arange(len(events), dtype=np.int64)
    else:
        rows = np.flatnonzero(sequenced)
        time, person = events.time[rows], events.person[rows]
        steps, ids = events.steps[rows], events.event_id[rows]
    if not len(rows):
        return Stream(person, time, steps, rows)
    person_bits = max(events.people.size - 1, 1).bit_length()
    time_bits = KEY_BITS - person_bits
    earliest = int(time.min())
    shift = max((int(time.max()) - earliest).bit_length() - time_bits, 0)
    # In place where it can be: on this kind of machine a fresh 50 MB array costs as much
    # in page faults as the arithmetic.
    key = person.astype(np.uint64)
    key <<= np.uint64(time_bits)
    since = (time - earliest).view(np.uint64)
    if shift:
        since >>= np.uint64(shift)
    key |= since
    del since
    columns = {"k": key, "id": ids, "steps": steps, "r": rows}
    wanted, ties = "k, steps, r", "id"
    if shift:
        columns["t"] = time
        wanted, ties = "k, t, steps, r", "t, id"
    db.register("funnel_sort", pa.table(columns))
    ordered = db.sql(f"SELECT {wanted} FROM funnel_sort ORDER BY k, {ties}").to_arrow_table()
    db.unregister("funnel_sort")
    del columns, key
    sorted_key = _column(ordered, "k").view(np.uint64)
    sorted_person = (sorted_key >> np.uint64(time_bits)).view(np.int64)
    if shift:
        sorted_time = _column(ordered, "t")
    else:
        sorted_time = (sorted_key & np.uint64((1 << time_bits) - 1)).view(np.int64)
        sorted_time += earliest
    return Stream(
        sorted_person,
        sorted_time,
        _column(ordered, "steps").astype(np.uint32, copy=False),
        _column(ordered, "r"),
    )


def _column(table: pa.Table, name: str) -> npt.NDArray[Any]:
    values: npt.NDArray[Any] = table.column(name).to_numpy()
    return values


def best_attempts(
    stream: Stream, events: StepEvents, n: int, window_us: int, *, strict: bool
) -> pa.Table:
    """One row per person with a step-1 event: p (`person_key`), d (steps reached), start,
    and per step j the time `tj`, event id `ij` and `funnel_events` row `rj` of the event
    that completed it (null past d)."""
    levels = [_first_step(stream)]
    for j in range(2, n + 1):
        levels.append(_next_step(stream, levels[-1], j, window_us, strict=strict))
    depth, chosen = _best(stream, levels, events.people.size)
    kept = np.flatnonzero(depth > 0)  # people without a step-1 event are not in the funnel
    depth, chosen = depth[kept], chosen[kept]
    reached = _chain(levels, depth, chosen)
    columns: dict[str, pa.Array] = {
        "p": pa.array(events.people.keys[kept]),
        "d": pa.array(depth),
        "start": pa.array(stream.time[reached[0]]),
    }
    rows = [stream.row[positions] for positions in reached]
    for name, values in (
        ("t", [stream.time[positions] for positions in reached]),
        ("i", [events.event_id[r] for r in rows]),
        ("r", rows),
    ):
        for j in range(1, n + 1):
            columns[f"{name}{j}"] = pa.array(values[j - 1], mask=depth < j)
    return pa.table(columns)


@dataclass(frozen=True, slots=True)
class _Level:
    """The events of one step, in stream order: whether a chain reaches the step at each,
    with which start, and through which event of the previous step."""

    rows: Positions
    """Their positions in the stream."""
    reached: npt.NDArray[np.bool_]
    start: npt.NDArray[np.int64]
    """The chain's start (meaningless where not reached)."""
    back: Positions
    """Index into the previous level's `rows` of the chain's previous step."""
    before: Positions
    """For each position of the stream, how many of this level's events come before it."""


def _first_step(stream: Stream) -> _Level:
    matches = stream.of_step(1)
    rows = np.flatnonzero(matches)
    return _Level(
        rows,
        np.ones(len(rows), np.bool_),
        stream.time[rows],
        np.zeros(0, np.int64),
        _counts_before(matches),
    )


def _counts_before(matches: npt.NDArray[np.bool_]) -> Positions:
    counts = np.cumsum(matches, dtype=np.int64)
    counts -= matches
    return counts


def _next_step(
    stream: Stream, previous: _Level, step: int, window_us: int, *, strict: bool
) -> _Level:
    """Level `step` from the level before it (see the module's documentation)."""
    matches = stream.of_step(step)
    rows = np.flatnonzero(matches)
    nowhere = np.zeros(len(rows), np.int64)
    if not len(previous.rows):  # nobody did the previous step
        unreached = np.zeros(len(rows), np.bool_)
        return _Level(rows, unreached, nowhere, nowhere, _counts_before(matches))
    # The latest event of the previous step before each event (in a strict funnel it must
    # be the event just before), of the same person.
    back = previous.before[rows] - 1
    found = back >= 0
    back = np.maximum(back, 0)
    origin = previous.rows[back]
    if strict:
        found &= origin == rows - 1
    start = previous.start[back]
    reached = found & previous.reached[back] & (stream.person[origin] == stream.person[rows])
    reached &= stream.time[rows] - start <= window_us
    return _Level(rows, reached, start, back, _counts_before(matches))


def _best(stream: Stream, levels: list[_Level], people: int) -> tuple[Positions, Positions]:
    """Per person number: the deepest step reached (0: none) and the index into that
    level's `rows` of the first event that reached it."""
    depth = np.zeros(people, np.int64)
    chosen = np.zeros(people, np.int64)
    for step in range(len(levels), 0, -1):
        level = levels[step - 1]
        hits = np.flatnonzero(level.reached)
        person = stream.person[level.rows[hits]]
        # The stream is sorted by person: a person's first hit is where the person changes.
        first = np.empty(len(person), np.bool_)
        first[:1] = True
        np.not_equal(person[1:], person[:-1], out=first[1:])
        person, hits = person[first], hits[first]
        new = depth[person] == 0
        depth[person[new]] = step
        chosen[person[new]] = hits[new]
    return depth, chosen


def _chain(levels: list[_Level], depth: Positions, chosen: Positions) -> list[Positions]:
    """Stream positions of the events that completed steps 1..n of the chosen attempts (an
    attempt's entries past its depth hold a position of no meaning)."""
    n = len(levels)
    reached: list[Positions] = [np.zeros(len(depth), np.int64) for _ in range(n)]
    for d in range(1, n + 1):
        at = np.flatnonzero(depth == d)
        index = chosen[at]
        for j in range(d, 0, -1):
            reached[j - 1][at] = levels[j - 1].rows[index]
            if j > 1:
                index = levels[j - 1].back[index]
    return reached
