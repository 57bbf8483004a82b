"""Retries: an SDK that gets no answer sends the same batch, with the same messageIds, again.

The batches go through the Segment SDK's own `post` (what its consumer thread calls on every
attempt, with the X-Retry-Count header), so the requests are the ones a real retry makes.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from segment.analytics.request import post
from sqlalchemy import Engine

from tests.e2e.events import assert_each_once, mixed_batch, source_id, stored_rows
from tests.e2e.server import OmnicxServer

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

CONCURRENT = 8


def _ids(batch: list[dict[str, Any]]) -> list[str]:
    return [message["messageId"] for message in batch]


@pytest.mark.sources(shop="web")
def test_same_batch_is_stored_once_however_often_it_is_sent(
    omnicx_server: OmnicxServer, engine: Engine
) -> None:
    key = omnicx_server.write_keys["shop"]
    source = source_id(engine, "shop")

    def send(batch: list[dict[str, Any]], attempt: int) -> int:
        # `post` raises on any answer but 2xx, so a returned status is a success.
        return int(post(key, omnicx_server.url, retry_count=attempt, batch=batch).status_code)

    # One batch, retried one after the other as the SDK's backoff loop does.
    first = mixed_batch("first", 30)
    assert [send(first, attempt) for attempt in range(3)] == [200, 200, 200]
    assert_each_once(engine, source, _ids(first))
    positions = {row["message_id"]: row["id"] for row in stored_rows(engine, source)}

    # Several senders racing with the same new events plus some already stored: the
    # requests land in the same group commit or in consecutive ones.
    second = mixed_batch("second", 30) + first[:10]
    barrier = threading.Barrier(CONCURRENT)

    def race(attempt: int) -> int:
        barrier.wait(timeout=30)
        return send(second, attempt)

    with ThreadPoolExecutor(CONCURRENT) as pool:
        assert list(pool.map(race, range(CONCURRENT))) == [200] * CONCURRENT
    assert_each_once(engine, source, _ids(first) + _ids(second))

    # After a restart nothing in memory remembers the batches: only the database does.
    omnicx_server.restart()
    assert send(first, 4) == send(second, 4) == 200
    assert_each_once(engine, source, _ids(first) + _ids(second))
    assert len(stored_rows(engine, source)) == 60
    # The first copy stays: a retry neither rewrites nor re-appends an event.
    after = {row["message_id"]: row["id"] for row in stored_rows(engine, source)}
    assert {message_id: after[message_id] for message_id in positions} == positions
