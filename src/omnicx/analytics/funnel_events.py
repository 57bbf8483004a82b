"""A funnel's step and exclusion events, read once from the lake into numpy and Arrow.

`load_step_events(db, spec)` reads the scope's events that match a step or an exclusion (in
a strict funnel, every touchpoint too) and finds each one's person with a PersonIndex (an
array lookup rather than a hash join with the people table). Where a part of the funnel is
computed in SQL (funnel_sql.py: unordered funnels, exclusions) it registers them in `db` as
the view `funnel_events`: `p` (the lake's `person_key`), `t` (time, microseconds), `id`, a
flag per step (`s1`..) and exclusion (`x1`..), `touch` (strict funnels) and the breakdown
value `b`. The walk (funnel_walk.py) takes the same events from the returned arrays, without
another query.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from omnicx.analytics.funnel_spec import FunnelSpec, Ordering, condition
from omnicx.analytics.person_index import PersonIndex, person_index
from omnicx.analytics.scope import json_path

TOUCHPOINT = "(active AND type IN ('track', 'page', 'screen'))"
"""What counts as another event between two steps of a strict funnel (beside step events)."""


@dataclass(frozen=True, slots=True)
class StepEvents:
    """The rows of `funnel_events`, as arrays in the same order."""

    person: npt.NDArray[np.int64]
    """The person's number in `people` (its `person_key` is `people.keys[person]`)."""
    time: npt.NDArray[np.int64]
    event_id: npt.NDArray[np.int64]
    steps: npt.NDArray[np.uint32]
    """Bit j-1 set: the event matches step j."""
    touch: npt.NDArray[np.bool_] | None
    """Strict funnels: whether the event is a touchpoint."""
    breakdown: pa.ChunkedArray
    """The breakdown value `b` of each event (null without a breakdown)."""
    people: PersonIndex

    def __len__(self) -> int:
        return len(self.time)


def load_step_events(db: duckdb.DuckDBPyConnection, spec: FunnelSpec) -> StepEvents:
    """Reads the funnel's events and registers `funnel_events` (see the module's
    documentation)."""
    people = person_index(db)
    table = _scan(db, spec)
    person = people.numbers(table.column("anchor").to_numpy().astype(np.int64, copy=False))
    known = person >= 0
    if not known.all():
        table = table.filter(pa.array(known))
        person = person[known]
    touch = (
        table.column("touch").to_numpy(zero_copy_only=False).astype(np.bool_, copy=False)
        if spec.ordering is Ordering.strict
        else None
    )
    events = StepEvents(
        person=person,
        time=table.column("t").to_numpy().astype(np.int64, copy=False),
        event_id=table.column("id").to_numpy().astype(np.int64, copy=False),
        steps=table.column("steps").to_numpy().astype(np.uint32, copy=False),
        touch=touch,
        breakdown=table.column("b"),
        people=people,
    )
    if spec.ordering is Ordering.unordered or spec.exclusions:
        _register(db, spec, events, table)  # the only parts of a funnel that read it in SQL
    return events


def _scan(db: duckdb.DuckDBPyConnection, spec: FunnelSpec) -> pa.Table:
    """The scope's step and exclusion events (and touchpoints), before attribution, with
    their `steps` bits."""
    parameters: list[Any] = []
    names = sorted({s.event for s in spec.steps} | {x.event.event for x in spec.exclusions})
    # A step without filters is known from the event's name alone: DuckDB gives the name's
    # place among `names` (one lookup per row), numpy turns it into step bits. Comparing
    # the name once per step costs as much again as reading the rows.
    parameters.append(names)
    filtered = [
        f"(coalesce({condition(s, parameters)}, false)::UINTEGER << {j})"
        for j, s in enumerate(spec.steps)
        if s.filters
    ]
    exclusions = [
        f"coalesce({condition(x.event, parameters)}, false) AS x{i}"
        for i, x in enumerate(spec.exclusions, 1)
    ]
    parameters.extend(names)
    named = f"event IN ({', '.join('?' for _ in names)})"
    columns = [
        "anchor",
        "epoch_us(ts) AS t",
        "event_id AS id",
        "coalesce(list_position(?::VARCHAR[], event), 0)::UINTEGER AS name",
        f"{' | '.join(filtered) if filtered else '0::UINTEGER'} AS filtered",
        *exclusions,
        f"{_breakdown_value(spec)} AS b",
    ]
    wanted = ["filtered <> 0", *(f"x{i}" for i in range(1, len(spec.exclusions) + 1))]
    wanted += [f"name = {names.index(s.event) + 1}" for s in spec.steps if not s.filters]
    if spec.ordering is Ordering.strict:
        # No other touchpoint may come between two steps: the person's touchpoints are read
        # whole.
        columns.append(f"coalesce({TOUCHPOINT}, false) AS touch")
        named += f" OR {TOUCHPOINT}"
        wanted.append("touch")
    query = f"SELECT {', '.join(columns)} FROM lake_scoped WHERE {named}"
    if filtered or any(x.event.filters for x in spec.exclusions):
        # A named event may match no step's filters; without filters every one matches
        # some step (a second pass over the rows costs a fifth of the scan).
        query = f"SELECT * FROM ({query}) WHERE {' OR '.join(wanted)}"
    # Arrow is the cheapest way out of DuckDB for millions of rows.
    table = db.sql(query, params=parameters).to_arrow_table()
    masks = np.zeros(len(names) + 1, np.uint32)  # the steps each name is, unfiltered
    for j, step in enumerate(spec.steps):
        if not step.filters:
            masks[names.index(step.event) + 1] |= np.uint32(1 << j)
    steps = masks[table.column("name").to_numpy()] | table.column("filtered").to_numpy()
    return table.append_column("steps", pa.array(steps, pa.uint32()))


def _breakdown_value(spec: FunnelSpec) -> str:
    if spec.breakdown is None or spec.breakdown.kind == "trait":
        return "NULL::VARCHAR"
    if spec.breakdown.kind == "property":
        return f"json_extract_string(properties, {json_path(spec.breakdown.name or '')})"
    return spec.breakdown.kind


def _register(
    db: duckdb.DuckDBPyConnection, spec: FunnelSpec, events: StepEvents, table: pa.Table
) -> None:
    """`funnel_events` over the arrays (DuckDB reads Arrow in place: nothing is copied)."""
    columns: dict[str, Any] = {
        "p": events.people.keys[events.person],
        "t": events.time,
        "id": events.event_id,
        "steps": events.steps,
    }
    for i in range(1, len(spec.exclusions) + 1):
        columns[f"x{i}"] = table.column(f"x{i}")
    if events.touch is not None:
        columns["touch"] = events.touch
    columns["b"] = events.breakdown
    db.register("funnel_arrow", pa.table(columns))
    flags = ", ".join(f"(steps >> {j - 1}) & 1 = 1 AS s{j}" for j in range(1, len(spec.steps) + 1))
    db.execute(
        f"CREATE TEMP VIEW funnel_events AS SELECT * EXCLUDE (steps), {flags} FROM funnel_arrow"
    )
