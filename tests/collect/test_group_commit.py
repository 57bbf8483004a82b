"""The group-commit writer: shared transactions, isolation of a failing request, shutdown."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import Engine, event

from omnicx.collect import sources
from omnicx.collect.group_commit import GroupCommitWriter, WriterStopped
from omnicx.collect.stream import StampedRow
from omnicx.store.clock import utc_now
from tests.collect.helpers import stored


def _rows(source_id: int, *ids: str) -> list[StampedRow]:
    now = utc_now()
    return [StampedRow(source_id, "web", i, "track", "E", "u", None, now, now, "{}") for i in ids]


def _source(engine: Engine) -> int:
    with engine.begin() as connection:
        return sources.add(connection, name="web", channel="web").id


def test_concurrent_requests_share_transactions(engine: Engine) -> None:
    source_id = _source(engine)
    commits: list[int] = []
    event.listen(engine, "commit", lambda _conn: commits.append(1))
    writer = GroupCommitWriter(engine)
    writer.start()

    async def send_all() -> None:
        await asyncio.gather(*(writer.write(_rows(source_id, f"m{i}")) for i in range(200)))

    asyncio.run(send_all())
    writer.stop()
    assert len(stored(engine)) == 200
    assert len(commits) < 200  # requests waiting together were committed together


def test_a_failing_request_does_not_fail_the_others(engine: Engine) -> None:
    source_id = _source(engine)
    writer = GroupCommitWriter(engine)
    poison = _rows(source_id, "x" * 300)  # longer than the column: the database refuses it
    writer.start()

    async def send_all() -> list[Any]:
        return await asyncio.gather(
            writer.write(_rows(source_id, "a")),
            writer.write(poison),
            writer.write(_rows(source_id, "b")),
            return_exceptions=True,
        )

    outcomes = asyncio.run(send_all())
    writer.stop()
    stored_ids = sorted(r["message_id"] for r in stored(engine))
    if engine.dialect.name == "sqlite":  # SQLite does not enforce varchar lengths
        assert outcomes == [None, None, None]
        assert len(stored_ids) == 3
    else:
        assert outcomes[0] is None and outcomes[2] is None
        assert isinstance(outcomes[1], WriterStopped)
        assert stored_ids == ["a", "b"]


def test_stop_commits_what_is_queued_and_refuses_more(engine: Engine) -> None:
    source_id = _source(engine)
    writer = GroupCommitWriter(engine)
    writer.start()
    writer.write_blocking(_rows(source_id, "before"))
    writer.stop()
    with pytest.raises(WriterStopped):
        writer.write_blocking(_rows(source_id, "after"))
    assert [r["message_id"] for r in stored(engine)] == ["before"]
