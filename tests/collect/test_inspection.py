"""Looking at what sources send: latest events after a cursor, bounded rejected messages,
valid keys, traffic counts, source names a new source may take."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, func, select

from omnicx.collect import inspection
from omnicx.collect import sources as source_service
from omnicx.collect.errors import intake_error
from omnicx.collect.intake import prepare, rejection
from omnicx.collect.processing import SourceActivity, process_available
from omnicx.collect.sources import KeyOwner
from omnicx.collect.stream import append
from omnicx.collect.tables import rejected_events
from omnicx.store.clock import utc_now


def _source(engine: Engine, name: str, channel: str = "web") -> source_service.Source:
    with engine.begin() as connection:
        return source_service.add(connection, name=name, channel=channel)


def _send(engine: Engine, source: source_service.Source, *names: str) -> None:
    owner = KeyOwner(source.id, source.name, source.channel, True)
    body = {"batch": [{"type": "track", "userId": "u1", "event": n} for n in names]}
    prepared = prepare(
        body, owner=owner, message_type=None, received_at=utc_now(), max_message_bytes=32_000
    )
    with engine.begin() as connection:
        append(connection, prepared.rows, prepared.rejections)


_last_batch = [utc_now() - timedelta(minutes=1)]
"""After the last rejection a `_reject` call stamped: each call's come after the previous
call's, so the newest-first order never depends on how fast two calls follow each other
(their millisecond offsets overlapped on PostgreSQL). A minute in the past, so rejections
the real intake records in a test are newer."""


def _reject(engine: Engine, source_id: int, count: int, **keep: Any) -> None:
    now = max(utc_now() - timedelta(minutes=1), _last_batch[0] + timedelta(milliseconds=1))
    _last_batch[0] = now + timedelta(milliseconds=count)
    refused = [
        rejection(
            source_id,
            now + timedelta(milliseconds=n),
            intake_error("invalid_json", detail=str(n)),
            {"n": n},
        )
        for n in range(count)
    ]
    with engine.begin() as connection:
        connection.execute(
            rejected_events.insert(),
            [
                {"source_id": r.source_id, "received_at": r.received_at, "code": r.code,
                 "reason": r.reason, "path": r.path, "payload": r.payload}
                for r in refused
            ],
        )  # fmt: skip
        if keep:
            inspection.keep_latest_rejections(connection, [source_id] * count, **keep)


def test_latest_events_newest_first_after_a_cursor(engine: Engine) -> None:
    web = _source(engine, "web")
    till = _source(engine, "till", "store_pos")
    _send(engine, web, "A", "B", "C")
    _send(engine, till, "T")
    with engine.connect() as connection:
        empty = inspection.latest_events(connection, source_id=None, after=10**12)
        first = inspection.latest_events(connection, source_id=web.id, limit=2)
        everything = inspection.latest_events(connection, source_id=None)
    assert (empty.events, empty.cursor, empty.more) == ([], 10**12, False)
    assert [e.event for e in first.events] == ["C", "B"]
    assert first.more and first.cursor == first.events[0].id
    assert first.events[0].message["event"] == "C" and "receivedAt" in first.events[0].message
    assert (first.events[0].source, first.events[0].channel) == ("web", "web")
    assert [e.event for e in everything.events] == ["T", "C", "B", "A"]
    assert not everything.more

    _send(engine, web, "D")
    _send(engine, till, "U")
    with engine.connect() as connection:
        newer = inspection.latest_events(connection, source_id=web.id, after=first.cursor)
        nothing = inspection.latest_events(connection, source_id=web.id, after=newer.cursor)
    assert [e.event for e in newer.events] == ["D"]
    assert nothing.events == [] and nothing.cursor == newer.cursor


def test_rejected_messages_newest_first_in_pages(engine: Engine) -> None:
    web = _source(engine, "web")
    other = _source(engine, "other")
    _reject(engine, web.id, 5)
    _reject(engine, other.id, 2)
    with engine.connect() as connection:
        page = inspection.rejected_messages(connection, source_id=web.id, limit=3)
        rest = inspection.rejected_messages(connection, source_id=web.id, before=page[-1].id)
    assert [r.payload for r in page] == ['{"n":4}', '{"n":3}', '{"n":2}']
    assert [r.payload for r in rest] == ['{"n":1}', '{"n":0}']
    assert page[0].code == "invalid_json" and page[0].reason.startswith("Body is not valid JSON")


def test_the_intake_records_rejections_and_keeps_only_the_latest(engine: Engine) -> None:
    web = _source(engine, "web")
    other = _source(engine, "other")
    _reject(engine, other.id, 3)
    # Pruned once a source has had `every` new rejections, down to `keep`.
    counter = inspection.RejectionCounter()
    _reject(engine, web.id, 4, keep=5, every=10, counter=counter)
    _reject(engine, web.id, 5, keep=5, every=10, counter=counter)
    with engine.connect() as connection:
        assert len(inspection.rejected_messages(connection, source_id=web.id)) == 9
    _reject(engine, web.id, 1, keep=5, every=10, counter=counter)
    with engine.connect() as connection:
        kept = inspection.rejected_messages(connection, source_id=web.id)
        others = inspection.rejected_messages(connection, source_id=other.id)
    assert [r.payload for r in kept] == ['{"n":0}', '{"n":4}', '{"n":3}', '{"n":2}', '{"n":1}']
    assert len(others) == 3  # another source's rejections are its own

    # Through the intake's append: rejected messages land in the table, counted for pruning.
    _send(engine, web, "ok", "")
    with engine.connect() as connection:
        total = connection.execute(
            select(func.count())
            .select_from(rejected_events)
            .where(rejected_events.c.source_id == web.id)
        ).scalar_one()
        newest = inspection.rejected_messages(connection, source_id=web.id, limit=1)[0]
    assert total == 6
    assert (newest.code, newest.path) == ("missing_field", "batch[1]")


def test_prune_rejections_keeps_the_newest(engine: Engine) -> None:
    web = _source(engine, "web")
    _reject(engine, web.id, 12)
    with engine.begin() as connection:
        assert inspection.prune_rejections(connection, web.id, keep=4) == 8
        assert inspection.prune_rejections(connection, web.id, keep=4) == 0
        kept = inspection.rejected_messages(connection, source_id=web.id)
    assert [r.payload for r in kept] == ['{"n":11}', '{"n":10}', '{"n":9}', '{"n":8}']


def test_valid_keys_with_their_expiry(engine: Engine) -> None:
    web = _source(engine, "web")
    with engine.begin() as connection:
        new = source_service.rotate_key(connection, name="web", grace=timedelta(hours=1))
        keys = inspection.valid_keys(connection, [web.id])[web.id]
    assert [k.key for k in keys] == [new, web.write_keys[0]]
    assert keys[0].expires_at is None and keys[1].expires_at is not None
    assert keys[0].hint == f"{new[:4]}…{new[-4:]}"
    with engine.begin() as connection:
        source_service.rotate_key(connection, name="web")
        assert len(inspection.valid_keys(connection, [web.id])[web.id]) == 1
        assert inspection.valid_keys(connection, []) == {}


def test_get_source_and_traffic_counts(engine: Engine) -> None:
    web = _source(engine, "web")
    _send(engine, web, "A", "B")
    _reject(engine, web.id, 2)
    process_available(engine, [SourceActivity()])
    now = utc_now()
    with engine.connect() as connection:
        found = inspection.get_source(connection, web.id)
        assert found is not None and found.name == "web" and found.events == 2
        assert inspection.get_source(connection, 10**6) is None
        assert inspection.events_on_day(connection, now.date().isoformat()) == {web.id: 2}
        assert inspection.events_on_day(connection, "2001-01-01") == {}
        assert inspection.rejections_since(connection, now - timedelta(hours=1)) == {web.id: 2}
        assert inspection.rejections_since(connection, now + timedelta(hours=1)) == {}


def test_name_problem_says_why_add_would_refuse(engine: Engine) -> None:
    _source(engine, "web")
    with engine.connect() as connection:
        assert source_service.name_problem(connection, "Amsterdam store") is None
        assert source_service.name_problem(connection, "web") == "taken"
        assert source_service.name_problem(connection, " web ") == "taken"
        assert source_service.name_problem(connection, "OMNICX") == "reserved"
        assert source_service.name_problem(connection, "") == "invalid"
        assert source_service.name_problem(connection, "-dash first") == "invalid"
