"""Appending to the raw event stream: one function both the HTTP intake and imports use.

Writers serialise on a database lock before inserting so event ids become visible in
increasing order; the processing stage can then read `id > checkpoint` without ever missing
an event committed late with a smaller id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, select, text

from omnicx.collect.tables import events, rejected_events

STREAM_LOCK_KEY = 7_270_001
"""PostgreSQL advisory lock key that serialises appends to the event stream."""

_COLUMNS = (
    "source_id, channel, message_id, type, event, user_id, anonymous_id, "
    "timestamp, received_at, payload"
)
# PostgreSQL bulk path: COPY into a per-connection temporary table, then one INSERT ... SELECT
# that skips messages already stored. Measured about 2.5x faster than a multi-row INSERT or
# unnest() of arrays, and COPY alone cannot skip duplicates.
_PG_STAGING = (
    "CREATE TEMP TABLE IF NOT EXISTS incoming_events (source_id integer, channel varchar(16), "
    "message_id varchar(255), type varchar(16), event text, user_id text, anonymous_id text, "
    "timestamp timestamptz, received_at timestamptz, payload text) ON COMMIT DELETE ROWS"
)
_PG_COPY = f"COPY incoming_events ({_COLUMNS}) FROM STDIN"
_PG_MOVE = (
    f"INSERT INTO events ({_COLUMNS}) SELECT {_COLUMNS} FROM incoming_events "
    "ON CONFLICT (source_id, message_id) DO NOTHING"
)


@dataclass(frozen=True, slots=True)
class StampedRow:
    """A validated event with the source it came from and when it arrived."""

    source_id: int
    channel: str
    message_id: str
    type: str
    event: str | None
    user_id: str | None
    anonymous_id: str | None
    timestamp: datetime
    received_at: datetime
    payload: str


@dataclass(frozen=True, slots=True)
class Rejection:
    """A message refused at intake, kept with its reason."""

    source_id: int | None
    received_at: datetime
    code: str
    reason: str
    path: str
    payload: str


def lock_stream(connection: Connection) -> None:
    """Takes the stream's append lock for the rest of the transaction."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": STREAM_LOCK_KEY})
    # SQLite: every transaction already begins IMMEDIATE, which is the database's write lock.


def append(
    connection: Connection, rows: Sequence[StampedRow], rejections: Sequence[Rejection] = ()
) -> int:
    """Appends rows inside the caller's transaction, skipping (source, messageId) already stored.

    Returns how many rows were new. Duplicates inside `rows` are stored once.
    """
    if rejections:
        connection.execute(
            rejected_events.insert(),
            [
                {
                    "source_id": r.source_id,
                    "received_at": r.received_at,
                    "code": r.code,
                    "reason": r.reason,
                    "path": r.path,
                    "payload": r.payload,
                }
                for r in rejections
            ],
        )
    rows = _first_of_each_message(rows)
    if not rows:
        return 0
    lock_stream(connection)
    if connection.dialect.name == "postgresql":
        return _append_postgresql(connection, rows)
    return _append_sqlite(connection, rows)


def _first_of_each_message(rows: Sequence[StampedRow]) -> Sequence[StampedRow]:
    seen: set[tuple[int, str]] = set()
    unique: list[StampedRow] = []
    for row in rows:
        key = (row.source_id, row.message_id)
        if key not in seen:
            seen.add(key)
            unique.append(row)
    return unique if len(unique) != len(rows) else rows


def _append_postgresql(connection: Connection, rows: Sequence[StampedRow]) -> int:
    # The driver's COPY support is not part of SQLAlchemy; use the psycopg connection beneath.
    driver_connection: Any = connection.connection.driver_connection
    # Every time, not once per connection: a rolled-back transaction also rolls back its creation.
    connection.exec_driver_sql(_PG_STAGING)
    with driver_connection.cursor() as cursor:
        with cursor.copy(_PG_COPY) as copy:
            for row in rows:
                copy.write_row(
                    (
                        row.source_id, row.channel, row.message_id, row.type, row.event,
                        row.user_id, row.anonymous_id, row.timestamp, row.received_at,
                        row.payload,
                    )
                )  # fmt: skip
        cursor.execute(_PG_MOVE)
        return int(cursor.rowcount)


_SQLITE_INSERT = (
    f"INSERT INTO events ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (source_id, message_id) DO NOTHING"
)


def _sqlite_instant(value: datetime) -> str:
    """Formats an instant the way SQLAlchemy's SQLite DateTime stores it (naive UTC)."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _append_sqlite(connection: Connection, rows: Sequence[StampedRow]) -> int:
    # Plain executemany with pre-formatted instants: about 2.5x faster than going through
    # SQLAlchemy's per-row parameter processing, for the same stored values.
    formatted: dict[datetime, str] = {}

    def instant(value: datetime) -> str:
        text = formatted.get(value)
        if text is None:
            text = formatted[value] = _sqlite_instant(value)
        return text

    result = connection.exec_driver_sql(
        _SQLITE_INSERT,
        [
            (
                row.source_id,
                row.channel,
                row.message_id,
                row.type,
                row.event,
                row.user_id,
                row.anonymous_id,
                instant(row.timestamp),
                instant(row.received_at),
                row.payload,
            )
            for row in rows
        ],
    )
    return int(result.rowcount)


def count_events(connection: Connection) -> int:
    """How many events the stream holds."""
    return int(connection.execute(select(func.count()).select_from(events)).scalar_one())
