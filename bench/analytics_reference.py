"""The journey analyses written again by hand, twice: DuckDB SQL straight on the lake's Parquet
files (written for speed), and pandas (columns read with pyarrow). bench/analytics.py times
them beside omnicx's functions and checks that the three answers agree.

Every function returns the analysis in a plain canonical form (dicts of tuples) that
bench/analytics.py also builds from omnicx's reports. People are the profiles the people
file attributes anchors to (newest row per anchor), as the lake's views do; the SQL keys them
by a 64-bit hash of the profile id (the bench checks there is no collision), pandas by
`factorize` codes.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import duckdb

from omnicx.analytics.lake import LakeSnapshot

ORDER = "Order Completed"
PERIODS = 12
CHURN_DAYS = 90
CHANNEL_CAP = 4
TOUCHPOINT_EDGES = (1, 5, 10, 20, 50)


@dataclass(frozen=True)
class LakeFiles:
    """The files of one lake snapshot, and its span."""

    events: list[str]
    people: list[str]
    first: date
    last: date

    @classmethod
    def of(cls, lake: LakeSnapshot) -> LakeFiles:
        days = lake.manifest.days()
        return cls(
            lake.event_files(),
            [str(lake.path / p) for p in lake.manifest.people_files],
            days[0],
            days[-1],
        )

    @property
    def base_month(self) -> int:
        """year * 12 + month of the lake's first month (month indexes count from it)."""
        return self.first.year * 12 + self.first.month

    def month(self, index: int) -> date:
        """The first day of the month `index` months after the lake's first."""
        months = self.base_month - 1 + index
        return date(months // 12, months % 12 + 1, 1)


# --------------------------------------------------------------------------- DuckDB SQL


def _list(paths: list[str]) -> str:
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


def sql_people(files: LakeFiles) -> str:
    """SQL: anchor → person (a BIGINT key) for the anchors of known people."""
    if len(files.people) == 1 and files.people[0].endswith("c.parquet"):
        people = f"SELECT anchor, profile_id FROM read_parquet({_list(files.people)})"
    else:
        people = (
            "SELECT anchor, arg_max(profile_id, seq) AS profile_id "
            f"FROM read_parquet({_list(files.people)}) GROUP BY anchor"
        )
    return f"SELECT anchor, hash(profile_id) AS person FROM ({people}) WHERE profile_id IS NOT NULL"


def sql_events(files: LakeFiles, columns: str, where: str = "true") -> str:
    """SQL: the lake's events of known people, `person` a BIGINT key, with `columns`."""
    return (
        f"SELECT p.person, {columns} FROM read_parquet({_list(files.events)}) e "
        f"JOIN people p ON p.anchor = e.anchor WHERE {where}"
    )


def sql_by_person(files: LakeFiles, per_anchor: str, per_person: str, where: str = "true") -> str:
    """SQL: `per_anchor` aggregates grouped by anchor over the events matching `where`, then
    `per_person` aggregates of those grouped by person: the 10 million rows are grouped by
    an integer before they meet the people map (the aggregates must compose)."""
    return (
        f"SELECT {per_person} FROM (SELECT e.anchor, {per_anchor} "
        f"FROM read_parquet({_list(files.events)}) e WHERE {where} GROUP BY e.anchor) a "
        "JOIN people p ON p.anchor = a.anchor GROUP BY p.person"
    )


def connect(files: LakeFiles, threads: int) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB with the table `people` (anchor, person). Materialised first:
    in a subquery the optimiser hashes the profile id after the join, once per event."""
    db = duckdb.connect(config={"threads": threads})
    db.execute(f"CREATE TEMP TABLE people AS {sql_people(files)}")
    return db


def _month_sql(files: LakeFiles) -> str:
    return f"(year(e.ts) * 12 + month(e.ts) - {files.base_month})"


def _mask_months(mask: int) -> list[int]:
    return [i for i in range(64) if mask >> i & 1]


def retention_from_masks(files: LakeFiles, rows: Any) -> dict[tuple[date, str, int], int]:
    """Cohort counts from (months-active bitmask, first channel, people) rows."""
    out: Counter[tuple[date, str, int]] = Counter()
    for mask, channel, people in rows:
        months = _mask_months(int(mask))
        cohort = months[0]
        for m in months:
            if m - cohort <= PERIODS:
                out[(files.month(cohort), channel, m - cohort)] += int(people)
    return dict(out)


def retention_sql(files: LakeFiles, threads: int) -> dict[tuple[date, str, int], int]:
    """Monthly first-time retention by first channel, any active event (one pass: a bitmask
    of active months and the first event per anchor, then per person)."""
    per_person = sql_by_person(
        files,
        f"bit_or(1::UBIGINT << {_month_sql(files)}) AS months, "
        "min({'ts': e.ts, 'channel': e.channel}) AS entry",
        "bit_or(a.months) AS months, min(a.entry) AS entry",
        "e.active",
    )
    query = f"SELECT months, entry.channel, count(*) FROM ({per_person}) GROUP BY ALL"
    with connect(files, threads) as db:
        return retention_from_masks(files, db.execute(query).fetchall())


def lifecycle_from_masks(files: LakeFiles, rows: Any) -> dict[tuple[date, str], int]:
    """Lifecycle counts per month from (months-active bitmask, people) rows."""
    last = (files.last.year * 12 + files.last.month) - files.base_month
    out: Counter[tuple[date, str]] = Counter()
    for mask, people in rows:
        months = set(_mask_months(int(mask)))
        first = min(months)
        for i in range(last + 1):
            if i in months:
                status = "new" if i == first else "returning" if i - 1 in months else "resurrecting"
                out[(files.month(i), status)] += int(people)
            elif i - 1 in months:
                out[(files.month(i), "dormant")] -= int(people)
    return dict(out)


def lifecycle_sql(files: LakeFiles, threads: int) -> dict[tuple[date, str], int]:
    """Monthly lifecycle, any active event (a bitmask of active months per person)."""
    per_person = sql_by_person(
        files,
        f"bit_or(1::UBIGINT << {_month_sql(files)}) AS months",
        "bit_or(a.months) AS months",
        "e.active",
    )
    query = f"SELECT months, count(*) FROM ({per_person}) GROUP BY ALL"
    with connect(files, threads) as db:
        return lifecycle_from_masks(files, db.execute(query).fetchall())


def churn_cutoff(files: LakeFiles) -> datetime:
    """Inactive since this instant: churned (the lake's last day is "now")."""
    return datetime.combine(files.last + timedelta(days=1), datetime.min.time()) - timedelta(
        days=CHURN_DAYS
    )


def churn_sql(files: LakeFiles, threads: int) -> dict[tuple[str, str], tuple[int, int]]:
    """Per last touchpoint (channel, event): churned and retained people."""
    cutoff = churn_cutoff(files).isoformat(sep=" ")
    per_person = sql_by_person(
        files,
        "max({'ts': e.ts, 'channel': e.channel, 'event': coalesce(e.event, e.type)}) AS last",
        "max(a.last) AS last",
        "e.active",
    )
    query = f"""
        SELECT last.channel, last.event, last.ts < TIMESTAMP '{cutoff}', count(*)
        FROM ({per_person}) GROUP BY ALL
    """
    with connect(files, threads) as db:
        return churn_counts(db.execute(query).fetchall())


def churn_counts(rows: Any) -> dict[tuple[str, str], tuple[int, int]]:
    out: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for channel, event, churned, people in rows:
        out[(channel, event)][0 if churned else 1] += int(people)
    return {k: (c, r) for k, (c, r) in out.items()}


ChannelRow = tuple[int, int, int, int, float]


def channels_sql(files: LakeFiles, threads: int) -> dict[tuple[str, date | None], ChannelRow]:
    """Per channel and month, and per channel: reach, engaged, converted, orders, revenue."""
    order = f"e.event = '{ORDER}'"
    query = f"""
        WITH a AS (
            SELECT e.channel, {_month_sql(files)} AS m, e.anchor, bool_or(e.active) AS engaged,
                count(*) FILTER ({order}) AS orders,
                coalesce(sum(e.revenue) FILTER ({order}), 0) AS revenue
            FROM read_parquet({_list(files.events)}) e GROUP BY ALL
        ),
        x AS (
            SELECT a.channel, a.m, p.person, bool_or(a.engaged) AS engaged,
                sum(a.orders) AS orders, sum(a.revenue) AS revenue
            FROM a JOIN people p ON p.anchor = a.anchor GROUP BY ALL
        )
        SELECT channel, m, count(*), count(*) FILTER (engaged), count(*) FILTER (orders > 0),
            sum(orders), sum(revenue)
        FROM x GROUP BY ALL
        UNION ALL
        SELECT channel, NULL, count(*), count(*) FILTER (engaged), count(*) FILTER (orders > 0),
            sum(orders), sum(revenue)
        FROM (SELECT channel, person, bool_or(engaged) AS engaged, sum(orders) AS orders,
                sum(revenue) AS revenue FROM x GROUP BY ALL)
        GROUP BY ALL
    """
    with connect(files, threads) as db:
        rows = db.execute(query).fetchall()
    return {
        (c, None if m is None else files.month(int(m))): (int(a), int(b), int(d), int(o), float(r))
        for c, m, a, b, d, o, r in rows
    }


def multichannel_bands(rows: Any) -> dict[str, tuple[int, int, int, float]]:
    """Groups by channels used (1..CAP+) and by touchpoints from (channels, touchpoints,
    people, customers, orders, revenue) rows."""
    out: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0, 0.0])
    for channels, touchpoints, people, customers, orders, revenue in rows:
        band = sum(1 for edge in TOUCHPOINT_EDGES if touchpoints >= edge) - 1
        for key in (f"channels:{min(int(channels), CHANNEL_CAP)}", f"touchpoints:{band}"):
            for i, value in enumerate((people, customers, orders, revenue)):
                out[key][i] += value
    return {k: (int(v[0]), int(v[1]), int(v[2]), float(v[3])) for k, v in out.items()}


def multichannel_sql(files: LakeFiles, threads: int) -> dict[str, tuple[int, int, int, float]]:
    """People, customers, orders and revenue by channels used and by touchpoints."""
    order = f"e.event = '{ORDER}'"
    query = f"""
        WITH a AS (
            SELECT e.anchor, e.channel, count(*) FILTER (e.active) AS touchpoints,
                count(*) FILTER ({order}) AS orders,
                coalesce(sum(e.revenue) FILTER ({order}), 0) AS revenue
            FROM read_parquet({_list(files.events)}) e GROUP BY ALL
        ),
        per AS (
            SELECT count(DISTINCT a.channel) FILTER (a.touchpoints > 0) AS channels,
                sum(a.touchpoints) AS touchpoints, sum(a.orders) AS orders,
                sum(a.revenue) AS revenue
            FROM a JOIN people p ON p.anchor = a.anchor
            GROUP BY p.person HAVING sum(a.touchpoints) > 0
        )
        SELECT channels, touchpoints, count(*), count(*) FILTER (orders > 0), sum(orders),
            sum(revenue)
        FROM per GROUP BY ALL
    """
    with connect(files, threads) as db:
        return multichannel_bands(db.execute(query).fetchall())
