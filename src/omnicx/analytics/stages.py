"""Journey stages: each profile's stage and stage history; counts and flows between stages.

Stages come from the stage model (stage_settings.py; default awareness → consideration →
purchase → retention → advocacy, plus churned) and are computed from the lake each time, so
they are right after a merge or an unmerge without any stored state:

- a person enters a funnel stage when one of its rules fires, unless a later stage fired
  before; funnel stages never move backward;
- churned: no activity (an active event or a stage entry) for `churn.after_days` days once
  `churn.from` or a later stage was reached; the next active event brings the person back to
  the furthest stage reached by then (which that event may advance);
- everything is evaluated as of one instant: the end of the date range, never later than the
  newest event in the lake (`lake_as_of`). The date range picks what the report shows
  (entries, periods, flows); a person's history always starts at their first event. Filters
  (`--where`) restrict the events the rules and the churn clock see.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

from omnicx.analytics import stage_counting as counting
from omnicx.analytics.lake import LakeSnapshot
from omnicx.analytics.scope import Scope
from omnicx.analytics.scratch import scratch
from omnicx.analytics.stage_queries import build_history
from omnicx.analytics.stage_results import (
    PERIODS,
    Period,
    PeriodCount,
    StageCount,
    StageEntry,
    StageFlows,
    StageHistory,
    StageReport,
    Transition,
)
from omnicx.analytics.stage_settings import NEW, StageModel, default_model

__all__ = [
    "PERIODS",
    "Period",
    "PeriodCount",
    "StageCount",
    "StageEntry",
    "StageFlows",
    "StageHistory",
    "StageReport",
    "Transition",
    "lake_as_of",
    "newest_event",
    "stage_counts",
    "stage_histories",
    "stage_history",
    "stage_of",
    "stage_report",
]

_TICK = timedelta(microseconds=1)


def newest_event(lake: LakeSnapshot) -> datetime | None:
    """When the newest event in the lake happened (None: an empty lake)."""
    days = lake.manifest.days()
    if not days:
        return None
    files = [str(lake.path / p) for p in lake.manifest.files_between(days[-1], days[-1])]
    with scratch() as db:
        row = db.execute("SELECT max(ts) FROM read_parquet(?)", [files]).fetchone()
    return row[0] if row else None


def lake_as_of(lake: LakeSnapshot, scope: Scope | None = None) -> datetime | None:
    """The instant stages are evaluated at: the end of the scope's range, or the newest event
    in the lake when that is earlier (or there is no end); None for an empty lake."""
    return _as_of(newest_event(lake), scope)


def _as_of(newest: datetime | None, scope: Scope | None) -> datetime | None:
    end = scope.end_before if scope else None
    if newest is None or end is None:
        return newest
    return min(newest, end - _TICK)


def stage_history(
    lake: LakeSnapshot,
    person: str,
    *,
    model: StageModel | None = None,
    scope: Scope | None = None,
    as_of: datetime | None = None,
) -> StageHistory | None:
    """The stages a profile went through (None: no stage yet, or no such profile in the lake).
    `scope` lends its filters and its end (`as_of` default); its start does not matter."""
    scope = replace(scope or Scope(), people=frozenset({person}))
    return stage_histories(lake, scope, model=model, as_of=as_of).get(person)


def stage_histories(
    lake: LakeSnapshot,
    scope: Scope | None = None,
    *,
    model: StageModel | None = None,
    as_of: datetime | None = None,
) -> dict[str, StageHistory]:
    """The stage history of every profile in the scope's people (all of them when None: meant
    for a segment or an export, it holds a few rows per person), by profile id."""
    scope = scope or Scope()
    newest = newest_event(lake)
    as_of = as_of or _as_of(newest, scope)
    if as_of is None:
        return {}
    model = model or default_model()
    names = model.names
    with lake.connect() as db:
        build_history(db, model, as_of, scope.filters, scope.people, newest=newest)
        rows = db.execute(
            """
            SELECT p.person, h.idx, h.entered_at, h.left_at
            FROM stage_history h JOIN (SELECT DISTINCT pid, person FROM stage_people) p
              ON p.pid = h.pid
            ORDER BY p.person, h.entered_at, h.idx
            """
        ).fetchall()
    found: dict[str, list[StageEntry]] = {}
    for person, idx, entered_at, left_at in rows:
        found.setdefault(person, []).append(StageEntry(names[idx], entered_at, left_at))
    return {person: StageHistory(person, as_of, tuple(e)) for person, e in found.items()}


def stage_of(
    lake: LakeSnapshot,
    person: str,
    *,
    model: StageModel | None = None,
    scope: Scope | None = None,
    as_of: datetime | None = None,
) -> str | None:
    """The stage a profile is in (None: no stage yet, or no such profile in the lake)."""
    history = stage_history(lake, person, model=model, scope=scope, as_of=as_of)
    return history.stage if history else None


def stage_report(
    lake: LakeSnapshot,
    scope: Scope | None = None,
    *,
    model: StageModel | None = None,
    period: Period | None = None,
    as_of: datetime | None = None,
    threads: int | None = None,
) -> StageReport:
    """Counts per stage at the end of the scope's range and entries during it; with `period`,
    the same per day, week or month; the flows and transitions between stages in the range."""
    scope = scope or Scope()
    model = model or default_model()
    names = model.names
    newest = newest_event(lake)
    as_of = as_of or _as_of(newest, scope)
    if as_of is None:
        empty = tuple(StageCount(n, 0, 0.0, 0) for n in names)
        return StageReport(scope.start, scope.end, None, names, empty, period)
    start_at = scope.start_at
    # The views' own date range and filters do not apply: stages read all of history.
    with lake.connect(threads=threads) as db:
        build_history(db, model, as_of, scope.filters, scope.people, newest=newest)
        now, entered = counting.counts(db, start_at)
        by_period = counting.periods(db, len(names), period, start_at, as_of) if period else []
        flows = counting.flows(db, start_at)
        moves = counting.transitions(db, start_at)
    total = sum(now.values())
    counts = tuple(
        StageCount(n, now.get(i, 0), now.get(i, 0) / total if total else 0.0, entered.get(i, 0))
        for i, n in enumerate(names)
    )
    return StageReport(
        start=scope.start,
        end=scope.end,
        as_of=as_of,
        stages=names,
        counts=counts,
        period=period,
        periods=tuple(PeriodCount(day, names[i], n, e) for day, i, n, e in by_period),
        flows=StageFlows(_transitions(names, flows), names),
        transitions=_transitions(names, moves),
    )


def _transitions(names: tuple[str, ...], moves: counting.Moves) -> tuple[Transition, ...]:
    return tuple(Transition(NEW if a is None else names[a], names[b], n) for a, b, n in moves)


def stage_counts(
    lake: LakeSnapshot,
    at: date | datetime,
    *,
    model: StageModel | None = None,
    scope: Scope | None = None,
) -> dict[str, int]:
    """People in each stage at an instant (a date: the end of that day), as a dict."""
    if not isinstance(at, datetime):
        at = datetime.combine(at + timedelta(days=1), datetime.min.time()) - _TICK
    newest = newest_event(lake)
    as_of = at if newest is None else min(at, newest)
    report = stage_report(lake, scope, model=model, as_of=as_of)
    return {c.stage: c.people for c in report.counts}
