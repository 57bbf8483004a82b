"""Cross-channel value: a hand-computed example, and the reference on random lakes."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

from omnicx.analytics.multichannel import multichannel_value, touchpoint_labels
from omnicx.analytics.scope import Filter, Scope
from tests.analytics import reference_retention as ref
from tests.analytics.lakes import Row, build_lake
from tests.analytics.retention_cases import Case, cases, written

DAY = datetime(2026, 3, 2, 9)


def _rows() -> list[Row]:
    def at(n: int) -> datetime:
        return DAY + timedelta(hours=n)

    rows = [
        # ada: three channels, three touchpoints, one order of 100.
        Row("ada", "Page Viewed", at(0)),
        Row("ada", "Product Added", at(1), channel="app"),
        Row("ada", "Order Completed", at(2), channel="store", revenue=100),
        # bo: the web only, eight touchpoints, two orders.
        *(Row("bo", "Page Viewed", at(i)) for i in range(6)),
        Row("bo", "Order Completed", at(7), revenue=50),
        Row("bo", "Order Completed", at(8), revenue=30),
        # cy: two channels, no order; an e-mail delivered is no touchpoint.
        Row("cy", "Page Viewed", at(0)),
        Row("cy", "Email Opened", at(1), channel="email"),
        Row("cy", "Email Delivered", at(2), channel="email", active=False),
        # di: only e-mails delivered: not an active person.
        Row("di", "Email Delivered", at(0), channel="email", active=False),
        # ed: five channels, nine touchpoints, one order of 200.
        *(Row("ed", "Screen Viewed", at(i), channel="app") for i in range(4)),
        Row("ed", "Page Viewed", at(5)),
        Row("ed", "Store Visited", at(6), channel="store"),
        Row("ed", "Email Opened", at(7), channel="email"),
        Row("ed", "Link Clicked", at(8), channel="sms"),
        Row("ed", "Order Completed", at(9), channel="app", revenue=200),
    ]
    return rows


def test_value_by_channels_and_touchpoints_by_hand(tmp_path: Path) -> None:
    lake = build_lake(tmp_path / "lake", _rows(), batches=2)
    report = multichannel_value(lake, Scope())
    assert (report.people, report.customers) == (4, 3)
    assert report.multichannel_share == pytest.approx(2 / 3)  # ada and ed of ada, bo, ed
    assert report.multichannel_people_share == 0.75  # ada, cy, ed
    channels = {g.label: (g.people, g.customers, g.orders, g.revenue) for g in report.by_channels}
    assert channels == {
        "1": (1, 1, 2, 80.0),
        "2": (1, 0, 0, 0.0),
        "3": (1, 1, 1, 100.0),
        "4+": (1, 1, 1, 200.0),
    }
    touches = {g.label: (g.people, g.customers, g.orders, g.revenue) for g in report.by_touchpoints}
    assert touches == {
        "1-4": (2, 1, 1, 100.0),
        "5-9": (2, 2, 3, 280.0),
        "10-19": (0, 0, 0, 0.0),
        "20-49": (0, 0, 0, 0.0),
        "50+": (0, 0, 0, 0.0),
    }
    five_to_nine = report.by_touchpoints[1]
    assert five_to_nine.revenue_per_customer == 140.0
    assert five_to_nine.orders_per_customer == 1.5
    assert report.by_touchpoints[2].revenue_per_customer is None
    document = report.to_dict()
    assert document["multichannel"]["customers"] == 2
    assert document["by_channels"][0] == {
        "group": "1",
        "people": 1,
        "customers": 1,
        "orders": 2,
        "revenue": 80.0,
        "customer_rate": 1.0,
        "orders_per_customer": 2.0,
        "revenue_per_customer": 80.0,
        "revenue_per_person": 80.0,
    }


def test_cap_edges_range_and_filters(tmp_path: Path) -> None:
    lake = build_lake(tmp_path / "lake", _rows())
    capped = multichannel_value(lake, Scope(), channel_cap=2, touchpoint_edges=(1, 2, 9))
    assert [(g.label, g.people) for g in capped.by_channels] == [("1", 1), ("2+", 3)]
    assert [(g.label, g.people) for g in capped.by_touchpoints] == [
        ("1", 0),
        ("2-8", 3),
        ("9+", 1),
    ]
    web = multichannel_value(lake, Scope(filters=(Filter("channel", "=", "web"),)))
    assert (web.people, web.customers, web.multichannel_people) == (4, 1, 0)
    later = multichannel_value(lake, Scope(start=date(2026, 3, 3)))
    assert (later.people, later.customers, later.multichannel_share) == (0, 0, None)
    with pytest.raises(ValueError, match="edges"):
        multichannel_value(lake, Scope(), touchpoint_edges=(2, 5))
    assert touchpoint_labels([1, 5, 10, 20, 50]) == ["1-4", "5-9", "10-19", "20-49", "50+"]


@settings(max_examples=60, deadline=None)
@given(
    case=cases(),
    cap=st.integers(2, 4),
    edges=st.sampled_from([(1, 5, 10, 20, 50), (1, 2, 3), (1,)]),
)
def test_multichannel_matches_the_reference(case: Case, cap: int, edges: tuple[int, ...]) -> None:
    note(repr((case, cap, edges)))
    with written(case) as lake:
        report = multichannel_value(lake, case.scope, channel_cap=cap, touchpoint_edges=edges)
    expected = ref.multichannel(
        case.events, start=case.start, end=case.end, keep=case.keep, cap=cap, edges=edges
    )
    got = {
        "channels": {
            g.label: (g.people, g.customers, g.orders, g.revenue) for g in report.by_channels
        },
        "touchpoints": {
            g.label: (g.people, g.customers, g.orders, g.revenue) for g in report.by_touchpoints
        },
        "multichannel": (report.multichannel_people, report.multichannel_customers),
    }
    assert got == expected
