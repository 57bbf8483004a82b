"""The processing stage: in order, from a durable checkpoint, exactly once, several workers."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Connection, Engine, func, select

from omnicx.collect import history, processing, sources
from omnicx.collect.processing import (
    ProcessingStage,
    SourceActivity,
    StoredEvent,
    _sqlite_instant,
    checkpoint,
    lag,
    process_available,
    process_once,
    read_events,
)
from omnicx.collect.stream import StampedRow, append
from omnicx.collect.tables import events, source_daily_counts
from omnicx.store.clock import as_utc, utc_now


def _append(engine: Engine, source_id: int, ids: Sequence[str]) -> None:
    now = utc_now()
    rows = [
        StampedRow(source_id, "web", m, "track", "E", "u", None, now, now, '{"type":"track"}')
        for m in ids
    ]
    with engine.begin() as connection:
        append(connection, rows)


def _source(engine: Engine) -> int:
    with engine.begin() as connection:
        return sources.add(connection, name="web", channel="web").id


class Recorder:
    """A consumer that remembers what it saw, and can fail on a chosen event."""

    needs_payload = True

    def __init__(self, name: str = "test.recorder", fail_on: str | None = None) -> None:
        self.name = name
        self.seen: list[str] = []
        self.fail_on = fail_on

    def handle(self, connection: Connection, batch: Sequence[StoredEvent]) -> None:
        for item in batch:
            if item.message_id == self.fail_on:
                raise RuntimeError("consumer crashed")
        assert all(item.message["type"] == "track" for item in batch)
        self.seen.extend(item.message_id for item in batch)


def test_events_are_processed_in_order_and_once(engine: Engine) -> None:
    source_id = _source(engine)
    _append(engine, source_id, [f"m{i}" for i in range(25)])
    recorder = Recorder()
    assert process_available(engine, [recorder], batch_size=7) == 25
    _append(engine, source_id, ["m25", "m26"])
    assert process_available(engine, [recorder], batch_size=7) == 2
    assert recorder.seen == [f"m{i}" for i in range(27)]
    assert lag(engine, [recorder]) == {"test.recorder": 0}


def test_a_failed_batch_is_retried_from_the_checkpoint(engine: Engine) -> None:
    source_id = _source(engine)
    _append(engine, source_id, ["a", "b", "c", "d"])
    crashing = Recorder(fail_on="c")
    with pytest.raises(RuntimeError):
        process_available(engine, [crashing], batch_size=2)
    # The first batch (a, b) committed with its checkpoint; the failed one left no trace.
    with engine.connect() as connection:
        assert checkpoint(connection, "test.recorder") == 2
    resumed = Recorder()
    process_available(engine, [resumed], batch_size=2)
    assert resumed.seen == ["c", "d"]


def test_consumers_keep_their_own_checkpoints(engine: Engine) -> None:
    source_id = _source(engine)
    _append(engine, source_id, ["x", "y"])
    first, second = Recorder("one"), Recorder("two")
    process_once(engine, first)
    assert lag(engine, [first, second]) == {"one": 0, "two": 2}


class BatchRecorder(Recorder):
    """A consumer downstream of another that asks for larger batches (as the lake does)."""

    def __init__(self, name: str, upstream: str, batch_size: int) -> None:
        super().__init__(name)
        self.upstream = upstream
        self.batch_size = batch_size
        self.batches: list[int] = []

    def handle(self, connection: Connection, batch: Sequence[StoredEvent]) -> None:
        super().handle(connection, batch)
        self.batches.append(len(batch))


def test_a_consumer_with_larger_batches_takes_them_whole_while_its_upstream_catches_up(
    engine: Engine,
) -> None:
    source_id = _source(engine)
    _append(engine, source_id, [f"m{i}" for i in range(120)])
    upstream = Recorder("test.upstream")
    downstream = BatchRecorder("test.downstream", upstream="test.upstream", batch_size=50)
    process_available(engine, [upstream, downstream], batch_size=10)
    assert downstream.batches == [50, 50, 20]  # not twelve batches of ten
    assert downstream.seen == upstream.seen == [f"m{i}" for i in range(120)]
    _append(engine, source_id, ["late"])
    process_available(engine, [upstream, downstream], batch_size=10)
    assert downstream.batches[-1] == 1  # the upstream has caught up: no waiting for 50


def test_the_stage_also_gives_a_consumer_with_larger_batches_whole_ones(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # However slow the machine, the downstream consumer waits for whole batches here.
    monkeypatch.setattr(processing, "FULL_BATCH_WAIT_SECONDS", 3600.0)
    _append(engine, _source(engine), [f"m{i}" for i in range(120)])
    upstream = Recorder("test.upstream")
    downstream = BatchRecorder("test.downstream", upstream="test.upstream", batch_size=50)
    stage = ProcessingStage(engine, [upstream, downstream], poll=30, batch_size=10)
    stage.start()
    try:
        deadline = time.monotonic() + 20
        while len(downstream.seen) < 120 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stage.stop()
    assert downstream.batches == [50, 50, 20]
    assert downstream.seen == upstream.seen == [f"m{i}" for i in range(120)]


def test_processing_stops_once_its_time_is_up(engine: Engine) -> None:
    _append(engine, _source(engine), [f"m{i}" for i in range(12)])
    recorder = Recorder()
    assert process_available(engine, [recorder], batch_size=5, max_seconds=0) == 0
    assert process_available(engine, [recorder], batch_size=5, max_seconds=60) == 12
    assert recorder.seen == [f"m{i}" for i in range(12)]


def test_source_activity_counts_each_event_once(engine: Engine) -> None:
    source_id = _source(engine)
    _append(engine, source_id, [f"e{i}" for i in range(10)])
    process_available(engine, [SourceActivity()], batch_size=3)
    process_available(engine, [SourceActivity()], batch_size=3)  # nothing new: no double count
    with engine.connect() as connection:
        total = connection.execute(select(func.sum(source_daily_counts.c.events))).scalar()
        [listed] = sources.list_all(connection)
    assert total == 10
    assert listed.events == 10
    assert listed.last_event_at is not None
    assert utc_now() - listed.last_event_at < timedelta(minutes=1)


def test_source_activity_counts_per_source_utc_day_and_type_across_batches(
    engine: Engine,
) -> None:
    with engine.begin() as connection:
        web = sources.add(connection, name="web", channel="web").id
        shop = sources.add(connection, name="shop", channel="store_pos").id
    # Either side of midnight UTC, written in another zone: the day is the UTC one.
    late = datetime(2026, 3, 1, 23, 59, 59, 999999, tzinfo=UTC)
    early = datetime(2026, 3, 2, 1, 0, tzinfo=timezone(timedelta(hours=2)))  # 23:00 UTC on 1st
    after = datetime(2026, 3, 2, 0, 0, 1, tzinfo=UTC)
    plan = [
        (web, "track", late), (web, "track", early), (web, "page", late),
        (shop, "track", after), (web, "track", after), (shop, "identify", late),
    ] * 4  # fmt: skip
    rows = [
        StampedRow(s, "web", f"m{n}", kind, "E", "u", None, at, at, "{}")
        for n, (s, kind, at) in enumerate(plan)
    ]
    with engine.begin() as connection:
        append(connection, rows)
        # An erased event leaves a gap in the ids; it is not counted.
        first = int(connection.execute(select(func.min(events.c.id))).scalar_one())
        history.erase_events(connection, [first])
    handled = process_available(engine, [SourceActivity()], batch_size=5)
    with engine.connect() as connection:
        counted = {
            (r.source_id, r.day, r.type): (r.events, r.last_received_at)
            for r in connection.execute(select(source_daily_counts))
        }
    expected: dict[tuple[int, str, str], tuple[int, datetime]] = {}
    for s, kind, at in plan[1:]:
        key = (s, at.astimezone(UTC).date().isoformat(), kind)
        count, last = expected.get(key, (0, at))
        expected[key] = (count + 1, max(last, at))
    assert handled == len(plan) - 1
    assert {k: v[0] for k, v in counted.items()} == {k: v[0] for k, v in expected.items()}
    for key, (_, last) in expected.items():
        assert as_utc(counted[key][1]) == last


def test_parallel_workers_never_process_an_event_twice(engine: Engine) -> None:
    source_id = _source(engine)
    _append(engine, source_id, [f"p{i}" for i in range(300)])
    recorders = [Recorder() for _ in range(3)]
    threads = [
        threading.Thread(target=process_available, args=(engine, [r]), kwargs={"batch_size": 10})
        for r in recorders
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seen = [m for r in recorders for m in r.seen]
    assert sorted(seen) == sorted(f"p{i}" for i in range(300))
    assert len(seen) == len(set(seen))


def test_consumers_read_every_column_and_instants_in_utc(engine: Engine) -> None:
    source_id = _source(engine)
    occurred = datetime(2026, 3, 1, 23, 30, 0, 123456, tzinfo=UTC)
    received = occurred + timedelta(seconds=2)
    row = StampedRow(
        source_id, "web", "m-1", "track", "Order Completed", "u1", "a1", occurred, received,
        '{"type":"track"}',
    )  # fmt: skip
    with engine.begin() as connection:
        append(connection, [row])
    with engine.connect() as connection:
        [full] = read_events(connection, after=0, limit=10)
        [bare] = read_events(connection, after=0, limit=10, with_payload=False)
    assert (full.source_id, full.channel, full.message_id, full.type, full.event) == (
        source_id, "web", "m-1", "track", "Order Completed",
    )  # fmt: skip
    assert (full.user_id, full.anonymous_id, full.payload) == ("u1", "a1", '{"type":"track"}')
    for stored in (full, bare):
        assert stored.timestamp == occurred and stored.timestamp.utcoffset() == timedelta(0)
        assert stored.received_at == received
    assert bare.payload is None


def test_sqlite_text_with_an_offset_of_its_own_is_read_as_that_instant() -> None:
    assert _sqlite_instant("2026-03-01 23:30:00.123456") == datetime(
        2026, 3, 1, 23, 30, 0, 123456, tzinfo=UTC
    )
    assert _sqlite_instant("2026-03-02 01:30:00+02:00") == datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
