"""Reading the lake: a snapshot of its manifest opened in DuckDB.

`open_lake(path).connect(scope)` gives a DuckDB connection with these views:

- `events`: the scope's events of known people, each with `person`, the id of the profile
  its person holds now (merges and unmerges show without rewriting a file), and `day`;
- `all_events`: the same people's events of every day (first touches, cohorts and
  lifecycles need what happened before the range);
- `people`: `anchor` → `profile_id` (NULL: nobody) and `person_key`, the attribution the two
  views use (read from the people file, or merged from several once per connection);
- `known_people`: the rows of `people` with a profile, and in the scope's people;
- `lake_raw` and `lake_range`: the stored rows (every day, and the scope's days) before
  attribution, for queries that group by anchor first and join `known_people` after (cheaper
  on large lakes). They ignore the scope's filters and people;
- `lake_scoped`: the rows of `lake_range` that match the scope's filters (still unattributed:
  `events` is `lake_scoped` joined with `known_people`).

Columns of both event views: event_id, message_id, person, person_key, anchor, source,
channel, type, event, ts, day, received_at, active, revenue, currency, properties, traits
(layout.py). `person_key` is a 64-bit key of `person`, unique in the lake (the one the people
files store, or a numbering should two ids share it): partitioning and grouping by it is much
cheaper than by the 36-character profile id.
Times are naive UTC timestamps.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from omnicx.analytics.currency import ReportingCurrency
from omnicx.analytics.layout import EVENT_SCHEMA, Manifest, read_manifest
from omnicx.analytics.location import resolve_lake_dir
from omnicx.analytics.scope import Scope

_COLUMNS = [f.name for f in EVENT_SCHEMA]
PERSON_HASH = "hash(profile_id)"
"""How a format-1 lake's `person_key` is computed from `profile_id` while no two profiles
share it (format 2 stores layout.person_key in the people files)."""
_EMPTY_TYPES = {
    "event_id": "BIGINT",
    "message_id": "VARCHAR",
    "anchor": "BIGINT",
    "source": "VARCHAR",
    "channel": "VARCHAR",
    "type": "VARCHAR",
    "event": "VARCHAR",
    "ts": "TIMESTAMP",
    "received_at": "TIMESTAMP",
    "active": "BOOLEAN",
    "revenue": "DOUBLE",
    "currency": "VARCHAR",
    "properties": "VARCHAR",
    "traits": "VARCHAR",
}


@dataclass(frozen=True, slots=True)
class LakeSnapshot:
    """The lake as one manifest describes it."""

    path: Path
    manifest: Manifest

    @contextmanager
    def connect(
        self, scope: Scope | None = None, *, threads: int | None = None
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """A DuckDB connection (in memory) with the views `events`, `all_events` and `people`."""
        scope = scope or Scope()
        db = duckdb.connect(config={"threads": threads} if threads else {})
        try:
            define_views(db, self, scope)
            yield db
        finally:
            db.close()

    def version(self) -> Hashable:
        """Names what the lake holds: equal for two snapshots only when a report over them
        gives the same answer (files written, events and identity changes taken in, the
        reporting currency)."""
        manifest = self.manifest
        return (
            str(self.path),
            manifest.generation,
            manifest.serial,
            manifest.events_through,
            manifest.changes_through,
            orjson.dumps(manifest.extra, option=orjson.OPT_SORT_KEYS),
        )

    @property
    def currency(self) -> ReportingCurrency | None:
        """The reporting currency revenue is converted to (`omnicx lake currency`), if set."""
        document = self.manifest.extra.get("currency")
        return ReportingCurrency.from_document(document) if document else None

    def event_files(self, scope: Scope | None = None) -> list[str]:
        """Absolute paths of the event files a scope needs (all of them without a range)."""
        scope = scope or Scope()
        return [str(self.path / p) for p in self.manifest.files_between(scope.start, scope.end)]


def open_lake(path: Path) -> LakeSnapshot:
    """A snapshot of the lake at `path` (an empty lake when it was never written)."""
    return LakeSnapshot(path, read_manifest(path))


def open_lake_of(database_url: str) -> LakeSnapshot:
    """A snapshot of the lake of a database (`OMNICX_LAKE_DIR`, or beside the SQLite file:
    location.resolve_lake_dir), as a running server reads it."""
    return open_lake(resolve_lake_dir(database_url))


def define_views(db: duckdb.DuckDBPyConnection, lake: LakeSnapshot, scope: Scope) -> None:
    """Creates `people`, `all_events` and `events` in `db` for the lake and scope."""
    define_people(db, lake)
    currency = lake.currency
    db.execute(f"CREATE VIEW lake_raw AS {_raw(lake.event_files(), currency)}")
    db.execute(f"CREATE VIEW lake_range AS {_raw(lake.event_files(scope), currency)}")
    columns = ", ".join(f"e.{c}" for c in _COLUMNS if c != "anchor")
    db.execute(
        "CREATE VIEW known_people AS SELECT anchor, profile_id, person_key FROM people "
        f"WHERE person_key IS NOT NULL{_people_filter(db, scope)}"
    )
    attributed = (
        f"SELECT e.event_id, e.message_id, p.profile_id AS person, p.person_key, e.anchor, "
        f"{columns.replace('e.event_id, e.message_id, ', '')}, CAST(e.ts AS DATE) AS day "
        "FROM {source} e JOIN known_people p ON p.anchor = e.anchor"
    )
    db.execute(f"CREATE VIEW all_events AS {attributed.format(source='lake_raw')}")
    conditions: list[str] = []
    values: list[Any] = []
    if scope.start_at:
        conditions.append(f"ts >= TIMESTAMP '{scope.start_at.isoformat(sep=' ')}'")
    if scope.end_before:
        conditions.append(f"ts < TIMESTAMP '{scope.end_before.isoformat(sep=' ')}'")
    for condition in scope.filters:
        conditions.append(condition.sql(values))
    where = " AND ".join(conditions) or "true"
    # Views cannot hold parameters: the filters' values are inlined as SQL literals. The
    # filters name stored columns only, so they apply before attribution.
    db.execute(
        f"CREATE VIEW lake_scoped AS SELECT * FROM lake_range WHERE {_inline(where, values)}"
    )
    db.execute(f"CREATE VIEW events AS {attributed.format(source='lake_scoped')}")


def define_people(db: duckdb.DuckDBPyConnection, lake: LakeSnapshot) -> None:
    """Creates `people`: each anchor's current profile and `person_key`, a 64-bit key for
    that profile (unique in the lake; null with the profile) that reports partition and
    group by.

    The people files store the key (layout.person_key), so a lake with one people file
    (compacted) is a view on it: a query reads only the columns it needs, and hashes
    nothing. Several files are merged once per connection (newest row per anchor). Should
    two profiles share a key, or the lake be of format 1 (no stored keys), the keys are
    computed here instead (`_computed_keys`).
    """
    files = [str(lake.path / p) for p in lake.manifest.people_files]
    manifest = lake.manifest
    if not files:
        db.execute(
            "CREATE TEMP VIEW people AS SELECT NULL::BIGINT AS anchor, "
            "NULL::VARCHAR AS profile_id, NULL::BIGINT AS person_key WHERE false"
        )
    elif manifest.format < 2 or manifest.person_keys_clash:
        _computed_keys(db, files, numbered=manifest.person_keys_clash)
    elif len(files) == 1:  # one file holds one row per anchor already
        db.execute(
            "CREATE TEMP VIEW people AS SELECT anchor, profile_id, person_key "
            f"FROM read_parquet({_list(files)})"
        )
    else:
        db.execute(
            "CREATE TEMP TABLE people AS SELECT anchor, "
            "arg_max_null(profile_id, seq) AS profile_id, "
            "arg_max_null(person_key, seq) AS person_key "
            f"FROM read_parquet({_list(files)}) GROUP BY anchor"
        )


def _computed_keys(db: duckdb.DuckDBPyConnection, files: list[str], *, numbered: bool) -> None:
    """`people` with keys computed per connection: the profile ids' hashes, or (`numbered`,
    or when two ids share a hash) the profiles numbered in order of their ids.

    A table, not a view: computed once per connection, not once per event of every query
    (DuckDB would hash the profile id above the join).
    """
    if len(files) == 1:
        source = f"SELECT anchor, profile_id FROM read_parquet({_list(files)})"
    else:
        source = (
            "SELECT anchor, arg_max_null(profile_id, seq) AS profile_id "
            f"FROM read_parquet({_list(files)}) GROUP BY anchor"
        )
    db.execute(
        "CREATE TEMP TABLE people AS SELECT anchor, profile_id, "
        f"CASE WHEN profile_id IS NOT NULL THEN {PERSON_HASH} END AS person_key "
        f"FROM ({source})"
    )
    clash = (
        numbered
        or db.execute(
            "SELECT 1 FROM people WHERE profile_id IS NOT NULL GROUP BY person_key "
            "HAVING min(profile_id) <> max(profile_id) LIMIT 1"
        ).fetchall()
    )
    if clash:
        db.execute(
            "CREATE OR REPLACE TEMP TABLE people AS SELECT anchor, profile_id, "
            "CASE WHEN profile_id IS NOT NULL THEN "
            "dense_rank() OVER (ORDER BY profile_id)::UBIGINT END AS person_key FROM people"
        )


def _raw(files: list[str], currency: ReportingCurrency | None = None) -> str:
    if not files:
        return (
            "SELECT "
            + ", ".join(f"NULL::{_EMPTY_TYPES[c]} AS {c}" for c in _COLUMNS)
            + " WHERE false"
        )
    if currency is None:
        return f"SELECT * FROM read_parquet({_list(files)})"
    # Columns keep their places; revenue is read in the reporting currency.
    return (
        f"SELECT * REPLACE ({currency.revenue_sql()} AS revenue, "
        f"CASE WHEN revenue IS NULL THEN currency ELSE '{currency.base}' END AS currency) "
        f"FROM read_parquet({_list(files)})"
    )


def _list(paths: list[str]) -> str:
    return "[" + ", ".join(_literal(p) for p in paths) + "]"


def _literal(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return repr(float(value))
    return "'" + str(value).replace("'", "''") + "'"


def _inline(sql: str, values: list[Any]) -> str:
    parts = sql.split("?")
    if len(parts) != len(values) + 1:
        raise AssertionError("a filter's SQL and its values disagree")
    out = [parts[0]]
    for value, rest in zip(values, parts[1:], strict=True):
        out.append(_literal(value))
        out.append(rest)
    return "".join(out)


def _people_filter(db: duckdb.DuckDBPyConnection, scope: Scope) -> str:
    if scope.people is None:
        return ""
    members = pa.table({"profile_id": pa.array(sorted(scope.people), pa.string())})
    db.register("scope_people_arrow", members)
    db.execute(
        "CREATE TEMP TABLE scope_people AS SELECT DISTINCT profile_id FROM scope_people_arrow"
    )
    db.unregister("scope_people_arrow")
    return " AND profile_id IN (SELECT profile_id FROM scope_people)"
