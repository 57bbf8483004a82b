"""Appending to the raw event stream: one function both the HTTP intake and imports use.

Writers serialise on a database lock before inserting so event ids become visible in
increasing order; the processing stage can then read `id > checkpoint` without ever missing
an event committed late with a smaller id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any, NamedTuple

from psycopg.errors import UniqueViolation
from psycopg.types.string import BytesBinaryDumper
from sqlalchemy import Connection, func, select, text

from omnicx.collect.inspection import keep_latest_rejections
from omnicx.collect.tables import events, rejected_events

STREAM_LOCK_KEY = 7_270_001
"""PostgreSQL advisory lock key that serialises appends to the event stream."""

_COLUMNS = (
    "source_id, channel, message_id, type, event, user_id, anonymous_id, "
    "timestamp, received_at, payload"
)
# PostgreSQL bulk path: COPY straight into `events`, in binary (no text formatting or
# escaping of the values), inside a savepoint. COPY cannot skip duplicates: when one of the rows
# is already stored (an SDK retry), the savepoint is rolled back and the rows take the slower
# path, COPY into a per-connection temporary table then one INSERT ... SELECT that skips
# messages already stored. Measured: 20 against 34 us of PostgreSQL per event.
# The payload arrives as UTF-8 bytes: dumped as bytea it is sent as it is, which is exactly
# what a text value is in COPY's binary format (the server still checks the encoding).
_PG_TYPES = (
    "int4", "varchar", "varchar", "varchar", "text", "text", "text", "timestamptz",
    "timestamptz", "bytea",
)  # fmt: skip
_PG_COPY_EVENTS = f"COPY events ({_COLUMNS}) FROM STDIN (FORMAT BINARY)"
_PG_STAGING = (
    "CREATE TEMP TABLE IF NOT EXISTS incoming_events (source_id integer, channel varchar(16), "
    "message_id varchar(255), type varchar(16), event text, user_id text, anonymous_id text, "
    "timestamp timestamptz, received_at timestamptz, payload text) ON COMMIT DELETE ROWS"
)
_PG_COPY_STAGING = f"COPY incoming_events ({_COLUMNS}) FROM STDIN (FORMAT BINARY)"
_PG_MOVE = (
    f"INSERT INTO events ({_COLUMNS}) SELECT {_COLUMNS} FROM incoming_events "
    "ON CONFLICT (source_id, message_id) DO NOTHING"
)


class StampedRow(NamedTuple):
    """A validated event with the source it came from and when it arrived.

    A tuple in the order of the `events` columns: built per event on the intake's hot path
    (cheaper than an object) and handed to COPY as it is.
    """

    source_id: int
    channel: str
    message_id: str
    type: str
    event: str | None
    user_id: str | None
    anonymous_id: str | None
    timestamp: datetime
    received_at: datetime
    payload: str | bytes
    """The message as stored, JSON; UTF-8 bytes from the intake (no decoding needed)."""


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
        # Rejections are rare; a source sending nothing but bad messages must not fill the
        # database: only its latest ones are kept.
        keep_latest_rejections(connection, [r.source_id for r in rejections])
    rows = _first_of_each_message(rows)
    if not rows:
        return 0
    lock_stream(connection)
    if connection.dialect.name == "postgresql":
        return _append_postgresql(connection, rows)
    return _append_sqlite(connection, rows)


def _first_of_each_message(rows: Sequence[StampedRow]) -> Sequence[StampedRow]:
    if len(set(map(_message_id_of, rows))) == len(rows):  # the usual case, at C speed
        return rows
    seen: set[tuple[int, str]] = set()
    unique: list[StampedRow] = []
    for row in rows:
        key = (row.source_id, row.message_id)
        if key not in seen:
            seen.add(key)
            unique.append(row)
    return unique if len(unique) != len(rows) else rows


_message_id_of = itemgetter(2)


def _append_postgresql(connection: Connection, rows: Sequence[StampedRow]) -> int:
    # The driver's COPY support is not part of SQLAlchemy; use the psycopg connection beneath.
    driver_connection: Any = connection.connection.driver_connection
    with driver_connection.cursor() as cursor:
        cursor.execute("SAVEPOINT omnicx_append")
        try:
            _copy(cursor, _PG_COPY_EVENTS, rows)
        except UniqueViolation:  # some were already stored: none of these rows are
            cursor.execute("ROLLBACK TO SAVEPOINT omnicx_append")
        else:
            cursor.execute("RELEASE SAVEPOINT omnicx_append")
            return len(rows)
        # Every time, not once per connection: a rolled-back transaction also rolls back its
        # creation.
        cursor.execute(_PG_STAGING)
        _copy(cursor, _PG_COPY_STAGING, rows)
        cursor.execute(_PG_MOVE)
        return int(cursor.rowcount)


def _copy(cursor: Any, statement: str, rows: Sequence[StampedRow]) -> None:
    # By type OID, bytea would get psycopg's DB-API dumper (Python code, per row); the plain
    # C one is enough for bytes. This cursor only: the connection's adapters stay as they are.
    cursor.adapters.register_dumper(bytes, BytesBinaryDumper)
    with cursor.copy(statement) as copy:
        copy.set_types(_PG_TYPES)
        write_row = copy.write_row
        for row in rows:
            payload = row[9]
            write_row(row if type(payload) is bytes else (*row[:9], str(payload).encode()))


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
                row.payload.decode() if type(row.payload) is bytes else row.payload,
            )
            for row in rows
        ],
    )
    return int(result.rowcount)


def count_events(connection: Connection) -> int:
    """How many events the stream holds."""
    return int(connection.execute(select(func.count()).select_from(events)).scalar_one())
