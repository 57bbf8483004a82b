"""Appending to the event stream: exactly once per (source, messageId), values as given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from omnicx.collect import sources
from omnicx.collect.stream import Rejection, StampedRow, append
from tests.collect.helpers import rejected, stored

_WHEN = datetime(2026, 3, 1, 12, 30, 45, 123456, tzinfo=UTC)


def _row(source_id: int, message_id: str, **changes: object) -> StampedRow:
    values: dict[str, object] = {
        "source_id": source_id,
        "channel": "web",
        "message_id": message_id,
        "type": "track",
        "event": "Order Completed",
        "user_id": "u1",
        "anonymous_id": None,
        "timestamp": _WHEN,
        "received_at": _WHEN + timedelta(seconds=1),
        "payload": '{"type":"track","event":"Order Completed","properties":{"name":"çé ✓"}}',
    } | changes
    return StampedRow(**values)  # type: ignore[arg-type]


def _source(engine: Engine) -> int:
    with engine.begin() as connection:
        return sources.add(connection, name="web", channel="web").id


def test_values_are_stored_as_given(engine: Engine) -> None:
    source_id = _source(engine)
    row = _row(source_id, "m1", event=None, user_id=None, anonymous_id="a1", type="page")
    with engine.begin() as connection:
        assert append(connection, [row]) == 1
    [saved] = stored(engine)
    assert saved["message_id"] == "m1" and saved["type"] == "page"
    assert (saved["event"], saved["user_id"], saved["anonymous_id"]) == (None, None, "a1")
    assert saved["payload"] == row.payload
    for column in ("timestamp", "received_at"):
        value = saved[column]
        assert isinstance(value, datetime)
        as_utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        assert as_utc == getattr(row, column)


def test_messages_already_stored_are_skipped_and_the_rest_stored(engine: Engine) -> None:
    source_id = _source(engine)
    with engine.begin() as connection:
        assert append(connection, [_row(source_id, "m1"), _row(source_id, "m2")]) == 2
    refusal = Rejection(source_id, _WHEN, "invalid_body", "bad", "batch[0]", "{}")
    with engine.begin() as connection:
        # m2 is stored already (an SDK retry), m3 twice in the same request, m4 new.
        batch = [_row(source_id, m) for m in ("m2", "m3", "m3", "m4")]
        assert append(connection, batch, [refusal]) == 2
    assert [r["message_id"] for r in stored(engine)] == ["m1", "m2", "m3", "m4"]
    assert [r["code"] for r in rejected(engine)] == ["invalid_body"]  # kept, not rolled back
    with engine.begin() as connection:  # all of them again: nothing new, nothing fails
        assert append(connection, [_row(source_id, m) for m in ("m1", "m4")]) == 0
    ids = [r["id"] for r in stored(engine)]
    assert ids == sorted(ids) and len(ids) == 4
