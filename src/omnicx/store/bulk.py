"""Bulk statements that differ between SQLite and PostgreSQL, written once for both."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

T = TypeVar("T")

# Both databases take more, but SQLite's default limit on bound parameters is 32,766.
CHUNK = 900


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """Slices `items` into pieces of at most `size` (for IN lists and multi-row inserts)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def insert_ignoring_duplicates(
    connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Inserts rows, skipping those whose primary or unique key already exists."""
    if not rows:
        return
    if connection.dialect.name == "sqlite":
        _sqlite_insert_or_ignore(connection, table, rows)
        return
    insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    connection.execute(insert(table).on_conflict_do_nothing(), list(rows))


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
