"""Live segment membership through the processing stage, on SQLite and PostgreSQL: entering
and leaving as events arrive and as time passes, the events recorded on the timeline, new and
changed definitions, merges and unmerges, segments of segments."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from omnicx.audiences import segments
from omnicx.audiences.membership import member_counts, memberships_of
from omnicx.audiences.recompute import recompute
from omnicx.audiences.tables import audience_timers
from omnicx.identity import service as identity
from omnicx.identity.consumer import CONSUMER_NAME as CONSUMER
from omnicx.pipeline import stream_consumers
from omnicx.profiles import service
from omnicx.store.clock import as_utc
from tests.audiences.live import LiveShop
from tests.profiles.helpers import T0, identify, page, track


@pytest.fixture
def shop(engine: Engine) -> LiveShop:
    return LiveShop(engine)


RECENT_BUYER = {"event": "Order Completed", "within": {"last_days": 7}}


def names(timeline: list[tuple[str | None, dict[str, object]]]) -> list[str]:
    return [
        f"{name}:{props['segment']}"
        for name, props in timeline
        if name in {"Segment Entered", "Segment Exited"}
    ]


def test_a_profile_enters_when_an_event_matches_and_leaves_when_the_window_passes(
    shop: LiveShop,
) -> None:
    shop.define("recent-buyers", RECENT_BUYER)
    shop.send("web", identify("u1", traits={"email": "ada@example.com"}))
    assert shop.segments_of("user_id", "u1") == set()

    shop.now = shop.now.replace(day=2)
    shop.send("web", track("Order Completed", "u1", {"total": 10}, days=1))
    assert shop.segments_of("user_id", "u1") == {"recent-buyers"}

    shop.advance(days=6)  # the order is 6.5 days old at the clock's time: still in
    assert shop.segments_of("user_id", "u1") == {"recent-buyers"}
    shop.advance(days=1)  # 7.5 days: the window slid past it, with no new event
    assert shop.segments_of("user_id", "u1") == set()
    assert names(shop.timeline("user_id", "u1")) == [
        "Segment Entered:recent-buyers",
        "Segment Exited:recent-buyers",
    ]


def test_membership_events_are_not_activity_of_the_person(shop: LiveShop) -> None:
    shop.define("named", {"trait": "name", "op": "exists"})
    shop.send("web", identify("u1", traits={"name": "Ada", "email": "ada@example.com"}))
    document = shop.profile("user_id", "u1")
    entered = [e for e, _ in shop.timeline("user_id", "u1") if e == "Segment Entered"]
    assert entered == ["Segment Entered"]
    # Seen once (the identify), on the web only; the system event adds no trait either.
    assert document.computed.events == 1
    assert document.computed.channels == {"web": 1}
    assert set(document.traits) == {"name", "email"}


def test_the_entered_event_says_which_segment_and_why(shop: LiveShop) -> None:
    shop.define("vip", {"trait": "tier", "op": "eq", "value": "gold"}, name="VIP customers")
    shop.send("store_pos", identify("u1", traits={"tier": "gold"}))
    [properties] = [p for n, p in shop.timeline("user_id", "u1") if n == "Segment Entered"]
    assert properties["segment"] == "vip"
    assert properties["segment_name"] == "VIP customers"
    assert properties["reason"] == "event"
    with shop.engine.connect() as connection:
        assert properties["profile_id"] == service.lookup(connection, "user_id", "u1")


def test_a_new_segment_includes_people_from_before_without_entered_events(shop: LiveShop) -> None:
    shop.send(
        "web",
        track("Order Completed", "u1", {"total": 120}),
        track("Order Completed", "u2", {"total": 5}),
    )
    shop.define(
        "big-order",
        {"event": "Order Completed", "where": [{"property": "total", "op": "gt", "value": 100}]},
    )
    assert shop.segments_of("user_id", "u1") == {"big-order"}
    assert shop.segments_of("user_id", "u2") == set()
    assert names(shop.timeline("user_id", "u1")) == []
    with shop.engine.connect() as connection:
        assert segments.get(connection, "big-order").ready


def test_a_changed_definition_moves_people_with_events(shop: LiveShop) -> None:
    shop.send(
        "web", identify("u1", traits={"tier": "gold"}), identify("u2", traits={"tier": "silver"})
    )
    shop.define("tier", {"trait": "tier", "op": "eq", "value": "gold"})
    with shop.engine.begin() as connection:
        segments.change(
            connection,
            "tier",
            definition={"trait": "tier", "op": "eq", "value": "silver"},
            actor="t",
        )
    shop.process()
    assert shop.segments_of("user_id", "u1") == set()
    assert shop.segments_of("user_id", "u2") == {"tier"}
    assert names(shop.timeline("user_id", "u1")) == ["Segment Exited:tier"]
    assert names(shop.timeline("user_id", "u2")) == ["Segment Entered:tier"]
    reasons = [p["reason"] for n, p in shop.timeline("user_id", "u2") if n == "Segment Entered"]
    assert reasons == ["definition"]


def test_a_segment_of_segments_follows_the_segments_it_names(shop: LiveShop) -> None:
    shop.define("buyers", {"event": "Order Completed"})
    shop.define("viewers", {"event": "Product Viewed"})
    shop.define(
        "browsers-only", {"all": [{"segment": "viewers"}, {"segment": "buyers", "member": False}]}
    )
    shop.send("web", track("Product Viewed", "u1"))
    assert shop.segments_of("user_id", "u1") == {"viewers", "browsers-only"}
    shop.send("web", track("Order Completed", "u1", {"total": 3}))
    assert shop.segments_of("user_id", "u1") == {"viewers", "buyers"}


def test_events_merge_profiles_and_the_merged_profile_is_evaluated(shop: LiveShop) -> None:
    shop.define("web-and-store", {"all": [
        {"event": "Product Viewed", "channel": "web"},
        {"event": "Order Completed", "channel": "store_pos"},
    ]})  # fmt: skip
    shop.send("web", page("Home", anonymous_id="a1"), track("Product Viewed", anonymous_id="a1"))
    shop.send("store_pos", track("Order Completed", "u1", {"total": 20}))
    assert shop.segments_of("anonymous_id", "a1") == set()
    assert shop.segments_of("user_id", "u1") == set()
    # Logging in on the web links the browser to the customer: one profile, in the segment.
    shop.send("web", identify("u1", anonymous_id="a1"))
    assert shop.segments_of("user_id", "u1") == {"web-and-store"}
    with shop.engine.connect() as connection:
        [merge] = [
            c
            for c in identity.changes_of(connection, service.lookup(connection, "user_id", "u1"))
            if c.kind == "merged"
        ]
        gone = {merge.profile_id, merge.other_profile_id} - {
            service.lookup(connection, "user_id", "u1")
        }
        # The profile merged away keeps no memberships or timers.
        assert all(memberships_of(connection, p) == [] for p in gone)
    # Undoing the merge splits the person again: neither side qualifies alone.
    with shop.engine.begin() as connection:
        service.unmerge(connection, merge.id, actor="test")
    shop.process()
    assert shop.segments_of("user_id", "u1") == set()
    assert shop.segments_of("anonymous_id", "a1") == set()


def kept_counts(shop: LiveShop) -> dict[str, int]:
    """The member counts kept beside the members, by segment key."""
    with shop.engine.connect() as connection:
        keys = {s.id: s.key for s in segments.all_segments(connection)}
        return {keys[i]: n for i, n in member_counts(connection).items()}


def test_the_kept_member_counts_follow_entries_exits_merges_and_changes(shop: LiveShop) -> None:
    shop.define("viewers", {"event": "Product Viewed"})
    shop.define("gold", {"trait": "tier", "op": "eq", "value": "gold"})
    shop.send(
        "web",
        track("Product Viewed", anonymous_id="a1"),
        track("Product Viewed", "u1"),
        track("Product Viewed", "u2"),
        identify("u2", traits={"tier": "gold"}),
    )
    assert kept_counts(shop) == {"viewers": 3, "gold": 1}
    # The browser turns out to be u1's: two viewers become one person.
    shop.send("web", identify("u1", anonymous_id="a1"))
    assert kept_counts(shop) == {"viewers": 2, "gold": 1}
    shop.send("web", identify("u2", traits={"tier": "silver"}))
    assert kept_counts(shop) == {"viewers": 2}
    # Rebuilding every profile evaluates every segment again, from no members.
    names_ = [c.name for c in stream_consumers()]
    with shop.engine.begin() as connection:
        identity.rebuild(connection, downstream=names_[names_.index(CONSUMER) + 1 :], actor="t")
    shop.process()
    assert kept_counts(shop) == {"viewers": 2}
    with shop.engine.begin() as connection:
        segments.change(connection, "viewers", definition={"event": "Order Completed"}, actor="t")
    shop.process()
    assert kept_counts(shop) == {}


def test_a_future_window_sets_a_timer(shop: LiveShop) -> None:
    shop.define("recent-buyers", RECENT_BUYER)
    shop.send("web", track("Order Completed", "u1", {"total": 10}))
    with shop.engine.connect() as connection:
        due = connection.execute(select(audience_timers.c.due_at)).scalars().all()
    assert len(due) == 1
    # The order (at T0, 12:00) leaves the 7-day window 7 days later.
    assert as_utc(due[0]) == T0 + timedelta(days=7)


def test_batch_recompute_agrees_with_the_live_members(shop: LiveShop) -> None:
    shop.define("recent-buyers", RECENT_BUYER)
    shop.define("gold", {"trait": "tier", "op": "eq", "value": "gold"})
    shop.send(
        "web",
        identify("u1", traits={"tier": "gold"}),
        track("Order Completed", "u2", {"total": 1}),
        track("Order Completed", "u3", {"total": 1}, days=-30),
    )
    with shop.engine.connect() as connection:
        report = recompute(connection, now=shop.now, from_events=True)
    assert report.agrees
    assert report.members == {"recent-buyers": 1, "gold": 1}
    assert report.live == report.members


def test_a_new_person_enters_a_did_not_segment_without_doing_anything_it_watches(
    shop: LiveShop,
) -> None:
    # Found by the bulk recompute's property test: a segment of "did not" only watches its
    # event, but a person nobody evaluated yet must be evaluated against every segment.
    shop.define(
        "no-recent-views",
        {"event": "Product Viewed", "did": False, "within": {"last_hours": 24}},
    )
    shop.send("web", identify("u1", traits={"email": "ada@example.com"}))
    assert shop.segments_of("user_id", "u1") == {"no-recent-views"}
    shop.send("web", track("Product Viewed", "u1", {"sku": "A"}))
    assert shop.segments_of("user_id", "u1") == set()
    shop.send("web", track("Order Completed", "u2", {"total": 5}))
    assert shop.segments_of("user_id", "u2") == {"no-recent-views"}


def test_a_segment_defined_just_before_the_event_that_brings_someone_in_announces_it(
    shop: LiveShop,
) -> None:
    # The definition and the event reach the consumer in the same run: the segment goes live
    # with what came before (nobody), then the event brings the shopper in, announced.
    with shop.engine.begin() as connection:
        segments.create(
            connection, key="buyers", name="Buyers", definition={"event": "Order Completed"},
            actor="test",
        )  # fmt: skip
    shop.send("web", track("Order Completed", "u1", {"total": 10}))
    assert shop.segments_of("user_id", "u1") == {"buyers"}
    assert names(shop.timeline("user_id", "u1")) == ["Segment Entered:buyers"]
