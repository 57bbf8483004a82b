"""Bulk statements that differ between SQLite and PostgreSQL, written once for both."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
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
    insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    connection.execute(insert(table).on_conflict_do_nothing(), list(rows))
