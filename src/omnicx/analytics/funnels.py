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

import duckdb

from omnicx.analytics.funnel_results import (
    DroppedPeople,
    DroppedPerson,
    FunnelGroup,
    FunnelResult,
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
from omnicx.analytics.funnel_stats import OVERALL, group_stats
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
        groups = group_stats(db, spec, kept, keep_null)
    overall = groups.pop(OVERALL)
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
    rows = db.execute(sql).fetchall()  # to the end: DuckDB refuses the next query otherwise
    return int(rows[0][0]) if rows else 0


def _largest_values(db: duckdb.DuckDBPyConnection, limit: int) -> tuple[list[str], bool]:
    """The `limit` breakdown values with the most people (ties by value; no value last)."""
    counts = db.execute(
        "SELECT bv, count(*) AS n FROM funnel_people WHERE NOT excluded GROUP BY bv"
    ).fetchall()
    counts.sort(key=lambda row: (-row[1], row[0] is None, row[0] or ""))
    chosen = [value for value, _ in counts[:limit]]
    return [v for v in chosen if v is not None], None in chosen
