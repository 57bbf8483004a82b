"""The segment builder's preview count equals the members the live path gives the same
definition, on SQLite and PostgreSQL: before the segment exists (event conditions from the
stored events) and after (from the hits), in one go or page by page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from omnicx.audiences import segments
from omnicx.audiences.membership import member_counts
from omnicx.audiences.preview import START, MatchCount, count_matches
from omnicx.audiences.segment_counts import member_count
from tests.audiences.live import LiveShop
from tests.profiles.helpers import T0, identify, page, track

DEFINITIONS: list[dict[str, Any]] = [
    {"event": "Order Completed", "channel": "store_pos", "within": {"last_days": 30}},
    {"all": [
        {"trait": "city", "op": "eq", "value": "Ankara"},
        {"event": "Product Added", "count": {"op": "gte", "value": 2}},
    ]},
    {"any": [
        {"consent": {"channel": "sms", "purpose": "marketing"}},
        {"not": {"identity": "email"}},
    ]},
    {"event": "Order Completed", "where": [{"property": "total", "op": "gt", "value": 50}]},
    {"event": "Pricing", "within": {"last_hours": 48}},
    {"all": [{"segment": "base"}, {"computed": "orders", "op": "gte", "value": 1}]},
    {"event": "Order Completed", "did": False},
    {"event": "Product Added", "count": {"op": "lte", "value": 1}, "within": {"last_days": 3}},
]  # fmt: skip


@pytest.fixture
def shop(engine: Engine) -> LiveShop:
    shop = LiveShop(engine, lake=False)
    shop.now = T0 + timedelta(days=1)
    shop.define("base", {"trait": "city", "op": "exists"})
    shop.send(
        "web",
        identify("u1", traits={"email": "ada@example.com", "city": "Ankara", "smsOptIn": True}),
        track("Product Added", "u1", {"sku": "a"}, days=-2),
        track("Product Added", "u1", {"sku": "b"}, days=-1),
        identify("u2", traits={"email": "bo@example.com", "city": "Izmir"}),
        track("Product Added", "u2", {"sku": "a"}, days=-10),
        page("Pricing", anonymous_id="anon-3"),
        track("Product Added", anonymous_id="anon-3", days=-0.5),
        identify("u4", traits={"city": "ankara"}),
        track("Product Added", "u4", days=-5),
        track("Product Added", "u4", days=-6),
    )
    shop.send(
        "store_pos",
        track("Order Completed", "u1", {"total": 80}, days=-3),
        track("Order Completed", "u2", {"total": 20}, days=-40),
        track("Order Completed", "u4", {"total": 51.5}, days=-1),
    )
    return shop


def _count(shop: LiveShop, definition: dict[str, Any], **options: Any) -> MatchCount:
    with shop.engine.connect() as connection:
        checked = segments.check(connection, definition, allow_new_traits=True)
        return count_matches(connection, checked, shop.now, **options)


@pytest.mark.parametrize("number", range(len(DEFINITIONS)))
def test_the_preview_counts_the_members_the_live_path_gives(shop: LiveShop, number: int) -> None:
    definition = DEFINITIONS[number]
    before = _count(shop, definition)  # no segment uses these conditions yet: stored events
    shop.define("previewed", definition)
    with shop.engine.connect() as connection:
        segment = segments.get(connection, "previewed")
        assert segment.ready
        live = member_counts(connection).get(segment.id, 0)
        assert member_count(connection, segment.id) == live
    after = _count(shop, definition)  # the segment's hits now
    assert before.done and after.done
    assert before.matched == after.matched == live
    assert before.checked == after.checked == 4


def test_the_examples_are_not_all_trivial(shop: LiveShop) -> None:
    found = [_count(shop, d).matched for d in DEFINITIONS]
    assert found == [2, 2, 3, 2, 1, 3, 1, 4]


def test_a_budget_splits_the_count_into_pages_that_add_up(shop: LiveShop) -> None:
    definition = DEFINITIONS[1]
    ticks = iter(range(1000))
    found = START
    steps = 0
    while not found.done:
        with shop.engine.connect() as connection:
            checked = segments.check(connection, definition, allow_new_traits=True)
            found = count_matches(
                connection,
                checked,
                shop.now,
                start=found,
                budget_seconds=0.5,
                page=1,
                clock=lambda: float(next(ticks)),
            )
        steps += 1
        assert found.progress is not None and 0.0 <= found.progress <= 1.0
    assert (found.matched, found.checked) == (2, 4)
    assert steps >= 4
    assert found.progress == 1.0 and found.share == 0.5


def test_progress_is_the_share_of_the_id_space_covered() -> None:
    assert START.progress == 0.0 and START.share is None
    halfway = MatchCount(1, 2, "80000000-0000-4000-8000-000000000000", done=False)
    assert halfway.progress == pytest.approx(0.5)
    assert MatchCount(0, 3, "crm-7", done=False).progress is None
