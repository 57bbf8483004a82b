"""Funnels on small hand-made lakes, with the numbers worked out by hand."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from omnicx.analytics import writer
from omnicx.analytics.funnel_results import short_duration
from omnicx.analytics.funnel_spec import Exclusion, FunnelStep
from omnicx.analytics.funnels import FunnelError, dropped_people, funnel
from omnicx.analytics.lake import LakeSnapshot
from omnicx.analytics.scope import Filter, Scope
from tests.analytics.lakes import Row, build_lake, reattribute

T = datetime(2026, 3, 10, 9)
VIEW, ADD, ORDER = "Product Viewed", "Product Added", "Order Completed"
HOUR, DAY = timedelta(hours=1), timedelta(days=1)


def _shop(path: Path) -> LakeSnapshot:
    """Ada views on the web, adds in the app, buys in store; Bob views and adds in the app;
    Cy views on the web and buys on the web; Dan only adds to a cart."""
    rows = [
        Row("ada", VIEW, T, channel="web"),
        Row("ada", ADD, T + HOUR, channel="app"),
        Row("ada", ORDER, T + 2 * DAY, channel="store_pos", properties={"total": 120}),
        Row("bob", VIEW, T, channel="app"),
        Row("bob", ADD, T + 3 * HOUR, channel="app"),
        Row("cy", VIEW, T, channel="web"),
        Row("cy", ORDER, T + 3 * HOUR, channel="web", properties={"total": 80}),
        Row("dan", ADD, T, channel="app"),
    ]
    return build_lake(path, rows)


CROSS_CHANNEL = [VIEW, ADD, f"{ORDER}[channel=store_pos]"]


def test_a_cross_channel_funnel_counts_people_per_step(tmp_path: Path) -> None:
    result = funnel(_shop(tmp_path), CROSS_CHANNEL)
    steps = result.to_dict()["steps"]
    assert [(s["step"], s["count"]) for s in steps] == [
        (VIEW, 3),
        (ADD, 2),
        ("Order Completed[channel=store_pos]", 1),
    ]
    assert [s["conversion_from_start"] for s in steps] == pytest.approx([1, 2 / 3, 1 / 3])
    assert [s["conversion_from_previous"] for s in steps] == pytest.approx([None, 2 / 3, 1 / 2])
    assert [s["dropped"] for s in steps] == [0, 1, 1]
    assert [s["drop_off"] for s in steps] == pytest.approx([None, 1 / 3, 1 / 2])
    # Ada added after 1 h, Bob after 3 h; Ada bought 47 h after adding.
    assert [s["median_seconds_from_previous"] for s in steps] == [None, 7200, 47 * 3600]
    assert [s["average_seconds_from_start"] for s in steps] == [0, 7200, 48 * 3600]
    time = result.time_to_convert
    assert (time.people, time.median_seconds) == (1, 48 * 3600)
    assert {b.label: b.count for b in time.histogram if b.count} == {"2d–7d": 1}
    assert result.to_dict()["conversion"] == pytest.approx(1 / 3)


def test_breakdown_takes_the_value_at_the_first_the_last_or_a_chosen_step(
    tmp_path: Path,
) -> None:
    lake = _shop(tmp_path)

    def groups(attribution: str) -> list[tuple[str | None, list[int]]]:
        result = funnel(lake, CROSS_CHANNEL, breakdown="channel", breakdown_attribution=attribution)
        return [(g.value, [s.count for s in g.steps]) for g in result.groups]

    assert groups("first") == [("web", [2, 1, 1]), ("app", [1, 1, 0])]
    # The last step reached: Ada's store order, Bob's cart in the app, Cy's web view.
    assert groups("last") == [("app", [1, 1, 0]), ("store_pos", [1, 1, 1]), ("web", [1, 0, 0])]
    # Step 2: Cy never added to a cart, so has no value.
    assert groups("step:2") == [("app", [2, 2, 1]), (None, [1, 0, 0])]


def test_the_window_includes_its_end(tmp_path: Path) -> None:
    lake = build_lake(
        tmp_path,
        [
            Row("on-time", VIEW, T),
            Row("on-time", ADD, T + HOUR),
            Row("late", VIEW, T),
            Row("late", ADD, T + HOUR + timedelta(microseconds=1)),
        ],
    )
    result = funnel(lake, [VIEW, ADD], window=HOUR)
    assert [s.count for s in result.steps] == [2, 1]
    assert [
        p.profile_id for p in dropped_people(lake, [VIEW, ADD], step=2, window=HOUR).people
    ] == ["late"]


def test_each_person_counts_once_with_the_attempt_that_got_furthest(tmp_path: Path) -> None:
    lake = build_lake(
        tmp_path,
        [
            # A first look on the web goes nowhere within the week; ten days later in the app
            # the person views, adds and buys.
            Row("eve", VIEW, T, channel="web"),
            Row("eve", VIEW, T + 10 * DAY, channel="app"),
            Row("eve", ADD, T + 10 * DAY + HOUR, channel="app"),
            Row("eve", ORDER, T + 10 * DAY + 2 * HOUR, channel="app"),
            # Two views before one cart: the attempt is the shorter one, from the second view.
            Row("fay", VIEW, T, channel="web"),
            Row("fay", VIEW, T + DAY, channel="app"),
            Row("fay", ADD, T + 2 * DAY, channel="app"),
        ],
    )
    result = funnel(lake, [VIEW, ADD, ORDER], window=7 * DAY, breakdown="channel")
    assert [s.count for s in result.steps] == [2, 2, 1]
    assert result.steps[1].median_seconds_from_previous == pytest.approx((3600 + 86400) / 2)
    assert result.time_to_convert.median_seconds == 2 * 3600
    assert [(g.value, [s.count for s in g.steps]) for g in result.groups] == [("app", [2, 2, 1])]


def test_equal_times_follow_the_order_events_arrived_in(tmp_path: Path) -> None:
    lake = build_lake(
        tmp_path,
        [
            Row("gil", ADD, T),  # arrived before the view of the same instant
            Row("gil", VIEW, T),
            Row("hal", VIEW, T),
            Row("hal", ADD, T),
        ],
    )
    assert [s.count for s in funnel(lake, [VIEW, ADD]).steps] == [2, 1]


def test_strict_funnels_allow_no_other_touchpoint_between_steps(tmp_path: Path) -> None:
    lake = build_lake(
        tmp_path,
        [
            Row("ida", VIEW, T),
            Row("ida", "Home", T + HOUR, type="page"),  # another touchpoint: breaks it
            Row("ida", ADD, T + 2 * HOUR),
            Row("jo", VIEW, T),
            Row("jo", "Email Delivered", T + HOUR, channel="email", active=False),
            Row("jo", ADD, T + 2 * HOUR),
            Row("kim", VIEW, T),
            Row("kim", None, T + HOUR, type="identify", traits={"tier": "gold"}),
            Row("kim", ADD, T + 2 * HOUR),
            Row("lou", VIEW, T),
            Row("lou", ADD, T + 2 * HOUR, channel="app"),
        ],
    )
    assert [s.count for s in funnel(lake, [VIEW, ADD], ordering="strict").steps] == [4, 3]
    assert [s.count for s in funnel(lake, [VIEW, ADD], ordering="ordered").steps] == [4, 4]


def test_unordered_funnels_take_the_steps_in_any_order(tmp_path: Path) -> None:
    lake = build_lake(
        tmp_path,
        [
            Row("max", ADD, T, channel="app"),
            Row("max", VIEW, T + HOUR, channel="web"),
            Row("max", ORDER, T + 2 * HOUR, channel="store_pos"),
        ],
    )
    ordered = funnel(lake, [VIEW, ADD, ORDER])
    assert [s.count for s in ordered.steps] == [1, 0, 0]
    unordered = funnel(lake, [VIEW, ADD, ORDER], ordering="unordered", breakdown="channel")
    assert [s.count for s in unordered.steps] == [1, 1, 1]
    # From the cart (the attempt's first event): viewed 1 h later, which also completes
    # "view and add"; bought 1 h after that.
    assert [s.median_seconds_from_start for s in unordered.steps] == [3600, 3600, 7200]
    assert [s.median_seconds_from_previous for s in unordered.steps] == [None, 0, 3600]
    assert [g.value for g in unordered.groups] == ["app"]  # first touch: the cart


def test_exclusions_leave_out_people_who_did_the_event_inside_their_attempt(
    tmp_path: Path,
) -> None:
    ticket = "Support Ticket"
    lake = build_lake(
        tmp_path,
        [
            Row("mia", VIEW, T),
            Row("mia", ticket, T + HOUR),  # between view and cart
            Row("mia", ADD, T + 2 * HOUR),
            Row("mia", ORDER, T + 3 * HOUR),
            Row("ned", VIEW, T),
            Row("ned", ADD, T + HOUR),
            Row("ned", ORDER, T + 2 * HOUR),
            Row("ned", ticket, T + 3 * HOUR),  # after buying: kept
            Row("oz", VIEW, T),
            Row("oz", ticket, T + HOUR),  # never went further, inside the window
            Row("pia", VIEW, T),
            Row("pia", ticket, T + 31 * DAY),  # after the window: kept
            Row("rex", VIEW, T),
            Row("rex", ticket, T + 30 * DAY),  # as the window ends: inside it
        ],
    )
    steps = [VIEW, ADD, ORDER]
    everywhere = funnel(lake, steps, exclusions=[ticket])
    assert ([s.count for s in everywhere.steps], everywhere.excluded) == ([2, 1, 1], 3)
    # Only between the cart and the order: Mia's ticket came before her cart; Oz and Rex
    # never added one.
    later = funnel(lake, steps, exclusions=[Exclusion(FunnelStep(ticket), 2, 3)])
    assert ([s.count for s in later.steps], later.excluded) == ([5, 2, 2], 0)
    assert [
        p.profile_id for p in dropped_people(lake, steps, step=2, exclusions=[ticket]).people
    ] == ["pia"]


def test_an_exclusion_matching_the_step_itself_does_not_exclude(tmp_path: Path) -> None:
    lake = build_lake(tmp_path, [Row("quy", VIEW, T), Row("quy", ORDER, T + HOUR)])
    result = funnel(lake, [VIEW, ORDER], exclusions=[ORDER])
    assert ([s.count for s in result.steps], result.excluded) == ([1, 1], 0)


def test_trait_breakdowns_use_the_trait_the_person_had_at_that_step(tmp_path: Path) -> None:
    lake = build_lake(
        tmp_path,
        [
            Row("rae", None, T - DAY, type="identify", traits={"tier": "gold"}),  # before the range
            Row("rae", VIEW, T),
            Row("rae", None, T + HOUR, type="identify", traits={"tier": "vip"}),
            Row("rae", ADD, T + 2 * HOUR),
            Row("sam", VIEW, T, traits={"tier": "std"}),  # the step's own event says it
            Row("tom", VIEW, T),
        ],
    )
    scope = Scope(start=T.date())

    def groups(attribution: str) -> list[tuple[str | None, list[int]]]:
        result = funnel(
            lake,
            [VIEW, ADD],
            breakdown="trait:tier",
            breakdown_attribution=attribution,
            scope=scope,
        )
        return [(g.value, [s.count for s in g.steps]) for g in result.groups]

    assert groups("first") == [("gold", [1, 1]), ("std", [1, 0]), (None, [1, 0])]
    assert groups("last") == [("std", [1, 0]), ("vip", [1, 1]), (None, [1, 0])]


def test_breakdown_values_past_the_limit_are_grouped_as_other(tmp_path: Path) -> None:
    plans = ["gold", "gold", "gold", "basic", "basic", "silver", None]
    lake = build_lake(
        tmp_path,
        [
            Row(f"u{i}", VIEW, T, properties={"plan": plan} if plan else None)
            for i, plan in enumerate(plans)
        ]
        + [Row("u0", ADD, T + HOUR)],
    )
    result = funnel(lake, [VIEW, ADD], breakdown="property:plan", breakdown_limit=2)
    assert [(g.value, g.other, [s.count for s in g.steps]) for g in result.groups] == [
        ("gold", False, [3, 1]),
        ("basic", False, [2, 0]),
        (None, True, [2, 0]),
    ]


def test_merges_and_unmerges_show_at_once(tmp_path: Path) -> None:
    # Seen on the web as one identifier, bought in store as another: one person once merged.
    lake = build_lake(
        tmp_path,
        [
            Row("web-visitor", VIEW, T, channel="web", anchor=1),
            Row("shopper", ORDER, T + DAY, channel="store_pos", anchor=2),
        ],
    )
    assert [s.count for s in funnel(lake, [VIEW, ORDER]).steps] == [1, 0]
    merged = reattribute(tmp_path, {2: "web-visitor"})
    assert [s.count for s in funnel(merged, [VIEW, ORDER]).steps] == [1, 1]
    unmerged = reattribute(tmp_path, {2: "shopper"})
    assert [s.count for s in funnel(unmerged, [VIEW, ORDER]).steps] == [1, 0]


def test_the_scope_limits_the_events_every_step_may_use(tmp_path: Path) -> None:
    lake = _shop(tmp_path)
    # Only the first day: Ada's order (two days later) falls outside.
    first_day = Scope(start=T.date(), end=T.date())
    assert [s.count for s in funnel(lake, CROSS_CHANNEL, scope=first_day).steps] == [3, 2, 0]
    assert [
        s.count for s in funnel(lake, CROSS_CHANNEL, scope=Scope(start=date(2026, 3, 11))).steps
    ] == [
        0,
        0,
        0,
    ]
    apps = Scope(filters=(Filter.parse("channel=app"),))
    assert [s.count for s in funnel(lake, [VIEW, ADD], scope=apps).steps] == [1, 1]


def test_step_filters_on_properties(tmp_path: Path) -> None:
    lake = _shop(tmp_path)
    assert [s.count for s in funnel(lake, [VIEW, f"{ORDER}[properties.total>100]"]).steps] == [3, 1]
    assert [s.count for s in funnel(lake, [VIEW, f"{ORDER}[properties.total!=120]"]).steps] == [
        3,
        1,
    ]
    assert [
        s.count for s in funnel(lake, [VIEW, f"{ORDER}[channel=web, properties.total<100]"]).steps
    ] == [
        3,
        1,
    ]


def test_dropped_people_lists_who_stopped_at_a_step(tmp_path: Path) -> None:
    lake = _shop(tmp_path)
    at_cart = dropped_people(lake, CROSS_CHANNEL, step=2)
    assert [(p.profile_id, p.reached_at) for p in at_cart.people] == [("cy", T)]
    at_order = dropped_people(lake, CROSS_CHANNEL, step=3)
    assert at_order.rows() == [{"profile_id": "bob", "reached_at": "2026-03-10T12:00:00Z"}]
    assert at_order.to_dict()["count"] == 1


def test_an_empty_lake_gives_an_empty_funnel(tmp_path: Path) -> None:
    result = funnel(build_lake(tmp_path, []), [VIEW, ADD], breakdown="channel")
    assert [s.count for s in result.steps] == [0, 0]
    assert result.groups == ()
    assert result.to_dict()["conversion"] is None


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"steps": [VIEW]}, "a funnel needs 2 to 20 steps; 1 given"),
        ({"steps": [VIEW, "Order[channel]"]}, "cannot read the filter 'channel'"),
        ({"steps": [VIEW, "Order[]"]}, "has empty brackets"),
        ({"steps": [VIEW, "[channel=web]"]}, "a step needs an event name"),
        ({"steps": [VIEW, "Order[event=X]"]}, "filters on `event`"),
        ({"steps": [VIEW, ADD], "window": timedelta(0)}, "must be longer than zero"),
        ({"steps": [VIEW, ADD], "ordering": "sorted"}, "unknown ordering 'sorted'"),
        ({"steps": [VIEW, ADD], "exclusions": ["Refund@2-1"]}, "the first before the second"),
        ({"steps": [VIEW, ADD], "exclusions": ["Refund@1-3"]}, "between two steps from 1 to 2"),
        ({"steps": [VIEW, ADD], "breakdown": "country"}, "cannot break down by 'country'"),
        ({"steps": [VIEW, ADD], "breakdown": "trait:"}, "cannot break down by 'trait:'"),
        ({"steps": [VIEW, ADD], "breakdown_attribution": "middle"}, "cannot read the attribution"),
        ({"steps": [VIEW, ADD], "breakdown_attribution": "step:3"}, "use step:1 to step:2"),
        ({"steps": [VIEW, ADD], "breakdown_limit": 0}, "at least 1"),
    ],
)
def test_a_funnel_that_cannot_be_computed_says_why(
    tmp_path: Path, arguments: dict[str, object], message: str
) -> None:
    lake = build_lake(tmp_path, [])
    steps = arguments.pop("steps")
    with pytest.raises(FunnelError, match=re.escape(message)):
        funnel(lake, steps, **arguments)  # type: ignore[arg-type]


def test_dropped_people_needs_a_step_after_the_first(tmp_path: Path) -> None:
    lake = build_lake(tmp_path, [])
    for step in (1, 3):
        with pytest.raises(FunnelError, match="the step must be 2 to 2"):
            dropped_people(lake, [VIEW, ADD], step=step)


def test_steps_read_and_print_their_text_form() -> None:
    step = FunnelStep.parse(" Order Completed [channel=store_pos, properties.total>100] ")
    assert step.event == "Order Completed"
    assert step.name == "Order Completed[channel=store_pos, properties.total>100]"
    assert Exclusion.parse("Refund[channel=phone]@2-3").name == "Refund[channel=phone]@2-3"
    assert [short_duration(s) for s in (0, 90, 3600, 5400, 86400 * 7)] == [
        "0s",
        "1.5m",
        "1h",
        "90m",
        "7d",
    ]


def test_people_keyed_by_their_ids_give_the_same_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # When two profile ids share a 64-bit key, the lake numbers people instead: a key
    # function that gives every profile the same key forces that path.
    hashed = funnel(_shop(tmp_path / "keyed"), CROSS_CHANNEL, breakdown="trait:tier").to_dict()
    monkeypatch.setattr(writer, "person_key", lambda profile_id: 0)
    lake = _shop(tmp_path / "clashing")
    assert lake.manifest.person_keys_clash
    assert funnel(lake, CROSS_CHANNEL, breakdown="trait:tier").to_dict() == hashed
    assert [p.profile_id for p in dropped_people(lake, CROSS_CHANNEL, step=3).people] == ["bob"]
