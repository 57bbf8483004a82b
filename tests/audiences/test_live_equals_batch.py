"""Live membership equals a batch recompute from the raw events, on random event streams.

Random customers send random events (orders with amounts on two channels, product views,
identifies that set traits, add e-mails and link browsers to accounts), in random batches,
while the clock moves on by random steps. Throughout, the membership consumer keeps segments
live from events, merges and timers; at the end a batch evaluation of every profile from the
stored events (not the live path's hits) must find exactly the same members, and so must the
bulk recompute (every profile exported to Arrow, evaluated in DuckDB).
"""

from __future__ import annotations

import itertools
import os
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete

from omnicx.audiences.membership import member_counts
from omnicx.audiences.recompute import recompute
from omnicx.audiences.segments import all_segments
from omnicx.schema import metadata
from omnicx.store.clock import iso
from tests.audiences.live import LiveShop
from tests.profiles.helpers import T0

SEGMENTS: dict[str, dict[str, Any]] = {
    "repeat-buyers-3d": {
        "event": "Order Completed",
        "count": {"op": "gte", "value": 2},
        "within": {"last_days": 3},
    },
    "big-store-order": {
        "event": "Order Completed",
        "channel": "store_pos",
        "where": [{"property": "total", "op": "gt", "value": 50}],
    },
    "gold": {"trait": "tier", "op": "eq", "value": "gold"},
    "viewed-not-bought-2d": {
        "all": [
            {"event": "Product Viewed", "within": {"last_hours": 36}},
            {"event": "Order Completed", "did": False, "within": {"last_days": 2}},
        ]
    },
    "reachable": {"identity": "email"},
    "gold-repeat": {"all": [{"segment": "gold"}, {"segment": "repeat-buyers-3d"}]},
    "january": {
        "event": "Product Viewed",
        "within": {"between": ["2026-01-02", "2026-01-03"]},
    },
    "few-views": {"event": "Product Viewed", "count": {"op": "between", "value": [1, 2]}},
}

USERS = ["u1", "u2", "u3"]
BROWSERS = ["a1", "a2", "a3"]
_ids = itertools.count(1)

orders = st.tuples(
    st.just("order"),
    st.sampled_from(USERS),
    st.sampled_from(["web", "store_pos"]),
    st.integers(1, 100),
    st.integers(-48, 2),  # hours from the clock: late events, and a few from the future
)
views = st.tuples(
    st.just("view"),
    st.sampled_from(USERS + BROWSERS),
    st.sampled_from(["web", "store_pos"]),
    st.just(0),
    st.integers(-30, 0),
)
identifies = st.tuples(
    st.just("identify"),
    st.sampled_from(USERS),
    st.sampled_from(["gold", "silver", "", "link", "email"]),
    st.sampled_from(BROWSERS),
    st.just(0),
)
waits = st.tuples(st.just("wait"), st.just(""), st.just(""), st.integers(1, 60), st.just(0))
steps = st.lists(st.one_of(orders, views, identifies, waits), min_size=1, max_size=25)


Step = tuple[str, str, str, Any, int]


def message(shop: LiveShop, step: Step) -> dict[str, Any]:
    kind, who, what, number, hours = step
    person = {"anonymousId": who} if who.startswith("a") else {"userId": who}
    base = {"messageId": f"p-{next(_ids)}", "timestamp": iso(shop.now + timedelta(hours=hours))}
    if kind == "order":
        order = {"type": "track", "event": "Order Completed", "properties": {"total": number}}
        return order | person | base
    if kind == "view":
        return {"type": "track", "event": "Product Viewed", **person, **base}
    traits: dict[str, Any] = {}
    if what in {"gold", "silver"}:
        traits["tier"] = what
    elif what == "email":
        traits["email"] = f"{who}@example.com"
    identified: dict[str, Any] = {"type": "identify", "userId": who, "traits": traits, **base}
    if what == "link":
        identified["anonymousId"] = number  # the browser
    return identified


def clear(engine: Engine) -> None:
    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(delete(table))


@settings(
    max_examples=int(os.environ.get("OMNICX_PROPERTY_EXAMPLES", "40")) // 2,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    stream=steps,
    batch=st.integers(1, 8),
    start=st.integers(0, 72),
)
def test_live_members_equal_a_batch_recompute_from_the_events(
    engine: Engine, stream: list[Step], batch: int, start: int
) -> None:
    clear(engine)
    shop = LiveShop(engine, lake=False)
    shop.now = T0 + timedelta(hours=start)
    for key, definition in SEGMENTS.items():
        shop.define(key, definition)
    pending: list[tuple[str, dict[str, Any]]] = []
    for step in stream:
        if step[0] == "wait":
            shop.send_all(pending)
            pending = []
            shop.advance(hours=step[3])
            continue
        channel = step[2] if step[0] in {"order", "view"} else "web"
        pending.append((channel, message(shop, step)))
        if len(pending) >= batch:
            shop.send_all(pending)
            pending = []
    shop.send_all(pending)
    shop.advance(hours=1)
    with engine.connect() as connection:
        report = recompute(connection, now=shop.now, from_events=True)
        bulk = recompute(connection, now=shop.now)  # the Arrow export and DuckDB
        kept = member_counts(connection)
        keys = {s.id: s.key for s in all_segments(connection)}
    assert report.agrees, (report.entered, report.exited)
    assert report.live == report.members
    # The counts kept beside the members (segment lists show them) are the members' counts.
    assert {keys[i]: n for i, n in kept.items()} == {k: n for k, n in report.live.items() if n}
    assert (bulk.profiles, bulk.members, bulk.live) == (
        report.profiles,
        report.members,
        report.live,
    )
    assert bulk.agrees
