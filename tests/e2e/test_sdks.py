"""The official Python SDKs of Segment and RudderStack, unchanged, pointed at omnicx.

Each SDK batches in its background thread and posts to `{host}/v1/batch` (RudderStack
gzip-compressed by default). Every call must come back out of the database exactly once,
tagged with the channel of the source whose write key the SDK was given.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from rudderstack.analytics import Client as RudderClient
from segment.analytics import Client as SegmentClient
from sqlalchemy import Engine

from tests.e2e.events import Expected, assert_stored_once, source_id, stored_rows
from tests.e2e.server import OmnicxServer

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


ORDER = {"revenue": 99.5, "currency": "EUR"}

# Every method of the spec, plus an anonymous track: (method, arguments, stored userId, event).
CALLS: list[tuple[str, dict[str, Any], str | None, str | None]] = [
    ("track", {"user_id": "user-1", "event": "Order Completed", "properties": ORDER},
     "user-1", "Order Completed"),
    ("track", {"anonymous_id": "anon-1", "event": "Product Viewed"}, None, "Product Viewed"),
    ("identify", {"user_id": "user-1", "traits": {"email": "ada@example.com"}}, "user-1", None),
    ("page", {"user_id": "user-1", "category": "Docs", "name": "Pricing"}, "user-1", "Pricing"),
    ("screen", {"user_id": "user-1", "name": "Cart"}, "user-1", "Cart"),
    ("group", {"user_id": "user-1", "group_id": "acme"}, "user-1", None),
    ("alias", {"previous_id": "anon-1", "user_id": "user-1"}, "user-1", None),
]  # fmt: skip


def _exercise(client: Any, channel: str) -> dict[str, Expected]:
    """Makes every call of CALLS; returns what must be stored, by the messageId the SDK chose."""
    expected: dict[str, Expected] = {}
    for method, arguments, user_id, event in CALLS:
        queued, message = getattr(client, method)(**arguments)
        assert queued, f"the SDK refused to queue {method}"
        expected[message["messageId"]] = Expected(method, user_id, event, channel)
    return expected


def _check(engine: Engine, source_name: str, expected: dict[str, Expected]) -> None:
    source = source_id(engine, source_name)
    assert_stored_once(engine, source, expected)
    [order] = [row for row in stored_rows(engine, source) if row["event"] == "Order Completed"]
    assert orjson.loads(order["payload"])["properties"] == ORDER


@pytest.mark.sources(backend="crm", **{"mobile-backend": "android"})
def test_python_sdks(omnicx_server: OmnicxServer, engine: Engine) -> None:
    """Both SDKs, two sources: each call stored once, with its own source's channel."""
    errors: list[object] = []
    segment = SegmentClient(
        omnicx_server.write_keys["backend"],
        host=omnicx_server.url,
        on_error=lambda error, batch: errors.append(error),
        max_retries=1,  # a failure should fail the test now, not after minutes of backoff
    )
    rudder = RudderClient(
        omnicx_server.write_keys["mobile-backend"],
        host=omnicx_server.url,  # the data plane URL
        on_error=lambda error, batch: errors.append(error),
        max_retries=1,
    )
    assert rudder.gzip, "the SDK's default, gzip-compressed bodies, is what must work"
    from_segment = _exercise(segment, "crm")
    from_rudder = _exercise(rudder, "android")
    segment.shutdown()  # flush: returns once every batch has been answered
    rudder.shutdown()
    assert errors == []

    # sync_mode posts each call on its own before returning, and raises on any error.
    blocking = SegmentClient(
        omnicx_server.write_keys["backend"], host=omnicx_server.url, sync_mode=True
    )
    _, message = blocking.track(user_id="user-2", event="Signed Up")
    from_segment[message["messageId"]] = Expected("track", "user-2", "Signed Up", "crm")

    _check(engine, "backend", from_segment)
    _check(engine, "mobile-backend", from_rudder)
