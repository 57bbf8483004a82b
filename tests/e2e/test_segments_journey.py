"""Segments end to end: defined with the CLI and the API, entered live by a running server.

A marketer defines "abandoned a cart in the last 24 hours and consented to SMS" with
`omnicx segments create` (a separate process) and "bought in store" through the API. The
official Segment Python SDK then sends a shopper's events to `omnicx serve`: the processing
stage puts the profile in the segment, and the `Segment Entered` event shows on the profile's
timeline; a checkout takes the shopper out again. Bad definitions are refused with the path of
the problem, by the CLI and by the API.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import orjson
import pytest
from segment.analytics import Client as SegmentClient

from omnicx.store.clock import utc_now
from tests.e2e.server import OmnicxServer, run_cli, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

ABANDONED = {
    "all": [
        {"event": "Product Added", "within": {"last_hours": 24}},
        {"event": "Order Completed", "did": False, "within": {"last_hours": 24}},
        {"consent": {"channel": "sms", "purpose": "marketing"}},
    ]
}


def _segments(api: httpx.Client, profile_id: str) -> list[str]:
    answer = api.get(f"/profiles/{profile_id}/segments")
    assert answer.status_code == 200, answer.text
    return [s["segment"] for s in answer.json()["segments"]]


def _timeline(api: httpx.Client, profile_id: str) -> list[tuple[str, str]]:
    events = api.get(f"/profiles/{profile_id}/events").json()["events"]
    return [(e["event"], e["channel"]) for e in events if e["type"] == "track"]


@pytest.mark.sources(web="web", store="store_pos")
def test_a_shopper_enters_a_segment_live_and_it_is_on_the_timeline(
    omnicx_server: OmnicxServer, database_url: str, tmp_path: Path
) -> None:
    definition = tmp_path / "abandoned.json"
    definition.write_text(orjson.dumps(ABANDONED).decode())
    printed = run_cli(
        database_url, "segments", "create", "cart-abandoners", "--name", "Abandoned carts",
        "--file", str(definition),
    )  # fmt: skip
    assert "Created segment cart-abandoners" in printed

    token = run_cli(database_url, "tokens", "create", "--role", "marketer").strip().splitlines()[-1]
    api = httpx.Client(
        base_url=f"{omnicx_server.url}/api",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    created = api.post(
        "/segments",
        json={
            "key": "store-buyers",
            "name": "Bought in store",
            "definition": {"event": "Order Completed", "channel": "store_pos"},
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["text"] == 'did "Order Completed" on store_pos'
    refused = api.post(
        "/segments",
        json={
            "key": "broken",
            "name": "Broken",
            "definition": {"all": [{"event": "Order Completed", "within": {"last_days": -3}}]},
        },
    )
    assert refused.status_code == 422
    assert refused.json()["code"] == "invalid_definition"
    assert refused.json()["errors"][0]["field"] == "definition.all[0].within.last_days"

    keys, host = omnicx_server.write_keys, omnicx_server.url
    web = SegmentClient(keys["web"], host=host, sync_mode=True, max_retries=1)
    store = SegmentClient(keys["store"], host=host, sync_mode=True, max_retries=1)
    now = utc_now()
    web.identify(
        user_id="shopper-1",
        traits={"email": "deniz@example.com", "smsOptIn": True},
        timestamp=now - timedelta(minutes=5),
    )
    web.track(
        user_id="shopper-1",
        event="Product Added",
        properties={"product_id": "KRV-2005", "price": 27.95},
        timestamp=now - timedelta(minutes=4),
    )
    wait_until(
        lambda: api.get("/profiles/lookup", params={"type": "email", "value": "deniz@example.com"})
        .status_code == 200,
        "the shopper's profile",
    )  # fmt: skip
    lookup = api.get("/profiles/lookup", params={"type": "email", "value": "deniz@example.com"})
    profile_id = lookup.json()["id"]
    wait_until(lambda: "cart-abandoners" in _segments(api, profile_id), "the segment entry")
    wait_until(
        lambda: ("Segment Entered", "system") in _timeline(api, profile_id),
        "Segment Entered on the timeline",
    )
    members = api.get("/segments/cart-abandoners/members").json()["members"]
    assert [m["profile_id"] for m in members] == [profile_id]

    # Buying in the store ends the abandonment and enters the other segment.
    store.track(
        user_id="shopper-1",
        event="Order Completed",
        properties={"order_id": "R-1", "total": 27.95, "currency": "EUR"},
        timestamp=now - timedelta(minutes=1),
    )
    wait_until(lambda: _segments(api, profile_id) == ["store-buyers"], "the segment change")
    wait_until(
        lambda: ("Segment Exited", "system") in _timeline(api, profile_id),
        "Segment Exited on the timeline",
    )
    listed = orjson.loads(run_cli(database_url, "segments", "list", "--json"))
    assert {s["key"]: s["members"] for s in listed} == {"cart-abandoners": 0, "store-buyers": 1}
    checked = orjson.loads(run_cli(database_url, "segments", "recompute", "--json"))
    assert checked["agrees"] is True
