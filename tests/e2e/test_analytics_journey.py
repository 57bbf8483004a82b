"""Cross-channel journeys reach the reports, end to end.

The official Segment Python SDK sends three customers' journeys (8 events) to a running
`omnicx serve` from three sources: viewed on the web, added to the cart in the app (where each
signs in, so the web visit joins their profile), bought in the store. The server's processing stage
resolves them and writes the event lake; `omnicx report funnel` (a separate process) and the
analytics API must count people across channels: 3 viewed, 2 added, 1 bought.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import pytest
from segment.analytics import Client as SegmentClient

from tests.e2e.server import OmnicxServer, run_cli, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

STEPS = ["Product Viewed", "Product Added", "Order Completed"]


def _at(day: int, hour: int, minute: int) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


@pytest.mark.sources(web="web", app="ios", store="store_pos")
def test_a_cross_channel_funnel_counts_people(
    omnicx_server: OmnicxServer, database_url: str, tmp_path: Path
) -> None:
    keys, host = omnicx_server.write_keys, omnicx_server.url
    web, app, store = (
        SegmentClient(keys[name], host=host, sync_mode=True, max_retries=1)
        for name in ("web", "app", "store")
    )
    for n, buys in ((1, True), (2, False), (3, None)):
        web.track(
            anonymous_id=f"browser-{n}",
            event="Product Viewed",
            properties={"product_id": "KRV-2005", "price": 27.95},
            timestamp=_at(n, 10, 0),
        )
        if buys is None:
            continue  # only looked
        app.identify(user_id=f"u-{n}", anonymous_id=f"browser-{n}", timestamp=_at(n, 10, 5))
        app.track(
            user_id=f"u-{n}",
            event="Product Added",
            properties={"product_id": "KRV-2005"},
            timestamp=_at(n, 10, 6),
        )
        if buys:
            store.track(
                user_id=f"u-{n}",
                event="Order Completed",
                properties={"order_id": f"R-{n}", "total": 27.95, "currency": "EUR"},
                timestamp=_at(n + 1, 15, 0),
            )
    token = run_cli(database_url, "tokens", "create", "--role", "analyst").strip().splitlines()[-1]
    api = httpx.Client(
        base_url=f"{host}/api/analytics", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    wait_until(lambda: api.get("/lake").json()["events"] == 8, "the lake to hold the 8 events")

    printed = run_cli(
        database_url, "report", "funnel", *STEPS, "--window", "30d", "--format", "json"
    )
    funnel = orjson.loads(printed)
    assert [(s["step"], s["count"]) for s in funnel["steps"]] == list(
        zip(STEPS, [3, 2, 1], strict=True)
    )

    answer = api.post("/funnel", json={"steps": STEPS, "window": "30d"})
    assert answer.status_code == 200, answer.text
    assert [s["count"] for s in answer.json()["steps"]] == [3, 2, 1]
