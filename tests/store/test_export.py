"""store.export: query results as Arrow, the same on SQLite (cursor) and PostgreSQL (COPY):
NULL apart from empty text, quotes, commas and new lines inside text, booleans, numbers and
timestamps to the microsecond, nothing at all, and many chunks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
from sqlalchemy import Engine, Select, delete, insert, select

from omnicx.profiles.tables import profile_consents
from omnicx.store.export import TIMESTAMP, arrow_batches, arrow_table

SCHEMA = pa.schema(
    [
        pa.field("profile_id", pa.string(), nullable=False),
        pa.field("channel", pa.string(), nullable=False),
        pa.field("purpose", pa.string(), nullable=False),
        pa.field("granted", pa.bool_(), nullable=False),
        pa.field("occurred_at", TIMESTAMP, nullable=False),
        pa.field("note", pa.string()),
    ]
)
T = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)
NOTES = [None, "", 'say "hi", then\nleave', "%s %% 100% ß İ", "12", "t"]


def _select() -> Select[Any]:
    c = profile_consents.c
    return select(c.profile_id, c.channel, c.purpose, c.granted, c.occurred_at, c.note).order_by(
        c.profile_id
    )


def _rows(n: int) -> list[dict[str, object]]:
    return [
        {
            "profile_id": f"p{i:05d}",
            "channel": "email",
            "purpose": "marketing",
            "granted": i % 2 == 0,
            "occurred_at": T + timedelta(microseconds=i),
            "note": NOTES[i % len(NOTES)],
            "signal": "test",
        }
        for i in range(n)
    ]


def test_values_come_back_as_stored(engine: Engine) -> None:
    rows = _rows(len(NOTES) * 2)
    with engine.begin() as connection:
        connection.execute(delete(profile_consents))
        connection.execute(insert(profile_consents), rows)
    with engine.connect() as connection:
        table = arrow_table(connection, _select(), SCHEMA)
    assert table.schema == SCHEMA
    expected = [{k: v for k, v in r.items() if k != "signal"} for r in rows]
    assert table.to_pylist() == expected


def test_nothing_and_many_chunks(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(delete(profile_consents))
    with engine.connect() as connection:
        assert arrow_table(connection, _select(), SCHEMA).num_rows == 0
    rows = _rows(2500)
    with engine.begin() as connection:
        connection.execute(insert(profile_consents), rows)
    with engine.connect() as connection:
        batches = list(arrow_batches(connection, _select(), SCHEMA, rows=1000))
    table = pa.Table.from_batches(batches, SCHEMA)
    assert table.column("profile_id").to_pylist() == [r["profile_id"] for r in rows]
    assert table.column("occurred_at").to_pylist()[-1] == T + timedelta(microseconds=2499)
