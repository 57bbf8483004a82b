"""Counting from `stage_history` (stage_queries.build_history): people per stage at the end
of the range and entering during it, per period, the flows and the moves between stages.
Small queries over a table of a few rows per person; the sums per period are done here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

import duckdb


def _people_by(
    db: duckdb.DuckDBPyConnection, keys: Sequence[str], where: str, parameters: Sequence[Any]
) -> list[tuple[Any, ...]]:
    """People among the history rows matching `where`, by `keys` (expressions). Only people
    who came back from churn can have two alike rows: a distinct count for them alone costs
    a tenth of one over everybody."""
    named = ", ".join(f"{key} AS k{n}" for n, key in enumerate(keys))
    group = ", ".join(f"k{n}" for n in range(len(keys)))
    rows = db.execute(
        f"""
        SELECT {group}, sum(people) FROM (
            SELECT {named}, count(*) AS people FROM stage_history
            WHERE {where} AND NOT cycled GROUP BY ALL
            UNION ALL
            SELECT {named}, count(DISTINCT pid) AS people FROM stage_history
            WHERE {where} AND cycled GROUP BY ALL
        ) GROUP BY ALL ORDER BY ALL NULLS FIRST
        """,
        [*parameters, *parameters],
    ).fetchall()
    return [(*row[:-1], int(row[-1])) for row in rows]


Counts = dict[int, int]
"""Stage index -> people."""
Moves = list[tuple[int | None, int, int]]
"""(stage index before or None, stage index after, people)."""


def counts(db: duckdb.DuckDBPyConnection, start_at: datetime | None) -> tuple[Counts, Counts]:
    """People per stage at the end (the rows nobody left) and entering during the range."""
    now = db.execute(
        "SELECT idx, count(*) FROM stage_history WHERE left_at IS NULL GROUP BY idx"
    ).fetchall()
    entered = _people_by(db, ["idx"], "entered_at >= ?", [start_at or datetime.min])
    return dict(now), dict(entered)


def periods(
    db: duckdb.DuckDBPyConnection,
    stages: int,
    period: str,
    start_at: datetime | None,
    as_of: datetime,
) -> list[tuple[date, int, int, int]]:
    """Per period of the range and stage index: people in the stage at the period's end (a row
    counts from the period it began in until the one it was left in) and people entering it
    during the period, as (first day, stage index, people, entered)."""
    found = db.execute("SELECT min(entered_at) FROM stage_history").fetchone()
    first: datetime | None = start_at or (found[0] if found else None)
    if first is None or first > as_of:
        return []
    bucket = f"CAST(date_trunc('{period}', greatest({{column}}, ?)) AS DATE)"
    entering = bucket.format(column="entered_at")
    began = db.execute(
        f"SELECT {entering}, idx, count(*) FROM stage_history GROUP BY ALL",
        [first],
    ).fetchall()
    left = db.execute(
        f"SELECT {bucket.format(column='left_at')}, idx, count(*) FROM stage_history "
        "WHERE left_at IS NOT NULL GROUP BY ALL",
        [first],
    ).fetchall()
    entered = _people_by(db, [entering, "idx"], "entered_at >= ?", [first, first])
    change: dict[tuple[date, int], int] = {}
    for day, idx, n in began:
        change[(day, idx)] = change.get((day, idx), 0) + n
    for day, idx, n in left:
        change[(day, idx)] = change.get((day, idx), 0) - n
    entries = {(day, idx): n for day, idx, n in entered}
    out: list[tuple[date, int, int, int]] = []
    running = [0] * stages
    for day in period_starts(period, first.date(), as_of.date()):
        for i in range(stages):
            running[i] += change.get((day, i), 0)
            out.append((day, i, running[i], entries.get((day, i), 0)))
    return out


def period_starts(period: str, first: date, last: date) -> list[date]:
    """The first day of every period from the one holding `first` to the one holding `last`
    (weeks start on Monday)."""
    if period == "week":
        first -= timedelta(days=first.weekday())
    elif period == "month":
        first = first.replace(day=1)
    days: list[date] = []
    while first <= last:
        days.append(first)
        if period == "day":
            first += timedelta(days=1)
        elif period == "week":
            first += timedelta(weeks=1)
        else:
            first = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return days


def flows(db: duckdb.DuckDBPyConnection, start_at: datetime | None) -> Moves:
    """People by (stage just before the range or None, stage at its end)."""
    since = start_at or datetime.min
    rows = db.execute(
        """
        WITH before AS (
            SELECT pid, idx FROM stage_history
            WHERE entered_at < ? AND (left_at IS NULL OR left_at >= ?)
        )
        SELECT b.idx, e.idx, count(*) FROM stage_history e LEFT JOIN before b USING (pid)
        WHERE e.left_at IS NULL GROUP BY ALL ORDER BY 1 NULLS FIRST, 2
        """,
        [since, since],
    ).fetchall()
    return [(a, b, n) for a, b, n in rows]


def transitions(db: duckdb.DuckDBPyConnection, start_at: datetime | None) -> Moves:
    """People who made each move (stage before or None, stage after) during the range."""
    rows = _people_by(db, ["from_idx", "idx"], "entered_at >= ?", [start_at or datetime.min])
    return [(a, b, n) for a, b, n in rows]
