"""Bulk statements that differ between SQLite and PostgreSQL, written once for both."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Boolean, ColumnElement, Connection, DateTime, Float, Integer, String, Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

T = TypeVar("T")

# Both databases take more, but SQLite's default limit on bound parameters is 32,766.
CHUNK = 900


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """Slices `items` into pieces of at most `size` (for IN lists and multi-row inserts)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def positions_among(
    column: ColumnElement[int], ids: Sequence[int]
) -> Iterator[ColumnElement[bool]]:
    """Conditions that together select rows whose `column` is one of `ids`, and maybe others
    near them: the caller keeps only the ids it asked for. A batch of stream positions is
    nearly contiguous, so one range costs one statement of two parameters instead of an IN
    list of `CHUNK` per piece (binding those was most of the lookup's cost)."""
    if not ids:
        return
    low, high = min(ids), max(ids)
    if high - low < 2 * len(ids):
        yield column.between(low, high)
        return
    for chunk in chunks(sorted(ids)):
        yield column.in_(chunk)


def insert_ignoring_duplicates(
    connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Inserts rows, skipping those whose primary or unique key already exists."""
    if not rows:
        return
    if connection.dialect.name == "sqlite":
        _sqlite_insert_or_ignore(connection, table, rows)
        return
    # One statement over arrays (unnest): psycopg's executemany would send a row at a time,
    # and a multi-row VALUES costs more to compile than to run.
    columns = list(rows[0])
    casts = ", ".join(
        f"CAST(%({c})s AS {table.c[c].type.compile(connection.dialect)}[])" for c in columns
    )
    names = ", ".join(f'"{c}"' for c in columns)
    statement = (
        f'INSERT INTO "{table.name}" ({names}) SELECT * FROM unnest({casts}) ON CONFLICT DO NOTHING'
    )
    connection.exec_driver_sql(statement, {c: [row[c] for row in rows] for c in columns})


def upsert(
    connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]], keys: Sequence[str]
) -> None:
    """Inserts rows, replacing the other columns of those whose `keys` exist already."""
    if not rows:
        return
    columns = list(rows[0])
    if connection.dialect.name == "sqlite" and _driver_safe(table, columns):
        # As in insert_ignoring_duplicates: the driver's executemany, values as SQLAlchemy
        # stores them (its per-row parameter processing was most of a profile write).
        names = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join("?" for _ in columns)
        sets = ", ".join(f'"{c}" = excluded."{c}"' for c in columns if c not in keys)
        conflict = ", ".join(f'"{k}"' for k in keys)
        action = f"DO UPDATE SET {sets}" if sets else "DO NOTHING"
        statement = (
            f'INSERT INTO "{table.name}" ({names}) VALUES ({marks}) '
            f"ON CONFLICT ({conflict}) {action}"
        )
        instants: dict[datetime, str] = {}
        connection.exec_driver_sql(statement, [_sqlite_values(r, columns, instants) for r in rows])
        return
    insert = (pg_insert if connection.dialect.name == "postgresql" else sqlite_insert)(table)
    # One statement executed for all rows (the drivers batch them; compiling a statement with
    # thousands of VALUES costs more).
    connection.execute(
        insert.on_conflict_do_update(
            index_elements=list(keys),
            set_={c: insert.excluded[c] for c in columns if c not in keys},
        ),
        list(rows),
    )


_PLAIN_TYPES = (String, Integer, Float, Boolean, DateTime)
"""Column types whose values the SQLite driver stores as SQLAlchemy would (with
_sqlite_values's instants and booleans); others (JSON, Numeric, ...) go through SQLAlchemy."""


def _driver_safe(table: Table, columns: Sequence[str]) -> bool:
    return all(isinstance(table.c[c].type, _PLAIN_TYPES) for c in columns)


def update_by_key(
    connection: Connection,
    table: Table,
    key: str,
    rows: Sequence[Mapping[str, Any]],
    *,
    keep_greatest: Sequence[str] = (),
) -> None:
    """Sets columns of many rows at once, each row found by its `key` column; columns in
    `keep_greatest` only ever move forward (the greater of the stored and given value)."""
    if not rows:
        return
    columns = [c for c in rows[0] if c != key]
    if connection.dialect.name != "postgresql":
        # The driver's executemany with values stored as SQLAlchemy would store them (as in
        # insert_ignoring_duplicates): SQLAlchemy's per-row parameter processing cost more
        # than the updates.
        sets = ", ".join(
            f'"{c}" = max("{c}", ?)' if c in keep_greatest else f'"{c}" = ?' for c in columns
        )
        statement = f'UPDATE "{table.name}" SET {sets} WHERE "{key}" = ?'
        instants: dict[datetime, str] = {}
        order = [*columns, key]
        connection.exec_driver_sql(statement, [_sqlite_values(r, order, instants) for r in rows])
        return
    # PostgreSQL: one UPDATE ... FROM (VALUES ...) per chunk instead of a statement per row.
    size = max(1, 20_000 // (len(columns) + 1))
    for chunk in chunks(rows, size):
        params: dict[str, Any] = {}
        tuples = []
        for n, row in enumerate(chunk):
            names = [f"k{n}", *(f"v{n}_{i}" for i in range(len(columns)))]
            params[names[0]] = row[key]
            for i, name in enumerate(columns):
                params[names[i + 1]] = row[name]
            tuples.append("(" + ", ".join(f"%({p})s" for p in names) + ")")
        casts = [f"CAST(v.c0 AS {table.c[key].type.compile(connection.dialect)})"]
        assignments = []
        for i, name in enumerate(columns, start=1):
            kind = table.c[name].type.compile(connection.dialect)
            value = f"CAST(v.c{i} AS {kind})"
            if name in keep_greatest:
                value = f'GREATEST(t."{name}", {value})'
            assignments.append(f'"{name}" = {value}')
        aliases = ", ".join(f"c{i}" for i in range(len(columns) + 1))
        statement = (
            f'UPDATE "{table.name}" AS t SET {", ".join(assignments)} '
            f"FROM (VALUES {', '.join(tuples)}) AS v({aliases}) "
            f'WHERE t."{key}" = {casts[0]}'
        )
        connection.exec_driver_sql(statement, params)


def sqlite_instant(value: datetime) -> str:
    """An instant as SQLAlchemy's SQLite DateTime stores it (naive UTC text)."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _sqlite_values(
    row: Mapping[str, Any], columns: Sequence[str], instants: dict[datetime, str]
) -> tuple[Any, ...]:
    values = []
    for column in columns:
        value = row[column]
        if type(value) is datetime:
            text = instants.get(value)
            if text is None:
                text = instants[value] = sqlite_instant(value)
            value = text
        elif type(value) is bool:
            value = int(value)
        values.append(value)
    return tuple(values)


def _sqlite_insert_or_ignore(
    connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]]
) -> None:
    # The driver's executemany with values stored exactly as SQLAlchemy would store them:
    # several times faster than SQLAlchemy's per-row parameter processing on hot paths.
    columns = list(rows[0])
    names = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join("?" for _ in columns)
    statement = f'INSERT OR IGNORE INTO "{table.name}" ({names}) VALUES ({marks})'
    instants: dict[datetime, str] = {}
    connection.exec_driver_sql(statement, [_sqlite_values(r, columns, instants) for r in rows])
