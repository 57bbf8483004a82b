"""Journey stages on small hand-made lakes, with every number worked out by hand."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

from omnicx.analytics.lake import open_lake
from omnicx.analytics.scope import Filter, Scope
from omnicx.analytics.stage_settings import StageModel, load_text
from omnicx.analytics.stages import (
    lake_as_of,
    stage_counts,
    stage_history,
    stage_of,
    stage_report,
)
from tests.analytics.lakes import Row, build_lake, reattribute

T0 = datetime(2026, 1, 5, 12)  # a Monday
TICK = timedelta(microseconds=1)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def entries(path: Path, person: str, model: StageModel | None = None) -> list[tuple[str, datetime]]:
    """A person's history as (stage, entered_at) pairs."""
    history = stage_history(open_lake(path), person, model=model)
    return [(e.stage, e.entered_at) for e in history.entries] if history else []


def test_a_customer_moves_forward_through_every_stage(tmp_path: Path) -> None:
    build_lake(
        tmp_path,
        [
            Row("ada", "Home", day(0), type="page"),
            Row("ada", "Product Viewed", day(1), channel="app"),
            Row("ada", "Order Completed", day(2), channel="store"),
            Row("ada", "Order Completed", day(3)),
            Row("ada", "Review Submitted", day(4), properties={"rating": 5}),
        ],
    )
    assert entries(tmp_path, "ada") == [
        ("awareness", day(0)),
        ("consideration", day(1)),
        ("purchase", day(2)),
        ("retention", day(3)),
        ("advocacy", day(4)),
    ]
    history = stage_history(open_lake(tmp_path), "ada")
    assert history is not None and history.stage == "advocacy"
    assert [e.left_at for e in history.entries] == [day(1), day(2), day(3), day(4), None]
    assert history.to_dict()["reached"]["purchase"] == "2026-01-07T12:00:00Z"


def test_a_later_stage_first_skips_the_earlier_ones_for_good(tmp_path: Path) -> None:
    # Bought in store first (awareness and purchase at that instant), browsed later: the
    # later consideration event never moves anyone backward.
    build_lake(
        tmp_path,
        [
            Row("bo", "Order Completed", day(0), channel="store"),
            Row("bo", "Product Viewed", day(1)),
            Row("bo", "Review Submitted", day(2), properties={"rating": 2}),  # not a good one
        ],
    )
    assert entries(tmp_path, "bo") == [("awareness", day(0)), ("purchase", day(0))]
    report = stage_report(open_lake(tmp_path))
    moves = {(t.source, t.target): t.people for t in report.transitions}
    assert moves == {("new", "awareness"): 1, ("awareness", "purchase"): 1}


def test_what_happened_to_the_customer_puts_nobody_in_a_stage(tmp_path: Path) -> None:
    build_lake(
        tmp_path,
        [
            Row("cy", "Email Delivered", day(0), channel="email", active=False),
            Row("dee", "Email Delivered", day(0), channel="email", active=False),
            Row("dee", "Email Opened", day(1), channel="email"),
        ],
    )
    lake = open_lake(tmp_path)
    assert stage_of(lake, "cy") is None
    assert entries(tmp_path, "dee") == [("awareness", day(1))]


def test_churn_starts_exactly_after_the_window_and_ends_with_the_next_active_event(
    tmp_path: Path,
) -> None:
    build_lake(
        tmp_path,
        [
            Row("eve", "Order Completed", day(0)),
            Row("eve", "Home", day(100), type="page"),  # back after 100 days: churned at 90
            Row("eve", "Order Completed", day(300)),  # 200 days later: churned again at 190
            Row("zed", "Home", day(400), type="page"),  # the lake's newest event
        ],
    )
    lake = open_lake(tmp_path)
    assert entries(tmp_path, "eve") == [
        ("awareness", day(0)),
        ("purchase", day(0)),
        ("churned", day(90)),
        ("purchase", day(100)),
        ("churned", day(190)),
        ("retention", day(300)),  # coming back with a second order: straight to retention
        ("churned", day(390)),
    ]
    assert stage_of(lake, "eve", as_of=day(90)) == "churned"  # exactly 90 days: churned
    assert stage_of(lake, "eve", as_of=day(90) - TICK) == "purchase"
    assert stage_of(lake, "eve", as_of=day(390) - TICK) == "retention"


def test_an_event_exactly_at_the_window_edge_keeps_the_customer(tmp_path: Path) -> None:
    build_lake(
        tmp_path,
        [
            Row("fay", "Order Completed", day(0)),
            Row("fay", "Home", day(90), type="page"),  # exactly 90 days later: still here
            Row("fay", "Home", day(170), type="page"),
        ],
    )
    assert entries(tmp_path, "fay") == [("awareness", day(0)), ("purchase", day(0))]
    lake = open_lake(tmp_path)
    assert stage_of(lake, "fay", as_of=day(180)) == "purchase"
    assert stage_of(lake, "fay", as_of=day(260)) == "churned"  # 90 days after day 170


def test_only_customers_churn(tmp_path: Path) -> None:
    build_lake(
        tmp_path,
        [
            Row("gus", "Product Viewed", day(0)),
            Row("gus", "Home", day(300), type="page"),
            Row("gus", "Home", day(600), type="page"),
        ],
    )
    assert entries(tmp_path, "gus") == [("awareness", day(0)), ("consideration", day(0))]


def test_a_merge_joins_two_histories_and_an_unmerge_parts_them(tmp_path: Path) -> None:
    build_lake(
        tmp_path,
        [
            Row("hal", "Order Completed", day(0), anchor=1),
            Row("ivy", "Order Completed", day(10), channel="store", anchor=2),
            Row("ivy", "Home", day(50), type="page", anchor=2),
        ],
    )
    lake = open_lake(tmp_path)
    assert stage_of(lake, "hal") == "purchase"
    assert stage_of(lake, "ivy") == "purchase"
    lake = reattribute(tmp_path, {2: "hal"})  # the store customer was hal all along
    assert stage_of(lake, "ivy") is None
    assert entries(tmp_path, "hal") == [
        ("awareness", day(0)),
        ("purchase", day(0)),
        ("retention", day(10)),
    ]
    assert {c.stage: c.people for c in stage_report(lake).counts}["retention"] == 1
    lake = reattribute(tmp_path, {2: "ivy"})
    assert stage_of(lake, "hal") == "purchase" and stage_of(lake, "ivy") == "purchase"


def test_trait_rules_read_the_traits_events_carried(tmp_path: Path) -> None:
    build_lake(
        tmp_path,
        [
            Row("jo", None, day(0), type="identify", traits={"nps": 7}),
            Row("jo", None, day(5), type="identify", traits={"nps": 10}),
        ],
    )
    assert entries(tmp_path, "jo") == [("awareness", day(0)), ("advocacy", day(5))]


MODEL = load_text(
    """
    [churn]
    after_days = 10
    from = "buyer"

    [[stages]]
    name = "visitor"
    rules = [{ types = ["page"] }]

    [[stages]]
    name = "buyer"
    rules = [{ events = ["Order Completed"], channels = ["store"] },
             { events = ["Order Completed"], where = ["properties.total>=100"] }]

    [[stages]]
    name = "fan"
    rules = [{ events = ["Email Delivered"], include_passive = true, count = 3 }]
    """
)


def test_a_configured_model_with_channels_filters_counts_and_passive_events(
    tmp_path: Path,
) -> None:
    build_lake(
        tmp_path,
        [
            Row("kim", "Home", day(0), type="page"),
            Row("kim", "Order Completed", day(1), properties={"total": 40}),  # web, small: no
            Row("kim", "Order Completed", day(2), properties={"total": 140}),  # big: buyer
            Row("lu", "Order Completed", day(3), channel="store"),  # store: buyer at once
            *(Row("lu", "Email Delivered", day(4 + n), active=False) for n in range(3)),
        ],
    )
    lake = open_lake(tmp_path)
    assert entries(tmp_path, "kim", model=MODEL) == [("visitor", day(0)), ("buyer", day(2))]
    assert stage_of(lake, "kim", model=MODEL, as_of=day(12)) == "churned"
    # Three deliveries make lu a fan at the third; deliveries are no activity, so the churn
    # clock runs from that entry (day 6), not from the last active event (day 3).
    assert entries(tmp_path, "lu", model=MODEL) == [("buyer", day(3)), ("fan", day(6))]
    assert stage_of(lake, "lu", model=MODEL, as_of=day(16)) == "churned"
    assert stage_of(lake, "lu", model=MODEL, as_of=day(16) - TICK) == "fan"


def test_report_counts_periods_flows_and_moves(tmp_path: Path) -> None:
    # Week of Mon 5 Jan: ada aware (5th), bo buys (7th). Week of 12 Jan: ada considers (13th),
    # bo buys again (14th: retention). Week of 19 Jan: cy aware (20th).
    build_lake(
        tmp_path,
        [
            Row("ada", "Home", day(0), type="page"),
            Row("bo", "Order Completed", day(2)),
            Row("ada", "Product Viewed", day(8)),
            Row("bo", "Order Completed", day(9), channel="store"),
            Row("cy", "Home", day(15), type="page"),
        ],
        batches=3,
    )
    lake = open_lake(tmp_path)
    report = stage_report(lake, Scope(start=date(2026, 1, 12)), period="week")
    assert report.as_of == day(15)
    counts = {c.stage: (c.people, c.entered) for c in report.counts}
    assert counts == {
        "awareness": (1, 1),
        "consideration": (1, 1),
        "purchase": (0, 0),
        "retention": (1, 1),
        "advocacy": (0, 0),
        "churned": (0, 0),
    }
    assert report.total == 3
    weeks = {
        (p.period, p.stage): (p.people, p.entered) for p in report.periods if p.people or p.entered
    }
    assert weeks == {
        (date(2026, 1, 12), "consideration"): (1, 1),
        (date(2026, 1, 12), "retention"): (1, 1),
        (date(2026, 1, 19), "consideration"): (1, 0),
        (date(2026, 1, 19), "retention"): (1, 0),
        (date(2026, 1, 19), "awareness"): (1, 1),
    }
    links = {(x.source, x.target): x.people for x in report.flows.links}
    assert links == {
        ("new", "awareness"): 1,
        ("awareness", "consideration"): 1,
        ("purchase", "retention"): 1,
    }
    nodes = report.flows.to_dict()["nodes"]
    assert [n["id"] for n in nodes] == [
        "start:new", "start:awareness", "start:purchase",
        "end:awareness", "end:consideration", "end:retention",
    ]  # fmt: skip
    moves = {(t.source, t.target): t.people for t in report.transitions}
    assert moves == {
        ("new", "awareness"): 1,
        ("awareness", "consideration"): 1,
        ("purchase", "retention"): 1,
    }
    document = report.to_dict()
    assert document["flows"]["links"][0] == {
        "source": "start:new",
        "target": "end:awareness",
        "people": 1,
    }
    assert document["as_of"] == "2026-01-20T12:00:00Z"


def test_the_range_end_sets_the_instant_and_filters_the_events(tmp_path: Path) -> None:
    build_lake(
        tmp_path,
        [
            Row("ada", "Home", day(0), type="page"),
            Row("ada", "Order Completed", day(2), channel="store"),
            Row("bo", "Order Completed", day(3)),
        ],
    )
    lake = open_lake(tmp_path)
    early = stage_report(lake, Scope(end=date(2026, 1, 6)))
    assert early.as_of == datetime(2026, 1, 6, 23, 59, 59, 999999)
    assert {c.stage: c.people for c in early.counts if c.people} == {"awareness": 1}
    late = stage_report(lake, Scope(end=date(2030, 1, 1)))
    assert late.as_of == day(3)  # never after the newest event
    store = stage_report(lake, Scope(filters=(Filter("channel", "=", "store"),)))
    assert {c.stage: c.people for c in store.counts if c.people} == {"purchase": 1}
    assert lake_as_of(lake, Scope(end=date(2026, 1, 6))) == early.as_of
    assert stage_counts(lake, date(2026, 1, 7)) == {
        "awareness": 0, "consideration": 0, "purchase": 1, "retention": 0, "advocacy": 0,
        "churned": 0,
    }  # fmt: skip
    segment = stage_report(lake, Scope(people=frozenset({"bo"})))
    assert segment.total == 1


def test_an_empty_lake_answers_zeros(tmp_path: Path) -> None:
    lake = open_lake(tmp_path)
    report = stage_report(lake)
    assert report.as_of is None and report.total == 0
    assert [c.people for c in report.counts] == [0] * 6
    assert stage_of(lake, "anyone") is None


def test_an_anchor_that_belongs_to_nobody_counts_for_nobody(tmp_path: Path) -> None:
    build_lake(
        tmp_path,
        [
            Row("mo", "Home", day(0), type="page", anchor=1),
            Row("mo", "Order Completed", day(1), anchor=2),
        ],
    )
    lake = reattribute(tmp_path, {2: None})  # the order's identifier was erased
    assert entries(tmp_path, "mo") == [("awareness", day(0))]
    assert stage_of(lake, "mo") == "awareness"
