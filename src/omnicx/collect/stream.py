"""Appending to the raw event stream: one function both the HTTP intake and imports use.

Writers serialise on a database lock before inserting so event ids become visible in
increasing order; the processing stage can then read `id > checkpoint` without ever missing
an event committed late with a smaller id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from omnicx.collect.tables import events, rejected_events

STREAM_LOCK_KEY = 7_270_001
"""PostgreSQL advisory lock key that serialises appends to the event stream."""

# Bulk path for PostgreSQL: one statement per append, the rows passed as arrays.
_PG_APPEND = text(
    """
    INSERT INTO events (source_id, channel, message_id, type, event, user_id, anonymous_id,
                        timestamp, received_at, payload)
    SELECT * FROM unnest(
        CAST(:source_id AS integer[]), CAST(:channel AS varchar[]), CAST(:message_id AS varchar[]),
        CAST(:type AS varchar[]), CAST(:event AS text[]), CAST(:user_id AS text[]),
        CAST(:anonymous_id AS text[]), CAST(:timestamp AS timestamptz[]),
        CAST(:received_at AS timestamptz[]), CAST(:payload AS text[]))
    ON CONFLICT (source_id, message_id) DO NOTHING
    """
).bindparams(
    *(
        bindparam(name)
        for name in (
            "source_id",
            "channel",
            "message_id",
            "type",
            "event",
            "user_id",
            "anonymous_id",
            "timestamp",
            "received_at",
            "payload",
        )
    )
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
    return _append_generic(connection, rows)


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
    columns: dict[str, list[Any]] = {
        "source_id": [],
        "channel": [],
        "message_id": [],
        "type": [],
        "event": [],
        "user_id": [],
        "anonymous_id": [],
        "timestamp": [],
        "received_at": [],
        "payload": [],
    }
    for row in rows:
        columns["source_id"].append(row.source_id)
        columns["channel"].append(row.channel)
        columns["message_id"].append(row.message_id)
        columns["type"].append(row.type)
        columns["event"].append(row.event)
        columns["user_id"].append(row.user_id)
        columns["anonymous_id"].append(row.anonymous_id)
        columns["timestamp"].append(row.timestamp)
        columns["received_at"].append(row.received_at)
        columns["payload"].append(row.payload)
    result = connection.execute(_PG_APPEND, columns)
    return result.rowcount


def _append_generic(connection: Connection, rows: Sequence[StampedRow]) -> int:
    statement = sqlite_insert(events).on_conflict_do_nothing(
        index_elements=["source_id", "message_id"]
    )
    result = connection.execute(
        statement,
        [
            {
                "source_id": row.source_id,
                "channel": row.channel,
                "message_id": row.message_id,
                "type": row.type,
                "event": row.event,
                "user_id": row.user_id,
                "anonymous_id": row.anonymous_id,
                "timestamp": row.timestamp,
                "received_at": row.received_at,
                "payload": row.payload,
            }
            for row in rows
        ],
    )
    return result.rowcount
