"""Funnels: how many people went through a series of steps, on any channels, and where they
dropped out.

Each person counts once, with their best attempt: the one that reached the furthest step
(ties: the one that got there first, then the shortest). The exact definitions of the
orderings, the window, exclusions and breakdown attribution are in docs/analytics/funnels.md;
the SQL is in funnel_sql.py, the text forms of steps in funnel_spec.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import duckdb

from omnicx.analytics.funnel_results import (
    DroppedPeople,
    DroppedPerson,
    FunnelGroup,
    FunnelResult,
    HistogramBin,
    StepStats,
    TimeToConvert,
    histogram_edges,
)
from omnicx.analytics.funnel_spec import (
    Attribution,
    Breakdown,
    Exclusion,
    FunnelError,
    FunnelSpec,
    FunnelStep,
    Ordering,
    funnel_spec,
)
from omnicx.analytics.funnel_sql import attempts
from omnicx.analytics.lake import LakeSnapshot
from omnicx.analytics.phrases import analytics_wording as _say
from omnicx.analytics.scope import Scope

__all__ = [
    "Attribution",
    "Breakdown",
    "DroppedPeople",
    "Exclusion",
    "FunnelError",
    "FunnelResult",
    "FunnelSpec",
    "FunnelStep",
    "Ordering",
    "dropped_people",
    "funnel",
    "funnel_spec",
    "run_funnel",
]


def funnel(
    lake: LakeSnapshot,
    steps: Sequence[FunnelStep | str],
    *,
    window: timedelta = timedelta(days=30),
    ordering: Ordering | str = Ordering.ordered,
    exclusions: Sequence[Exclusion | str] = (),
    breakdown: Breakdown | str | None = None,
    breakdown_attribution: Attribution | str = "first",
    breakdown_limit: int = 25,
    scope: Scope | None = None,
) -> FunnelResult:
    """People per step of a funnel in `scope`, with conversion, drop-off and time to convert,
    split by `breakdown` (the `breakdown_limit` largest values, the rest as `other`).
    Steps and the rest may be given in their text forms (funnel_spec.py); raises
    FunnelError naming what is wrong."""
    spec = funnel_spec(
        steps,
        window=window,
        ordering=ordering,
        exclusions=exclusions,
        breakdown=breakdown,
        breakdown_attribution=breakdown_attribution,
        breakdown_limit=breakdown_limit,
    )
    return run_funnel(lake, spec, scope=scope)


def run_funnel(lake: LakeSnapshot, spec: FunnelSpec, *, scope: Scope | None = None) -> FunnelResult:
    """The funnel `spec` over the lake (see `funnel`)."""
    with lake.connect(scope) as db:
        attempts(db, spec)
        excluded = _scalar(db, "SELECT count(*) FROM funnel_people WHERE excluded")
        kept: list[str] = []
        keep_null = False
        if spec.breakdown is not None:
            kept, keep_null = _largest_values(db, spec.breakdown_limit)
        groups = _group_stats(db, spec, kept, keep_null)
    overall = groups.pop((None, False, True))
    return FunnelResult(
        steps=overall[0],
        time_to_convert=overall[1],
        ordering=spec.ordering.value,
        window=spec.window,
        excluded=excluded,
        breakdown=spec.breakdown.label if spec.breakdown else None,
        attribution=spec.attribution.label if spec.breakdown else None,
        groups=tuple(
            FunnelGroup(value, other, steps, time)
            for (value, other, _), (steps, time) in sorted(
                groups.items(),
                key=lambda item: (
                    item[0][1],
                    -item[1][0][0].count,
                    item[0][0] is None,
                    item[0][0] or "",
                ),
            )
        ),
    )


def dropped_people(
    lake: LakeSnapshot,
    steps: Sequence[FunnelStep | str],
    *,
    step: int,
    window: timedelta = timedelta(days=30),
    ordering: Ordering | str = Ordering.ordered,
    exclusions: Sequence[Exclusion | str] = (),
    scope: Scope | None = None,
) -> DroppedPeople:
    """The people whose best attempt reached step `step - 1` and not step `step` (2 to the
    number of steps), by profile id, with when they reached step `step - 1`."""
    spec = funnel_spec(steps, window=window, ordering=ordering, exclusions=exclusions)
    return run_dropped(lake, spec, step=step, scope=scope)


def run_dropped(
    lake: LakeSnapshot, spec: FunnelSpec, *, step: int, scope: Scope | None = None
) -> DroppedPeople:
    """The people who dropped at `step` of the funnel `spec` (see `dropped_people`)."""
    count = len(spec.steps)
    if not 2 <= step <= count:
        raise FunnelError(_say("dropped_step", low=2, high=count, step=step))
    with lake.connect(scope) as db:
        attempts(db, spec)
        rows = db.execute(
            f"SELECT pr.profile_id, f.t{step - 1} FROM funnel_people f JOIN "
            "(SELECT DISTINCT profile_id, person_key FROM people WHERE profile_id IS NOT NULL) pr "
            "ON pr.person_key = f.p "
            f"WHERE NOT f.excluded AND f.d = {step - 1} ORDER BY pr.profile_id"
        ).fetchall()
    return DroppedPeople(
        step=step,
        step_name=spec.steps[step - 1].name,
        previous_name=spec.steps[step - 2].name,
        people=tuple(DroppedPerson(str(p), _moment(t)) for p, t in rows),
    )


def _moment(microseconds: int) -> datetime:
    return datetime(1970, 1, 1) + timedelta(microseconds=microseconds)


def _scalar(db: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = db.execute(sql).fetchone()
    return int(row[0]) if row else 0


def _largest_values(db: duckdb.DuckDBPyConnection, limit: int) -> tuple[list[str], bool]:
    """The `limit` breakdown values with the most people (ties by value; no value last)."""
    counts = db.execute(
        "SELECT bv, count(*) AS n FROM funnel_people WHERE NOT excluded GROUP BY bv"
    ).fetchall()
    counts.sort(key=lambda row: (-row[1], row[0] is None, row[0] or ""))
    chosen = [value for value, _ in counts[:limit]]
    return [v for v in chosen if v is not None], None in chosen


_GroupKey = tuple[str | None, bool, bool]
"""(value, other, overall)."""


def _group_stats(
    db: duckdb.DuckDBPyConnection, spec: FunnelSpec, kept: list[str], keep_null: bool
) -> dict[_GroupKey, tuple[tuple[StepStats, ...], TimeToConvert]]:
    n = len(spec.steps)
    # The people counted, each with whether their value is one of those listed (read twice,
    # by two small queries: cheaper than storing a copy).
    grouped = (
        "(SELECT *, CASE WHEN bv IS NULL THEN ? ELSE list_contains(?::VARCHAR[], bv) END "
        "AS kept FROM funnel_people WHERE NOT excluded)"
    )
    if spec.breakdown is not None:
        group, sets, bin_sets = (
            "grouping(kept, gv) > 0, kept, gv",
            "((), (kept, gv))",
            "((bin), (kept, gv, bin))",
        )
    else:
        group, sets, bin_sets = "true, NULL, NULL", "(())", "((bin))"
    measures = []
    for j in range(1, n + 1):
        measures.append(f"count(*) FILTER (WHERE d >= {j})")
        since_previous = f"(t{j} - t{j - 1}) / 1e6" if j > 1 else "NULL::DOUBLE"
        since_start = f"(t{j} - start) / 1e6"
        for value in (since_previous, since_start):
            measures.append(f"median({value}) FILTER (WHERE d >= {j})")
            measures.append(f"avg({value}) FILTER (WHERE d >= {j})")
    rows = db.execute(
        f"SELECT {group}, {', '.join(measures)} FROM (SELECT *, CASE WHEN kept THEN bv END "
        f"AS gv FROM {grouped}) GROUP BY GROUPING SETS {sets}",
        [keep_null, kept],
    ).fetchall()
    edges = histogram_edges(int(spec.window.total_seconds()))
    bins = " ".join(f"WHEN total < {e * 1_000_000} THEN {i}" for i, e in enumerate(edges[1:-1]))
    bin_of = f"CASE {bins} ELSE {len(edges) - 2} END" if bins else "0"
    histogram_rows = db.execute(
        f"SELECT {group}, bin, count(*) FROM (SELECT *, CASE WHEN kept THEN bv END AS gv, "
        f"{bin_of} AS bin FROM (SELECT *, t{n} - start AS total "
        f"FROM {grouped} WHERE d = {n})) GROUP BY GROUPING SETS {bin_sets}",
        [keep_null, kept],
    ).fetchall()
    histograms: dict[_GroupKey, dict[int, int]] = {}
    for overall, kept_value, value, bin_index, people in histogram_rows:
        key = (None, False, True) if overall else (value, not kept_value, False)
        histograms.setdefault(key, {})[bin_index] = people
    result = {}
    for overall, kept_value, value, *numbers in rows:
        key = (None, False, True) if overall else (value, not kept_value, False)
        steps = _steps(spec, numbers)
        counts = histograms.get(key, {})
        time = TimeToConvert(
            people=steps[-1].count,
            median_seconds=steps[-1].median_seconds_from_start,
            average_seconds=steps[-1].average_seconds_from_start,
            histogram=tuple(
                HistogramBin(edges[i], edges[i + 1], counts.get(i, 0))
                for i in range(len(edges) - 1)
            ),
        )
        result[key] = (steps, time)
    if (None, False, True) not in result:  # nobody in scope: GROUPING SETS gives no row
        result[(None, False, True)] = (_steps(spec, [0, None, None, None, None] * n), _empty(edges))
    return result


def _steps(spec: FunnelSpec, numbers: Sequence[Any]) -> tuple[StepStats, ...]:
    steps = []
    first = previous = 0
    for j, step in enumerate(spec.steps, 1):
        count, median_previous, average_previous, median_start, average_start = numbers[
            (j - 1) * 5 : j * 5
        ]
        if j == 1:
            first = previous = count
        dropped = previous - count if j > 1 else 0
        steps.append(
            StepStats(
                index=j,
                name=step.name,
                event=step.event,
                count=count,
                conversion_from_start=count / first if first else None,
                conversion_from_previous=(count / previous if previous else None)
                if j > 1
                else None,
                dropped=dropped,
                drop_off=(dropped / previous if previous else None) if j > 1 else None,
                median_seconds_from_previous=median_previous,
                average_seconds_from_previous=average_previous,
                median_seconds_from_start=median_start,
                average_seconds_from_start=average_start,
            )
        )
        previous = count
    return tuple(steps)


def _empty(edges: list[int]) -> TimeToConvert:
    return TimeToConvert(
        0, None, None, tuple(HistogramBin(edges[i], edges[i + 1], 0) for i in range(len(edges) - 1))
    )
