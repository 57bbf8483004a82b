"""Each person's best attempt at an ordered or strict funnel, from the step events: a
counting sort puts them in (person, time, event id) order and one compiled pass walks them.

Why not joins or whole-array passes: the chain of an ordered funnel is "the latest event of
step j-1 before each event of step j", an ASOF join per step, each sorting its two sides
again (on a 128-bit key: time *then* event id). Sorted once, it is state carried along each
person's events, which numpy could only express as a dozen passes over arrays of millions.
Compiled (compiled.py), for four steps of 5.6 M events on a slow 2-core machine: the walk
0.1 s against numpy's 0.9–1.3 s, the counting sort 0.4 s against DuckDB's 0.5–0.7 s sort of
a packed 64-bit key. People are numbered densely (PersonIndex), so the sort is by bucket:
one pass counts each person's events, one places them, and a person's few events are
sorted by time and id in place. Placing, sorting and walking run in two threads, each for
half of the people (about half of the events).

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
for q). The best attempt is the person's first event at their deepest step, with the chain
that reached it.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from omnicx.analytics import compiled as compiled_module
from omnicx.analytics.compiled import compiled
from omnicx.analytics.funnel_events import StepEvents
from omnicx.analytics.funnel_spec import MAX_STEPS

Positions = npt.NDArray[np.int64]

_INSERTION_LIMIT = 32
"""A person's events beyond this many are sorted by two stable sorts, not by insertion."""


STEP_BITS = MAX_STEPS
"""The low bits of a Stream's `packed` hold the event's steps, the rest its row."""


@dataclass(frozen=True, slots=True)
class Stream:
    """The sequenced events (step events; in a strict funnel also every touchpoint) in
    (person, time, event id) order, person by person."""

    starts: Positions
    """Person number p's events are at positions starts[p]:starts[p + 1]."""
    time: Positions
    packed: Positions
    """The event's row in `funnel_events` (StepEvents), where the rest of it is, shifted
    left by STEP_BITS, and its steps (bit j-1 set: the event matches step j). One column,
    not two: the sort writes each event's columns to a random place, a cache miss each."""


def read_stream(events: StepEvents, *, strict: bool) -> Stream:
    """The sequenced events among `events`, in order."""
    sequenced = events.steps != 0
    if strict and events.touch is not None:
        sequenced |= events.touch
    starts = _starts(events.person, sequenced, events.people.size)
    time = np.empty(starts[-1], np.int64)
    packed = np.empty(starts[-1], np.int64)
    columns = (events.person, events.time, events.event_id, events.steps, sequenced, starts)
    _by_halves(starts, lambda low, high: _place(*columns, low, high, time, packed))
    return Stream(starts, time, packed)


def _by_halves(starts: Positions, work: Callable[[int, int], Any]) -> list[Any]:
    """`work(low, high)` for two ranges of people with about as many events each, at once
    (the compiled loops release the GIL: one core each), or for everyone when the events
    are too few to be worth a thread."""
    people = len(starts) - 1
    if starts[-1] < compiled_module.COMPILE_ABOVE:
        return [work(0, people)]
    middle = int(np.searchsorted(starts, starts[-1] // 2))
    with ThreadPoolExecutor(max_workers=2) as pool:
        halves = [pool.submit(work, 0, middle), pool.submit(work, middle, people)]
        return [half.result() for half in halves]


def best_attempts(
    stream: Stream, events: StepEvents, n: int, window_us: int, *, strict: bool
) -> pa.Table:
    """One row per person with a step-1 event: p (`person_key`), d (steps reached), start,
    and per step j the time `tj`, event id `ij` and `funnel_events` row `rj` of the event
    that completed it (null past d)."""
    halves = _by_halves(
        stream.starts,
        lambda low, high: _walk(
            stream.starts, stream.time, stream.packed, n, window_us, strict, low, high
        ),
    )
    owner, depth, chain = (np.concatenate([half[k] for half in halves]) for k in range(3))
    columns: dict[str, pa.Array] = {
        "p": pa.array(events.people.keys[owner]),
        "d": pa.array(depth),
        "start": pa.array(stream.time[chain[:, 0]]),
    }
    for j in range(1, n + 1):
        at = np.maximum(chain[:, j - 1], 0)  # -1 past the depth: masked
        rows = stream.packed[at] >> STEP_BITS
        past = depth < j
        columns[f"t{j}"] = pa.array(stream.time[at], mask=past)
        columns[f"i{j}"] = pa.array(events.event_id[rows], mask=past)
        columns[f"r{j}"] = pa.array(rows, mask=past)
    return pa.table(columns)


@compiled
def _starts(person: Positions, sequenced: npt.NDArray[np.bool_], people: int) -> Positions:
    """Where each person's sequenced events start in the Stream (and, last, how many)."""
    starts = np.zeros(people + 1, np.int64)
    for row in range(len(person)):
        if sequenced[row]:
            starts[person[row] + 1] += 1
    for p in range(people):
        starts[p + 1] += starts[p]
    return starts


@compiled
def _place(
    person: Positions,
    time: Positions,
    ids: Positions,
    steps: npt.NDArray[np.uint32],
    sequenced: npt.NDArray[np.bool_],
    starts: Positions,
    low_person: int,
    high_person: int,
    out_time: Positions,
    out_packed: Positions,
) -> None:
    """The Stream's columns of people low_person..high_person-1: a stable counting sort by
    person that carries the columns along (reading them back through an order would cost a
    cache miss per column and event), then each person's events sorted in place (by id
    where times are equal, read from `ids` only then)."""
    fill = starts[low_person:high_person].copy()
    for row in range(len(person)):
        p = person[row]
        if sequenced[row] and low_person <= p < high_person:
            at = fill[p - low_person]
            fill[p - low_person] = at + 1
            out_time[at] = time[row]
            out_packed[at] = (row << STEP_BITS) | np.int64(steps[row])
    for p in range(low_person, high_person):
        low, high = starts[p], starts[p + 1]
        if high - low <= _INSERTION_LIMIT:
            for i in range(low + 1, high):
                t, packed = out_time[i], out_packed[i]
                k = i - 1
                while k >= low and (
                    out_time[k] > t
                    or (
                        out_time[k] == t
                        and ids[out_packed[k] >> STEP_BITS] > ids[packed >> STEP_BITS]
                    )
                ):
                    out_time[k + 1], out_packed[k + 1] = out_time[k], out_packed[k]
                    k -= 1
                out_time[k + 1], out_packed[k + 1] = t, packed
        else:  # a busy person (a shared device, a bot): by id, then stably by time
            by = np.argsort(ids[out_packed[low:high] >> STEP_BITS], kind="mergesort")
            by = by[np.argsort(out_time[low:high][by], kind="mergesort")] + low
            out_time[low:high] = out_time[by]
            out_packed[low:high] = out_packed[by]


@compiled
def _walk(
    starts: Positions,
    time: Positions,
    packed: Positions,
    n: int,
    window: int,
    strict: bool,
    low_person: int,
    high_person: int,
) -> tuple[Positions, Positions, Positions]:
    """Per person of low_person..high_person-1 with a step-1 event, in person order: the
    person's number, the deepest step reached, and the stream positions of that first
    deepest chain's events (-1 past it)."""
    people = high_person - low_person
    owner = np.empty(people, np.int64)
    depth = np.zeros(people, np.int64)
    chain = np.full((people, n), -1, np.int64)
    # The person's latest event of each step: its position, whether a chain reached it,
    # that chain's start and its positions (chains[j, :j + 1]).
    latest = np.full(n, -1, np.int64)
    reached = np.zeros(n, np.bool_)
    start = np.zeros(n, np.int64)
    chains = np.full((n, n), -1, np.int64)
    count = 0
    for p in range(low_person, high_person):
        if starts[p] == starts[p + 1]:
            continue
        owner[count] = p
        latest[:] = -1
        best = 0
        for i in range(starts[p], starts[p + 1]):
            t = time[i]
            matched = packed[i] & ((1 << STEP_BITS) - 1)
            # From the last step down: step j reads step j-1's latest event from before
            # this one.
            for j in range(n - 1, -1, -1):
                if not (matched >> j) & 1:
                    continue
                if j == 0:
                    ok, begun = True, t
                else:
                    q = latest[j - 1]
                    begun = start[j - 1]
                    ok = (
                        q >= 0
                        and reached[j - 1]
                        and t - begun <= window
                        and (not strict or q == i - 1)
                    )
                    if ok:
                        for k in range(j):
                            chains[j, k] = chains[j - 1, k]
                latest[j], reached[j], start[j] = i, ok, begun
                if ok:
                    chains[j, j] = i
                    if j + 1 > best:
                        best = j + 1
                        depth[count] = best
                        for k in range(j + 1):
                            chain[count, k] = chains[j, k]
        if best:
            count += 1
    return owner[:count], depth[:count], chain[:count]
