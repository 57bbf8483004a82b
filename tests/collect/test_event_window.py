"""The event window: consumers of one stage read a stretch of the stream once; what memory
serves is exactly what the database holds, erasures included."""

from __future__ import annotations

import random
from collections.abc import Sequence

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, delete, select

from omnicx.collect import history, sources
from omnicx.collect.event_window import EventWindow
from omnicx.collect.processing import StoredEvent, process_available, read_events
from omnicx.collect.stream import StampedRow, append
from omnicx.collect.tables import events
from omnicx.store.clock import utc_now


def _stored(engine: Engine, count: int) -> None:
    """A web source and `count` events of it, committed."""
    with engine.begin() as connection:
        source_id = sources.add(connection, name="web", channel="web").id
        _append(connection, source_id, count, "a")


def _append(connection: Connection, source_id: int, count: int, tag: str) -> None:
    now = utc_now()
    append(
        connection,
        [
            StampedRow(
                source_id,
                "web",
                f"{tag}-{n}",
                "track",
                "E",
                "u",
                None,
                now,
                now,
                f'{{"type":"track","n":"{tag}-{n}"}}',
            )
            for n in range(count)
        ],
    )


def _ids(batch: Sequence[StoredEvent]) -> list[int]:
    return [e.id for e in batch]


def test_the_next_consumer_gets_the_batch_from_memory(engine: Engine) -> None:
    _stored(engine, 50)
    window = EventWindow()
    with engine.begin() as connection:
        first = window.read(connection, after=0, limit=20)
        again = window.read(connection, after=0, limit=20)
        assert again == first == read_events(connection, after=0, limit=20)
        assert window.served == 20
        # Beyond the stretch: what memory holds, then the database.
        longer = window.read(connection, after=10, limit=30)
        assert longer == read_events(connection, after=10, limit=30)
        assert window.served == 20 + 10


def test_an_erased_event_is_never_served_from_memory(engine: Engine) -> None:
    _stored(engine, 30)
    window = EventWindow()
    with engine.begin() as connection:
        kept = window.read(connection, after=0, limit=30)
    with engine.begin() as connection:
        history.erase_events(connection, [kept[5].id])
    with engine.begin() as connection:
        again = window.read(connection, after=0, limit=30)
    assert _ids(again) == _ids(kept[:5] + kept[6:])
    assert window.served == 0


def test_until_and_limit_bound_what_memory_serves(engine: Engine) -> None:
    _stored(engine, 40)
    with engine.begin() as connection:
        window = EventWindow()
        stretch = window.read(connection, after=0, limit=40)
        until = stretch[24].id
        assert (
            window.read(connection, after=stretch[9].id, limit=100, until=until) == (stretch[10:25])
        )
        assert window.read(connection, after=stretch[9].id, limit=3) == stretch[10:13]
        assert window.read(connection, after=stretch[9].id, limit=5, until=stretch[9].id) == []


def test_the_window_keeps_the_front_of_the_stream_within_its_size(engine: Engine) -> None:
    _stored(engine, 30)
    with engine.begin() as connection:
        window = EventWindow(keep=10)
        everything = read_events(connection, after=0, limit=100)
        for start in range(0, 30, 5):  # a consumer moving ahead, 5 at a time
            after = everything[start - 1].id if start else 0
            assert window.read(connection, after=after, limit=5) == everything[start : start + 5]
        served = window.served
        # The oldest were let go: a consumer far behind reads from the database.
        assert window.read(connection, after=0, limit=5) == everything[:5]
        assert window.served == served
        assert window.read(connection, after=everything[24].id, limit=5) == everything[25:]
        assert window.served == served + 5


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(seed=st.integers(0, 2**32 - 1))
def test_the_window_always_returns_what_the_database_holds(engine: Engine, seed: int) -> None:
    """Random appends, erasures and reads (ahead, behind, bounded by an upstream) compared
    with read_events in the same transaction."""
    rng = random.Random(seed)
    with engine.begin() as connection:
        connection.execute(delete(events))
        known = sources.list_all(connection, name="web")
        source_id = known[0].id if known else sources.add(connection, name="web", channel="web").id
    window = EventWindow(keep=rng.choice([5, 20, 1000]))
    positions = [0, 0, 0]  # three consumers moving at their own pace
    for step in range(40):
        with engine.begin() as connection:
            action = rng.random()
            if action < 0.25:
                _append(connection, source_id, rng.randint(1, 15), f"s{step}")
            elif action < 0.35:
                stored = list(connection.execute(select(events.c.id)).scalars())
                if stored:
                    history.erase_events(connection, rng.sample(stored, min(len(stored), 2)))
            else:
                who = rng.randrange(3)
                limit = rng.randint(1, 12)
                upstream = positions[who - 1] if who and rng.random() < 0.5 else None
                until = max(upstream, positions[who]) if upstream is not None else None
                got = window.read(connection, after=positions[who], limit=limit, until=until)
                expected = read_events(connection, after=positions[who], limit=limit, until=until)
                assert got == expected
                if got:
                    positions[who] = got[-1].id


def test_catching_up_reads_each_batch_once_for_every_consumer(engine: Engine) -> None:
    """process_available runs the consumers round robin through one window: the later ones
    see exactly the events the first one saw."""
    _stored(engine, 120)

    class Seen:
        needs_payload = True

        def __init__(self, name: str, upstream: str | None = None) -> None:
            self.name = name
            self.upstream = upstream
            self.ids: list[int] = []

        def handle(self, connection: Connection, batch: Sequence[StoredEvent]) -> None:
            self.ids.extend(e.id for e in batch)

    first, second = Seen("first"), Seen("second", upstream="first")
    assert process_available(engine, [first, second], batch_size=25) == 240
    with engine.connect() as connection:
        stored = _ids(read_events(connection, after=0, limit=1000))
    assert first.ids == second.ids == stored
