"""Each person's best attempt at a funnel, computed set-based in DuckDB.

`attempts(db, spec)` leaves the temporary table `funnel_people`, one row per person who did
the first step: `p` (the person's key), `d` (steps reached), `start` (when the attempt began,
microseconds), `rk1`..`rkN` (the event that completed each step, as an order key; NULL past
`d`), `ak` (the event the breakdown value comes from), `bv` (the breakdown value) and
`excluded`. The definitions are in docs/analytics/funnels.md.

A person's events are ordered by time, then by event id for equal times: one HUGEINT order
key `k = time_in_microseconds * 2**64 + event_id` says both (`k >> 64` is the time; a
multiplication, as a left shift refuses the negative times of events before 1970).

How it stays fast (a 4-step funnel over 10M events): only the step and exclusion events are
read; people are keyed by the lake's 64-bit `person_key` (strings are slow to sort and join);
the
ordered funnel needs no pass per attempt: level j holds, for every event of step j, the chain
with the latest start that can reach it, found by one ASOF join with level j-1 (the nearest
earlier event that reached step j-1 carries the latest start, as starts only grow along a
person's events).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import duckdb

from omnicx.analytics.funnel_spec import FunnelSpec, Ordering, condition
from omnicx.analytics.scope import json_path

ORDER_KEY = "((epoch_us(ts)::HUGEINT * 18446744073709551616) + event_id)"
_TOUCHPOINT = "(active AND type IN ('track', 'page', 'screen'))"
"""What counts as another event between two steps of a strict funnel (beside step events)."""


def attempts(db: duckdb.DuckDBPyConnection, spec: FunnelSpec) -> None:
    """Creates `funnel_people` (see the module's documentation) from the `events` view;
    its `p` is the lake's `person_key`."""
    person = "person_key"
    _step_events(db, spec, person)
    n = len(spec.steps)
    keys = [f"c.k{j}" for j in range(1, n + 1)]
    if spec.ordering is Ordering.unordered:
        _unordered_best(db, spec)
        start = _by_depth(n, lambda d: _least(keys[:d]))
        reach = [f"(CASE WHEN c.d >= {j} THEN {_greatest(keys[:j])} END)" for j in range(1, n + 1)]
    else:
        _ordered_best(db, spec)
        start, reach = "c.k1", keys
    db.execute(
        f"CREATE TEMP TABLE funnel_chosen AS SELECT p, c.d AS d, ({start} >> 64)::BIGINT AS start, "
        f"{', '.join(f'{r} AS rk{j}' for j, r in enumerate(reach, 1))}, "
        f"{_attributed(spec, start, reach)} AS ak FROM funnel_best"
    )
    value, joined = "NULL::VARCHAR", ""
    if spec.breakdown is not None and spec.breakdown.kind == "trait":
        # The trait as the person's latest event carrying it, up to the attributed event, says.
        path = json_path(spec.breakdown.name or "")
        db.execute(
            f"CREATE TEMP TABLE funnel_traits AS SELECT {person} AS p, {ORDER_KEY} AS k, "
            f"json_extract_string(traits, {path}) AS v FROM all_events "
            f"WHERE traits IS NOT NULL AND json_extract_string(traits, {path}) IS NOT NULL"
        )
        value, joined = "tr.v", "ASOF LEFT JOIN funnel_traits tr ON f.p = tr.p AND f.ak >= tr.k"
    elif spec.breakdown is not None:
        # Only events of the attributed step can be the attributed event.
        step = spec.attribution.step if spec.attribution.kind == "step" else None
        if spec.attribution.kind == "first" and spec.ordering is not Ordering.unordered:
            step = 1
        events = f"(SELECT p, k, b FROM funnel_events WHERE s{step})" if step else "funnel_events"
        value, joined = "e.b", f"LEFT JOIN {events} e ON e.p = f.p AND e.k = f.ak"
    db.execute(
        f"CREATE TEMP TABLE funnel_people AS SELECT f.*, {value} AS bv, "
        f"{_excluded(spec)} AS excluded FROM funnel_chosen f {joined}"
    )


def _step_events(db: duckdb.DuckDBPyConnection, spec: FunnelSpec, person: str) -> None:
    """`funnel_events`: the step and exclusion events, with a flag per step (`s1`..) and
    exclusion (`x1`..), the breakdown value `b`, and for strict funnels `prev`, the key of
    the person's touchpoint just before."""
    parameters: list[Any] = []
    flags = [f"{condition(s, parameters)} AS s{j}" for j, s in enumerate(spec.steps, 1)]
    flags += [f"{condition(x.event, parameters)} AS x{i}" for i, x in enumerate(spec.exclusions, 1)]
    names = sorted({s.event for s in spec.steps} | {x.event.event for x in spec.exclusions})
    parameters.extend(names)
    named = f"event IN ({', '.join('?' for _ in names)})"
    any_flag = " OR ".join(f.rsplit(" AS ", 1)[1] for f in flags)
    rows = (
        f"SELECT {person} AS p, {ORDER_KEY} AS k, {', '.join(flags)}, {_breakdown_value(spec)} AS b"
    )
    if spec.ordering is Ordering.strict:
        # No other touchpoint may come between two steps, so the person's touchpoints are read
        # whole; `prev` is the key of the touchpoint or step event just before each one.
        step_flags = " OR ".join(f"s{j}" for j in range(1, len(spec.steps) + 1))
        source = (
            "SELECT * EXCLUDE (touch, sequenced), CASE WHEN sequenced THEN lag(k) OVER "
            "(PARTITION BY p, sequenced ORDER BY k) END AS prev FROM (SELECT *, touch OR "
            f"{step_flags} AS sequenced FROM ({rows}, {_TOUCHPOINT} AS touch FROM events "
            f"WHERE {named} OR {_TOUCHPOINT}))"
        )
    else:
        source = f"{rows} FROM events WHERE {named}"
    db.execute(
        f"CREATE TEMP TABLE funnel_events AS SELECT * FROM ({source}) WHERE {any_flag}", parameters
    )


def _breakdown_value(spec: FunnelSpec) -> str:
    if spec.breakdown is None or spec.breakdown.kind == "trait":
        return "NULL::VARCHAR"
    if spec.breakdown.kind == "property":
        return f"json_extract_string(properties, {json_path(spec.breakdown.name or '')})"
    return spec.breakdown.kind


def _ordered_best(db: duckdb.DuckDBPyConnection, spec: FunnelSpec) -> None:
    n = len(spec.steps)
    # Level j: p, k (the step-j event), s (the chain's start), k1..k{j-1} (its earlier steps).
    db.execute(
        "CREATE TEMP VIEW funnel_level1 AS SELECT p, k, k >> 64 AS s FROM funnel_events WHERE s1"
    )
    for j in range(2, n + 1):
        carried = ", ".join([*(f"q.k{i}" for i in range(1, j - 1)), f"q.k AS k{j - 1}"])
        if spec.ordering is Ordering.strict:
            source = f"(SELECT p, k, prev FROM funnel_events WHERE s{j}) x"
            join = f"JOIN funnel_level{j - 1} q ON x.p = q.p AND x.prev = q.k"
        else:
            source = f"(SELECT p, k FROM funnel_events WHERE s{j}) x"
            join = f"ASOF JOIN funnel_level{j - 1} q ON x.p = q.p AND x.k > q.k"
        db.execute(
            f"CREATE TEMP TABLE funnel_level{j} AS SELECT x.p, x.k, q.s, {carried} "
            f"FROM {source} {join} WHERE (x.k >> 64) - q.s <= {spec.window_us}"
        )

    # The deepest level wins; at it, the attempt that got there first. One HUGEINT says
    # both: (n - d) above bit 116, the order key (times within 2^51 us of 1970) below.
    # Who got no further than step 1 counts with their first step-1 event.
    def chain(d: int) -> str:
        keys = [f"k{j}" if j < d else "k" if j == d else "NULL::HUGEINT" for j in range(1, n + 1)]
        fields = ", ".join(f"'k{j}': {key}" for j, key in enumerate(keys, 1))
        return f"{{'d': {d}, {fields}}}"

    further = " UNION ALL ".join(
        f"SELECT p, k, {chain(d)} AS c FROM funnel_level{d}" for d in range(2, n + 1)
    )
    db.execute(
        f"CREATE TEMP TABLE funnel_best AS SELECT f.p, coalesce(b.c, {chain(1)}) AS c FROM "
        "(SELECT p, min(k) AS k FROM funnel_events WHERE s1 GROUP BY p) f LEFT JOIN "
        f"(SELECT p, arg_min(c, (({n} - c.d)::HUGEINT << 116) + k) AS c FROM ({further}) "
        "GROUP BY p) b ON b.p = f.p"
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
        + f" FROM (SELECT p, k, {first} FROM funnel_events WHERE {any_step} WINDOW after AS "
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


def _attributed(spec: FunnelSpec, start: str, reach: list[str]) -> str:
    """The order key of the event the breakdown value is taken from."""
    n = len(spec.steps)
    attribution = spec.attribution
    if attribution.kind == "step":
        return f"c.k{attribution.step}"
    if spec.ordering is not Ordering.unordered:
        return "c.k1" if attribution.kind == "first" else _by_depth(n, lambda d: f"c.k{d}")
    # Unordered: the event that began the attempt, or the one that completed its last step.
    return start if attribution.kind == "first" else _by_depth(n, lambda d: reach[d - 1])


def _excluded(spec: FunnelSpec) -> str:
    if not spec.exclusions:
        return "false"
    n = len(spec.steps)
    tests = []
    for i, exclusion in enumerate(spec.exclusions, 1):
        first, last = exclusion.from_step, exclusion.to_step or n
        tests.append(
            f"(x.x{i} AND f.d >= {first} AND x.k > f.rk{first} AND CASE WHEN f.d >= {last} "
            f"THEN x.k < f.rk{last} ELSE (x.k >> 64) <= f.start + {spec.window_us} END)"
        )
    flagged = " OR ".join(f"x{i}" for i in range(1, len(spec.exclusions) + 1))
    return (
        f"EXISTS (SELECT 1 FROM funnel_events x WHERE x.p = f.p AND ({flagged}) "
        f"AND ({' OR '.join(tests)}))"
    )
