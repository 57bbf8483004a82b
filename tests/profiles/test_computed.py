"""Computed traits: seen, channels, preferred channel, orders, lifetime value, cart, RFM."""

from __future__ import annotations

import time

from sqlalchemy import Engine

from omnicx.collect.processing import process_available
from omnicx.pipeline import stream_consumers
from omnicx.profiles import rfm
from omnicx.profiles.fold import open_cart, preferred_channel
from tests.profiles.helpers import Shop, page, track

SHOE = {"product_id": "p-1", "name": "Shoe", "price": 50.0, "quantity": 1}
HAT = {"product_id": "p-2", "name": "Hat", "price": 20.0}


def test_first_and_last_seen_and_events_per_channel(engine: Engine) -> None:
    shop = Shop(engine)
    shop.send("web", page("Home", "u-1", days=3), page("Shoes", "u-1", days=1))
    shop.send(
        "email", track("Email Opened", "u-1", days=7), track("Email Delivered", "u-1", days=6)
    )
    computed = shop.profile("user_id", "u-1").computed
    assert (computed.first_seen_at.day, computed.last_seen_at.day) == (2, 8)  # type: ignore[union-attr]
    assert computed.events == 4
    assert computed.channels == {"email": 2, "web": 2}


def test_the_preferred_channel_counts_own_actions_in_the_last_90_days(engine: Engine) -> None:
    shop = Shop(engine)
    # Long ago the person lived on the web; lately they use the app.
    shop.send("web", *(page("Home", "u-1", days=d) for d in range(10)))
    shop.send("ios", *(track("Application Opened", "u-1", days=200 + d) for d in range(3)))
    # Deliveries are done to them, not by them: they do not count.
    shop.send("email", *(track("Email Delivered", "u-1", days=250 + d) for d in range(9)))
    computed = shop.profile("user_id", "u-1").computed
    assert computed.preferred_channel == "ios"
    assert computed.channels == {"web": 10, "email": 9, "ios": 3}


def test_preferred_channel_ties_go_to_the_latest_day_then_the_name() -> None:
    assert preferred_channel({"web": {"2026-01-01": 2}, "sms": {"2026-01-03": 2}}) == "sms"
    assert preferred_channel({"web": {"2026-01-03": 2}, "sms": {"2026-01-03": 2}}) == "sms"
    assert preferred_channel({}) is None


def test_orders_lifetime_value_and_last_order(engine: Engine) -> None:
    shop = Shop(engine)
    shop.send(
        "web",
        track("Order Completed", "u-1", {"order_id": "A", "revenue": 90, "total": 99}, days=1),
        track("Order Completed", "u-1", {"order_id": "C", "revenue": "10.5"}, days=5),
    )
    shop.send(
        "store_pos",
        track("Order Completed", "u-1", {"order_id": "B", "total": 40, "currency": "try"}, days=3),
    )
    computed = shop.profile("user_id", "u-1").computed
    assert computed.orders == 3
    assert computed.lifetime_value == 140.5  # revenue where given, else total
    last = computed.last_order
    assert last is not None
    assert (last.order_id, last.value, last.channel, last.at.day) == ("C", 10.5, "web", 6)
    assert computed.open_cart is None


def test_the_open_cart_holds_what_was_added_since_the_last_order(engine: Engine) -> None:
    shop = Shop(engine)
    shop.send(
        "web",
        track("Product Added", "u-1", SHOE, days=1),
        track("Order Completed", "u-1", {"order_id": "A", "revenue": 50}, days=2),
        track("Product Added", "u-1", {**SHOE, "quantity": 2}, days=3),
        track("Product Added", "u-1", HAT, days=4),
        track("Product Added", "u-1", HAT, days=4.5),
        track("Product Removed", "u-1", HAT, days=5),
    )
    cart = shop.profile("user_id", "u-1").computed.open_cart
    assert cart is not None
    assert [(i.key, i.name, i.quantity) for i in cart.items] == [
        ("p-1", "Shoe", 2),
        ("p-2", "Hat", 1),
    ]
    assert cart.value == 120.0
    assert cart.updated_at.day == 6
    # An add that happened before the order but arrives late does not reopen it.
    shop.send("ios", track("Product Added", "u-1", HAT, days=1.5))
    assert shop.profile("user_id", "u-1").computed.open_cart == cart
    # A later order closes the cart.
    shop.send("store_pos", track("Order Completed", "u-1", {"order_id": "B", "total": 120}, days=6))
    assert shop.profile("user_id", "u-1").computed.open_cart is None


def test_removing_everything_empties_the_cart() -> None:
    added = {"at": "2026-01-01T00:00:00.000000Z", "event_id": 1, "op": "add", "key": "p"}
    removed = {**added, "at": "2026-01-02T00:00:00.000000Z", "event_id": 2, "op": "remove"}
    common = {"name": "P", "price": None, "quantity": 1.0}
    assert open_cart([{**added, **common}, {**removed, **common}]) is None
    cart = open_cart([{**added, **common}])
    assert cart is not None and cart.value is None


def test_rfm_scores_are_quintiles_across_buyers(engine: Engine) -> None:
    shop = Shop(engine)
    # Five buyers: buyer n orders n times, for 100 n each time, last on day 10 n.
    for n in range(1, 6):
        shop.send(
            "web",
            *(
                track("Order Completed", f"u-{n}", {"revenue": 100 * n}, days=10 * n - k)
                for k in range(n)
            ),
        )
    shop.send("web", page("Home", "u-0"))
    codes = {n: shop.profile("user_id", f"u-{n}").computed.rfm for n in range(6)}
    assert codes[0] is None  # no orders, no score
    assert [codes[n].code for n in range(1, 6)] == ["111", "222", "333", "444", "555"]  # type: ignore[union-attr]
    with engine.connect() as connection:
        thresholds = rfm.compute_thresholds(connection)
    assert thresholds is not None
    assert thresholds.profiles == 5 and thresholds.frequency == (1, 2, 3, 4)


def test_rfm_ties_take_the_lower_score() -> None:
    bounds = rfm.RfmThresholds(10, (), (1, 1, 1, 2), (10.0, 20.0, 30.0, 40.0))
    score = rfm.score(
        rfm.RfmThresholds(10, bounds.frequency and (), (1, 1, 1, 2), bounds.monetary),
        last_order_at=None,
        orders=1,
        lifetime_value=10.0,
    )
    assert score is None  # no last order, no score
    assert rfm._score(1, bounds.frequency) == 1
    assert rfm._score(2, bounds.frequency) == 4
    assert rfm._score(3, bounds.frequency) == 5


def test_rfm_thresholds_older_than_their_age_answer_while_new_ones_are_computed(
    engine: Engine,
) -> None:
    def read(max_age: float = rfm.THRESHOLD_SECONDS) -> rfm.RfmThresholds | None:
        with engine.connect() as connection:
            return rfm.thresholds(connection, max_age=max_age)

    shop = Shop(engine)
    shop.send("web", track("Order Completed", "u-1", {"revenue": 100}, days=3))
    rfm.forget_thresholds()
    first = read()  # the first read in a process computes them
    assert first is not None and first.profiles == 1
    shop.send("web", track("Order Completed", "u-2", {"revenue": 300}, days=2), process=False)
    process_available(engine, stream_consumers())  # as a server does: its cache stays
    # Within their age: kept. Past it: still the kept ones now, new ones shortly.
    assert read() == first
    assert read(max_age=0.0) == first
    deadline = time.monotonic() + 30
    while (found := read()) == first and time.monotonic() < deadline:
        time.sleep(0.05)
    assert found is not None and found.profiles == 2
