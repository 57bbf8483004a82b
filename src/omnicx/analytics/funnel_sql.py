"""Each person's best attempt at a funnel, computed set-based in DuckDB (the ordered and
strict chains by a compiled walk: funnel_walk.py).

`attempts(db, spec)` leaves the temporary table `funnel_people`, one row per person who did
the first step: `p` (the person's key), `d` (steps reached), `start` (when the attempt began,
microseconds), `t1`..`tN` (when each step was reached, microseconds) and `i1`..`iN` (the id
of the event that reached it; both NULL past `d`), `at` and `ai` (time and id of the event
the breakdown value comes from), `bv` (the breakdown value) and `excluded`. The definitions
are in docs/analytics/funnels.md.

A person's events are ordered by time, then by event id for equal times. Where SQL must
compare two events' places in one number (the unordered funnel's window functions,
exclusions, traits), it uses the HUGEINT `time * 2**64 + id` (`order_key`; a multiplication,
as a left shift refuses the negative times of events before 1970). Everything else keeps
time and id as two BIGINTs: sorting and joining 128-bit numbers costs twice as much.

How it stays fast (a 4-step funnel over 10M events): only the step and exclusion events are
read, once, into arrays (funnel_events.py), each event's person found by an array lookup
rather than a join; people are keyed by the lake's 64-bit `person_key` (strings are slow to
sort and join); an ordered or strict funnel's chains need one counting sort of the step
events by person and one compiled pass over them (funnel_walk.py), after which the
breakdown value is taken from the attributed event's row in the array; the unordered funnel
needs one window pass.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb
import numpy as np
import pyarrow as pa

from omnicx.analytics.funnel_events import StepEvents, load_step_events
from omnicx.analytics.funnel_spec import FunnelSpec, Ordering
from omnicx.analytics.funnel_walk import best_attempts, read_stream
from omnicx.analytics.scope import json_path


def order_key(time: str, event_id: str) -> str:
    """SQL: one HUGEINT ordering events by (time in microseconds, event id)."""
    return f"(({time})::HUGEINT * 18446744073709551616 + ({event_id}))"


def attempts(db: duckdb.DuckDBPyConnection, spec: FunnelSpec) -> None:
    """Creates `funnel_people` (see the module's documentation) from the `events` view;
    its `p` is the lake's `person_key`."""
    events = load_step_events(db, spec)
    if spec.ordering is Ordering.unordered:
        _unordered_chosen(db, spec)
    else:
        _ordered_chosen(db, spec, events)
    value, joined = _breakdown_join(db, spec)
    # Read three times (exclusions counted, breakdown values ranked, numbers): a table when
    # computing it joins, a view when it is only the walk's arrays.
    kind = "TABLE" if joined or spec.exclusions or spec.ordering is Ordering.unordered else "VIEW"
    db.execute(
        f"CREATE TEMP {kind} funnel_people AS SELECT f.* EXCLUDE (wb), {value} AS bv, "
        f"{_excluded(spec)} AS excluded FROM funnel_chosen f {joined}"
    )


def _ordered_chosen(db: duckdb.DuckDBPyConnection, spec: FunnelSpec, events: StepEvents) -> None:
    """`funnel_chosen` for an ordered or strict funnel, from the walk (funnel_walk.py): the
    attributed event's time `at` and id `ai`, and `wb`, its breakdown value (the walk knows
    its row, so the value is taken from the array, no join)."""
    strict = spec.ordering is Ordering.strict
    n = len(spec.steps)
    walked = best_attempts(
        read_stream(events, strict=strict), events, n, spec.window_us, strict=strict
    )
    walked = walked.append_column("at", _attributed(spec, walked, "t"))
    walked = walked.append_column("ai", _attributed(spec, walked, "i"))
    rows = _attributed(spec, walked, "r")
    walked = walked.append_column("wb", _values_at(events.breakdown, rows))
    db.register("funnel_walked", walked)
    positions = ", ".join(f"r{j}" for j in range(1, n + 1))
    db.execute(
        f"CREATE TEMP VIEW funnel_chosen AS SELECT * EXCLUDE ({positions}) FROM funnel_walked"
    )


def _attributed(spec: FunnelSpec, walked: pa.Table, column: str) -> pa.Array:
    """Of each attempt's attributed event (the breakdown value's), the walk's `column`: its
    time (t), id (i) or `funnel_events` row (r); null where there is none."""
    attribution = spec.attribution
    if attribution.kind in ("step", "first"):
        step = attribution.step if attribution.kind == "step" else 1
        return walked.column(f"{column}{step}").combine_chunks()
    # The last step reached: step d of an attempt of depth d (never null).
    depth = walked.column("d").to_numpy()
    values = np.zeros(len(depth), np.int64)
    for d in range(1, len(spec.steps) + 1):
        at = depth == d
        values[at] = walked.column(f"{column}{d}").fill_null(0).to_numpy()[at]
    return pa.array(values)


def _values_at(values: pa.ChunkedArray, rows: pa.Array) -> pa.Array:
    """values[rows]: through a dictionary, as the values are few and repeat (Arrow's take
    of strings from a chunked array first copies every chunk into one array)."""
    if values.null_count == len(values):  # no breakdown, or one read later (traits)
        return pa.nulls(len(rows), values.type)
    encoded = values.dictionary_encode()  # one dictionary for all chunks
    indices = pa.chunked_array([chunk.indices for chunk in encoded.chunks]).combine_chunks()
    return encoded.chunk(0).dictionary.take(indices.take(rows))


def _breakdown_join(db: duckdb.DuckDBPyConnection, spec: FunnelSpec) -> tuple[str, str]:
    """SQL: the breakdown value of a chosen attempt `f`, and the join that finds it."""
    if spec.breakdown is None:
        return "NULL::VARCHAR", ""
    if spec.breakdown.kind == "trait":
        # The trait as the person's latest event carrying it, up to the attributed event, says.
        path = json_path(spec.breakdown.name or "")
        db.execute(
            "CREATE TEMP TABLE funnel_traits AS SELECT person_key AS p, "
            f"{order_key('epoch_us(ts)', 'event_id')} AS k, "
            f"json_extract_string(traits, {path}) AS v FROM all_events "
            f"WHERE traits IS NOT NULL AND json_extract_string(traits, {path}) IS NOT NULL"
        )
        attributed = order_key("f.at", "f.ai")
        return "tr.v", f"ASOF LEFT JOIN funnel_traits tr ON f.p = tr.p AND {attributed} >= tr.k"
    if spec.ordering is not Ordering.unordered:
        return "f.wb", ""
    # Only events of the attributed step can be the attributed event; event ids are unique,
    # so the id finds it.
    step = spec.attribution.step if spec.attribution.kind == "step" else None
    events = f"(SELECT id, b FROM funnel_events WHERE s{step})" if step else "funnel_events"
    return "e.b", f"LEFT JOIN {events} e ON e.id = f.ai"


def _unordered_chosen(db: duckdb.DuckDBPyConnection, spec: FunnelSpec) -> None:
    """`funnel_chosen` for an unordered funnel (see the module's documentation)."""
    _unordered_best(db, spec)
    n = len(spec.steps)
    keys = [f"c.k{j}" for j in range(1, n + 1)]
    start = _by_depth(n, lambda d: _least(keys[:d]))
    # Step j is reached when the last of steps 1..j happened.
    reach = [f"(CASE WHEN c.d >= {j} THEN {_greatest(keys[:j])} END)" for j in range(1, n + 1)]
    attributed = _attributed_unordered(spec, start, reach)
    low = "18446744073709551615"
    db.execute(
        "CREATE TEMP VIEW funnel_chosen AS SELECT p, c.d AS d, "
        f"({start} >> 64)::BIGINT AS start, "
        + ", ".join(f"({r} >> 64)::BIGINT AS t{j}" for j, r in enumerate(reach, 1))
        + ", "
        + ", ".join(f"({r} & {low})::BIGINT AS i{j}" for j, r in enumerate(reach, 1))
        + f", ({attributed} >> 64)::BIGINT AS at, ({attributed} & {low})::BIGINT AS ai, "
        "NULL::VARCHAR AS wb FROM funnel_best"
    )


def _unordered_best(db: duckdb.DuckDBPyConnection, spec: FunnelSpec) -> None:
    # Every step event may start an attempt; from it, each step's first event at or after
    # it (one window pass finds them all) counts if it falls in the window.
    n = len(spec.steps)
    any_step = " OR ".join(f"s{j}" for j in range(1, n + 1))
    first = ", ".join(f"min(k) FILTER (WHERE s{j}) OVER after AS k{j}" for j in range(1, n + 1))
    inside = [
        f"coalesce((k{j} >> 64) - (k >> 64) <= {spec.window_us}, false)" for j in range(1, n + 1)
    ]
    depth = (
        "CASE " + " ".join(f"WHEN NOT {inside[j]} THEN {j}" for j in range(n)) + f" ELSE {n} END"
    )
    db.execute(
        f"CREATE TEMP TABLE funnel_tries AS SELECT * FROM (SELECT p, {depth} AS d, "
        + ", ".join(f"k{j}" for j in range(1, n + 1))
        + f" FROM (SELECT p, k, {first} FROM (SELECT p, {order_key('t', 'id')} AS k, "
        + ", ".join(f"s{j}" for j in range(1, n + 1))
        + f" FROM funnel_events WHERE {any_step}) WINDOW after AS "
        "(PARTITION BY p ORDER BY k ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING))) "
        "WHERE d > 0"
    )
    keys = [f"k{j}" for j in range(1, n + 1)]
    fields = ", ".join(f"'k{j}': CASE WHEN d >= {j} THEN k{j} END" for j in range(1, n + 1))
    done = _by_depth(n, lambda d: _greatest(keys[:d]), depth="d")
    start = _by_depth(n, lambda d: _least(keys[:d]), depth="d")
    # The furthest row, reached soonest; then the shortest attempt (the latest start).
    db.execute(
        f"CREATE TEMP TABLE funnel_best AS SELECT p, arg_min({{'d': d, {fields}}}, "
        f"{{'nd': -d, 'done': {done}, 'ns': -{start}}}) AS c FROM funnel_tries GROUP BY p"
    )


def _by_depth(n: int, expression: Callable[[int], str], *, depth: str = "c.d") -> str:
    """A CASE choosing `expression(d)` for the attempt's depth `d`."""
    cases = " ".join(f"WHEN {d} THEN {expression(d)}" for d in range(1, n + 1))
    return f"(CASE {depth} {cases} END)"


def _least(keys: list[str]) -> str:
    return keys[0] if len(keys) == 1 else f"least({', '.join(keys)})"


def _greatest(keys: list[str]) -> str:
    return keys[0] if len(keys) == 1 else f"greatest({', '.join(keys)})"


def _attributed_unordered(spec: FunnelSpec, start: str, reach: list[str]) -> str:
    """The order key of the event the breakdown value is taken from: the step's own event,
    the one that began the attempt, or the one that completed its last step."""
    attribution = spec.attribution
    if attribution.kind == "step":
        return f"c.k{attribution.step}"
    n = len(spec.steps)
    return start if attribution.kind == "first" else _by_depth(n, lambda d: reach[d - 1])


def _excluded(spec: FunnelSpec) -> str:
    if not spec.exclusions:
        return "false"
    n = len(spec.steps)
    event = order_key("x.t", "x.id")
    tests = []
    for i, exclusion in enumerate(spec.exclusions, 1):
        first, last = exclusion.from_step, exclusion.to_step or n
        after, before = (
            order_key(f"f.t{first}", f"f.i{first}"),
            order_key(f"f.t{last}", f"f.i{last}"),
        )
        tests.append(
            f"(x.x{i} AND f.d >= {first} AND {event} > {after} AND CASE WHEN f.d >= {last} "
            f"THEN {event} < {before} ELSE x.t <= f.start + {spec.window_us} END)"
        )
    flagged = " OR ".join(f"x{i}" for i in range(1, len(spec.exclusions) + 1))
    return (
        f"EXISTS (SELECT 1 FROM funnel_events x WHERE x.p = f.p AND ({flagged}) "
        f"AND ({' OR '.join(tests)}))"
    )
