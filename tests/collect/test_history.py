"""Erasing stored events never makes the stream hand out a position twice."""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from omnicx.collect import history
from omnicx.collect.processing import process_available
from omnicx.collect.tables import events
from tests.collect.test_processing import Recorder, _append, _source


def test_erased_newest_events_do_not_give_their_ids_to_new_ones(engine: Engine) -> None:
    source_id = _source(engine)
    _append(engine, source_id, ["a", "b", "c"])
    recorder = Recorder()
    assert process_available(engine, [recorder]) == 3
    with engine.begin() as connection:
        newest = int(connection.execute(select(func.max(events.c.id))).scalar_one())
        assert history.erase_events(connection, [newest, newest - 1]) == 2
    _append(engine, source_id, ["d"])
    with engine.connect() as connection:
        assert int(connection.execute(select(func.max(events.c.id))).scalar_one()) > newest
    # The consumer, already past the erased positions, still sees the new event.
    assert process_available(engine, [recorder]) == 1
    assert recorder.seen[-1] == "d"
