"""Lifecycle per period: a hand-computed example, and the reference on random lakes."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from hypothesis import given, note, settings
from hypothesis import strategies as st

from omnicx.analytics.lifecycle import lifecycle
from omnicx.analytics.retention import Period
from omnicx.analytics.scope import Scope
from tests.analytics import reference_retention as ref
from tests.analytics.lakes import Row, build_lake
from tests.analytics.retention_cases import Case, cases, written


def test_new_returning_resurrecting_dormant_by_hand(tmp_path: Path) -> None:
    rows = [
        Row("ada", "Page Viewed", datetime(2025, 12, 20)),  # before the range
        Row("ada", "Page Viewed", datetime(2026, 2, 3)),
        Row("ada", "Page Viewed", datetime(2026, 3, 31, 23, 59, 59, 999999)),
        Row("bo", "Page Viewed", datetime(2026, 1, 9)),
        Row("bo", "Page Viewed", datetime(2026, 2, 1)),
        Row("bo", "Email Delivered", datetime(2026, 3, 2), channel="email", active=False),
        Row("cy", "Order Completed", datetime(2026, 3, 1), channel="store"),
        Row("di", "Page Viewed", datetime(2026, 1, 31, 23, 59, 59, 999999)),
        Row("di", "Page Viewed", datetime(2026, 3, 10), channel="app"),
    ]
    lake = build_lake(tmp_path / "lake", rows, batches=3)
    report = lifecycle(lake, Scope(start=date(2026, 1, 1), end=date(2026, 3, 31)))
    got = [(p.start, p.new, p.returning, p.resurrecting, p.dormant) for p in report.periods]
    assert got == [
        (date(2026, 1, 1), 2, 0, 0, -1),  # bo, di new; ada (December) gone
        (date(2026, 2, 1), 0, 1, 1, -1),  # bo returns, ada resurrects, di gone
        (date(2026, 3, 1), 1, 1, 1, -1),  # cy new, ada returns, di resurrects, bo gone
    ]
    march = report.periods[-1]
    assert march.active == 3 and march.quick_ratio == 2.0
    assert report.to_dict()["periods"][0] == {
        "period": "2026-01-01",
        "new": 2,
        "returning": 0,
        "resurrecting": 0,
        "dormant": -1,
        "active": 2,
        "quick_ratio": 2.0,
    }
    # One chosen event: only cy's order counts.
    orders = lifecycle(lake, Scope(start=date(2026, 1, 1)), event="Order Completed")
    assert [(p.new, p.dormant) for p in orders.periods] == [(0, 0), (0, 0), (1, 0)]


def test_weekly_from_the_lakes_first_day_and_an_empty_lake(tmp_path: Path) -> None:
    rows = [
        Row("ada", "a", datetime(2026, 3, 1, 23, 59, 59, 999999)),  # Sunday
        Row("ada", "a", datetime(2026, 3, 2)),  # Monday
        Row("ada", "a", datetime(2026, 3, 17)),
    ]
    lake = build_lake(tmp_path / "lake", rows)
    report = lifecycle(lake, Scope(), period=Period.week)
    assert [(p.start, p.new, p.returning, p.resurrecting, p.dormant) for p in report.periods] == [
        (date(2026, 2, 23), 1, 0, 0, 0),
        (date(2026, 3, 2), 0, 1, 0, 0),
        (date(2026, 3, 9), 0, 0, 0, -1),
        (date(2026, 3, 16), 0, 0, 1, 0),
    ]
    assert lifecycle(build_lake(tmp_path / "empty", []), Scope()).periods == ()


@settings(max_examples=60, deadline=None)
@given(
    case=cases(),
    period=st.sampled_from(list(Period)),
    event=st.sampled_from([None, "Order Completed"]),
)
def test_lifecycle_matches_the_reference(case: Case, period: Period, event: str | None) -> None:
    note(repr((case, period, event)))
    with written(case) as lake:
        report = lifecycle(lake, case.scope, period=period, event=event)
    expected = ref.lifecycle(
        case.events,
        case.days,
        start=case.start,
        end=case.end,
        keep=case.keep,
        period=period.value,
        event=event,
    )
    got = [(p.start, p.new, p.returning, p.resurrecting, p.dormant) for p in report.periods]
    assert got == expected
