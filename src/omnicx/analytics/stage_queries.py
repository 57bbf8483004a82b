"""The SQL behind journey stages: every person's stage history as one DuckDB table.

`build_history(db, model, as_of, filters, people)` leaves in `db` (a lake connection) the
temporary tables `stage_people` (anchor, person, pid: a number per person) and
`stage_history`: one row per stage a person entered, in order — pid, idx (the stage's place in
`model.names`), entered_at, left_at (when the next row began; NULL for the stage they are in at
`as_of`), from_idx (the stage before; NULL for their first) and cycled (the person came back
from churn: only such people can enter a stage twice). Set-based, in four steps:

1. one pass over the events: per person, when each stage's rule first fired;
2. the funnel entries: a stage counts when no later stage fired strictly before it, so the
   entries move forward only (ties: every stage reached at that instant, in funnel order);
3. churn spells: from the first entry at `churn.from` or later, the gaps longer than
   `after_days` between activity points (active events and entries);
4. returns: a churned person who comes back re-enters the furthest stage reached by then.

Speed: the events are read from `lake_raw` and grouped by their anchor (an integer) before
they meet the `people` map — the same attribution as the `all_events` view, but the
10-million-row work happens on integers, and per person only on small tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import duckdb

from omnicx.analytics.scope import Filter
from omnicx.analytics.stage_settings import StageModel, StageRule


def build_history(
    db: duckdb.DuckDBPyConnection,
    model: StageModel,
    as_of: datetime,
    filters: Sequence[Filter] = (),
    people: frozenset[str] | None = None,
    *,
    newest: datetime | None = None,
) -> None:
    """Creates `stage_people` and `stage_history` (see the module) for the events up to
    `as_of` (inclusive) matching `filters`, of `people` (None: everybody). `newest`: the
    lake's newest event time, when known (no event is then left out by time)."""
    _people(db, people)
    stages = len(model.stages)
    reading = _Reading(
        until=as_of if newest is None or as_of < newest else None,
        filters=tuple(filters),
        restricted=people is not None,
    )
    _first_fires(db, model, reading)
    later = [f"least({', '.join(f's{j}' for j in range(i + 1, stages))})" for i in range(stages)]
    entries = " UNION ALL ".join(
        f"SELECT pid, {i} AS idx, s{i} AS entered_at FROM stage_first WHERE s{i} IS NOT NULL"
        + (f" AND (s{i} <= {later[i]} OR {later[i]} IS NULL)" if i < stages - 1 else "")
        for i in range(stages)
    )
    db.execute(f"CREATE TEMP TABLE stage_entries AS {entries}")
    if model.churn is None:
        db.execute(
            "CREATE TEMP TABLE stage_spells"
            "(pid BIGINT, churned_at TIMESTAMP, returned_at TIMESTAMP)"
        )
    else:
        _churn_spells(db, model, as_of, reading)
    churned = len(model.stages)
    # A return at the instant of an entry is that entry already (it is an activity point).
    db.execute(
        f"""
        CREATE TEMP TABLE stage_history AS
        WITH changes AS (
            SELECT pid, idx, entered_at FROM stage_entries
            UNION ALL
            SELECT pid, {churned} AS idx, churned_at AS entered_at FROM stage_spells
            UNION ALL
            SELECT s.pid, max(e.idx) AS idx, s.returned_at AS entered_at
            FROM stage_spells s JOIN stage_entries e
              ON e.pid = s.pid AND e.entered_at <= s.returned_at
            WHERE s.returned_at IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM stage_entries x
                              WHERE x.pid = s.pid AND x.entered_at = s.returned_at)
            GROUP BY s.pid, s.returned_at
        )
        SELECT pid, idx, entered_at,
               lead(entered_at) OVER w AS left_at,
               lag(idx) OVER w AS from_idx,
               pid IN (SELECT pid FROM stage_spells WHERE returned_at IS NOT NULL) AS cycled
        FROM changes
        WINDOW w AS (PARTITION BY pid ORDER BY entered_at, idx)
        """
    )


def _people(db: duckdb.DuckDBPyConnection, people: frozenset[str] | None) -> None:
    """`stage_people`: anchor -> person (profile id) and pid, for known people."""
    db.execute("CREATE TEMP TABLE stage_scope(person VARCHAR)")
    if people:
        db.executemany("INSERT INTO stage_scope VALUES (?)", [(p,) for p in sorted(people)])
    only = " AND profile_id IN (SELECT person FROM stage_scope)" if people is not None else ""
    # A person's number: their smallest anchor (cheaper than ranking the profile ids).
    db.execute(
        f"""
        CREATE TEMP TABLE stage_people AS
        WITH known AS (SELECT anchor, profile_id FROM people WHERE profile_id IS NOT NULL{only}),
        numbers AS (SELECT profile_id, min(anchor) AS pid FROM known GROUP BY profile_id)
        SELECT k.anchor, k.profile_id AS person, n.pid
        FROM known k JOIN numbers n ON n.profile_id = k.profile_id
        """
    )


def _rule_condition(rule: StageRule, parameters: list[Any]) -> str:
    """The rule's test of one event, cheapest conditions first (AND stops early)."""
    parts = [] if rule.include_passive else ["active"]
    for column, values in (
        ("event", rule.events),
        ("type", rule.types),
        ("channel", rule.channels),
    ):
        if values:
            parts.append(f"{column} IN ({', '.join('?' for _ in values)})")
            parameters.extend(values)
    parts.extend(f.sql(parameters) for f in (*rule.where, *rule.traits))
    return "(" + " AND ".join(parts or ["true"]) + ")"


@dataclass(frozen=True, slots=True)
class _Reading:
    """Which events of `lake_raw` count."""

    until: datetime | None
    """Up to this instant, inclusive (None: all of them)."""
    filters: tuple[Filter, ...]
    restricted: bool
    """Only the anchors in `stage_people` (a few people's: the whole lake holds more)."""

    def condition(self, parameters: list[Any]) -> str:
        """The SQL condition, adding its parameters."""
        parts: list[str] = []
        if self.until is not None:
            parts.append("ts <= ?")
            parameters.append(self.until)
        parts.extend(f.sql(parameters) for f in self.filters)
        if self.restricted:
            parts.append("anchor IN (SELECT anchor FROM stage_people)")
        return " AND ".join(parts or ["true"])


def _first_fires(db: duckdb.DuckDBPyConnection, model: StageModel, reading: _Reading) -> None:
    """`stage_first`: pid, s0..sK — when each stage's rule first fired (NULL: never).

    Grouped by anchor first (an integer: cheap), then per person: the first time is the
    earliest over the person's anchors, the count-th time the count-th of the anchors'
    `count` earliest together. Rules on properties or traits that name their events get a
    pass of their own over those events only: reading the JSON columns of every event costs
    more than everything else together."""
    present = {row[0] for row in db.execute("SELECT DISTINCT event FROM lake_raw").fetchall()}
    # One column per distinct condition: a first and a second order share `min(ts, 2)`.
    columns: dict[StageRule, tuple[int, int]] = {}  # condition -> (column, most counted)
    rules: list[tuple[int, StageRule]] = []  # (stage, rule) that can fire
    for i, stage in enumerate(model.stages):
        for rule in stage.rules:
            # A rule naming only events the lake never saw cannot fire: nothing to read.
            if rule.events and not present.intersection(rule.events):
                continue
            rule = replace(rule, events=tuple(e for e in rule.events if e in present))
            key = replace(rule, count=1)
            column, most = columns.get(key, (len(columns), 1))
            columns[key] = (column, max(most, rule.count))
            rules.append((i, rule))
    wanted = [(n, replace(key, count=most)) for key, (n, most) in columns.items()]
    detailed = [(n, r) for n, r in wanted if r.events and (r.where or r.traits)]
    plain = [(n, r) for n, r in wanted if not (r.events and (r.where or r.traits))]
    passes = [_per_anchor(p, reading, only_named=p is detailed) for p in (plain, detailed) if p]
    per_person: list[str] = []
    for i in range(len(model.stages)):
        fired = []
        for index, rule in rules:
            if index == i:
                n, most = columns[replace(rule, count=1)]
                fired.append(
                    f"min(r{n})" if most == 1
                    else f"list_extract(list_sort(flatten(list(r{n}))), {rule.count})"
                )  # fmt: skip
        per_person.append(
            f"least({', '.join(fired)}) AS s{i}" if fired else f"NULL::TIMESTAMP AS s{i}"
        )
    anchors = " UNION ALL BY NAME ".join(f"({sql})" for sql, _ in passes) or (
        "SELECT NULL::BIGINT AS anchor WHERE false"
    )
    db.execute(
        f"""
        CREATE TEMP TABLE stage_first AS
        SELECT p.pid, {", ".join(per_person)}
        FROM ({anchors}) a JOIN stage_people p ON p.anchor = a.anchor
        GROUP BY p.pid
        """,
        [value for _, values in passes for value in values],
    )


def _per_anchor(
    rules: Sequence[tuple[int, StageRule]], reading: _Reading, *, only_named: bool
) -> tuple[str, list[Any]]:
    """A query giving, per anchor, column r<n> for each rule n: the first time it fired (the
    `count` first times, for a count rule); `only_named`: reading only the events the rules
    name (each rule names some)."""
    parameters: list[Any] = []
    columns = ["anchor"]
    for n, rule in rules:
        condition = _rule_condition(rule, parameters)
        times = "min(ts)" if rule.count == 1 else f"min(ts, {rule.count})"
        columns.append(f"{times} FILTER (WHERE {condition}) AS r{n}")
    scope: list[Any] = []
    where = reading.condition(scope)
    if not only_named:
        source = f"(SELECT * FROM lake_raw WHERE {where})"
        return f"SELECT {', '.join(columns)} FROM {source} GROUP BY anchor", parameters + scope
    # One branch per name: only `event = ?` reaches the Parquet reader, which then decodes
    # the other columns of the matching rows alone (an IN list or an OR does not).
    names = sorted({e for _, rule in rules for e in rule.events})
    branches = [f"SELECT * FROM lake_raw WHERE event = ? AND {where}" for _ in names]
    for name in names:
        parameters.extend([name, *scope])
    return (
        f"SELECT {', '.join(columns)} FROM ({' UNION ALL '.join(branches)}) GROUP BY anchor",
        parameters,
    )


def _churn_spells(
    db: duckdb.DuckDBPyConnection, model: StageModel, as_of: datetime, reading: _Reading
) -> None:
    """`stage_spells`: pid, churned_at, returned_at (NULL: still churned at `as_of`).

    The activity points are the person's active events and stage entries from the first
    entry at `churn.from` or later on; a spell begins `after_days` after a point followed by
    none for longer than that."""
    assert model.churn is not None
    start = model.index(model.churn.from_stage)
    days = model.churn.after_days
    parameters: list[Any] = []
    where = replace(reading, restricted=False).condition(parameters)
    parameters.append(as_of)
    db.execute(
        f"""
        CREATE TEMP TABLE stage_spells AS
        WITH reached AS (
            SELECT pid, min(entered_at) AS reached_at FROM stage_entries
            WHERE idx >= {start} GROUP BY pid
        ),
        anchors AS (
            SELECT p.anchor, r.pid, r.reached_at
            FROM reached r JOIN stage_people p ON p.pid = r.pid
        ),
        points AS (
            SELECT a.pid, e.ts AS point_at
            FROM lake_raw e JOIN anchors a ON a.anchor = e.anchor
            WHERE e.active AND e.ts >= a.reached_at AND {where}
            UNION ALL
            SELECT e.pid, e.entered_at AS point_at
            FROM stage_entries e JOIN reached r ON r.pid = e.pid
            WHERE e.entered_at >= r.reached_at
        ),
        gaps AS (
            SELECT pid, point_at,
                   lead(point_at) OVER (PARTITION BY pid ORDER BY point_at) AS next_at
            FROM points
        )
        SELECT pid, point_at + INTERVAL {days} DAY AS churned_at, next_at AS returned_at
        FROM gaps
        WHERE CASE WHEN next_at IS NULL THEN point_at + INTERVAL {days} DAY <= ?
                   ELSE next_at > point_at + INTERVAL {days} DAY END
        """,
        parameters,
    )
