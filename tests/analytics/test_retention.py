"""Cohort retention: hand-computed examples, and the reference on random lakes."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from hypothesis import given, note, settings
from hypothesis import strategies as st

from omnicx.analytics.retention import (
    Period,
    RetentionKind,
    add_periods,
    period_start,
    periods_between,
    retention,
)
from omnicx.analytics.scope import Filter, Scope
from tests.analytics import reference_retention as ref
from tests.analytics.lakes import Row, build_lake, reattribute
from tests.analytics.retention_cases import Case, cases, written


def _shop(tmp_path: Path) -> list[Row]:
    # ada: Jan (web) Feb Apr; bo: Jan (app) Mar; cy: Feb only (store), an e-mail in Mar.
    return [
        Row("ada", "Page Viewed", datetime(2026, 1, 5, 10), anchor=1),
        Row("ada", "Order Completed", datetime(2026, 2, 2), channel="app", revenue=40, anchor=1),
        Row("ada", "Page Viewed", datetime(2026, 4, 1), anchor=1),
        Row(
            "bo",
            "Product Viewed",
            datetime(2026, 1, 31, 23, 59, 59, 999999),
            channel="app",
            anchor=2,
        ),
        Row("bo", "Page Viewed", datetime(2026, 3, 1), anchor=2),
        Row("cy", "Store Visited", datetime(2026, 2, 14), channel="store", anchor=3),
        Row("cy", "Email Delivered", datetime(2026, 3, 3), channel="email", active=False, anchor=3),
    ]


def test_first_time_monthly_grid_by_hand(tmp_path: Path) -> None:
    lake = build_lake(tmp_path / "lake", _shop(tmp_path), batches=2)
    report = retention(lake, Scope(), periods=3)
    grid = {(c.start, c.channel): c.retained for c in report.cohorts}
    # January: ada and bo (bo at 23:59:59.999999 on the 31st is still January).
    # Period 1 (Feb): ada. Period 2 (Mar): bo. Period 3 (Apr): ada.
    assert grid == {
        (date(2026, 1, 1), None): (2, 1, 1, 1),
        (date(2026, 2, 1), None): (1, 0, 0, None),  # cy's e-mail in March is passive
    }
    assert report.cohorts[0].rates == (1.0, 0.5, 0.5, 0.5)
    assert report.average() == ((3, 3), (1, 3), (1, 3), (1, 2))
    assert report.to_dict()["average"]["rates"] == [1.0, 1 / 3, 1 / 3, 0.5]


def test_recurring_counts_every_period_and_breaks_down_by_entry_channel(tmp_path: Path) -> None:
    lake = build_lake(tmp_path / "lake", _shop(tmp_path))
    report = retention(
        lake, Scope(), kind=RetentionKind.recurring, by_first_channel=True, periods=2
    )
    grid = {(c.start, c.channel): c.retained for c in report.cohorts}
    assert grid == {
        (date(2026, 1, 1), "app"): (1, 0, 1),  # bo
        (date(2026, 1, 1), "web"): (1, 1, 0),  # ada
        (date(2026, 2, 1), "app"): (1, 0, 1),  # ada (Feb order), back in April
        (date(2026, 2, 1), "store"): (1, 0, 0),  # cy
        (date(2026, 3, 1), "web"): (1, 0, None),  # bo
        (date(2026, 4, 1), "web"): (1, None, None),  # ada
    }


def test_start_and_return_events_and_history_before_the_range(tmp_path: Path) -> None:
    lake = build_lake(tmp_path / "lake", _shop(tmp_path))
    # ada first ordered in February and came back in April, but did not order again.
    orders = retention(lake, Scope(), start_event="Order Completed", periods=2)
    assert [(c.start, c.retained) for c in orders.cohorts] == [(date(2026, 2, 1), (1, 0, 1))]
    again = retention(
        lake, Scope(), start_event="Order Completed", return_event="Order Completed", periods=2
    )
    assert [(c.start, c.retained) for c in again.cohorts] == [(date(2026, 2, 1), (1, 0, 0))]
    # From February on: ada and bo started in January, so only cy is new (first-time)...
    later = retention(lake, Scope(start=date(2026, 2, 10)), periods=2)
    assert [(c.start, c.size) for c in later.cohorts] == [(date(2026, 2, 1), 1)]
    assert later.first == date(2026, 2, 1)  # the range's start widened to its month
    # ...and page views as the return event bring nobody of cy's cohort back.
    back = retention(lake, Scope(start=date(2026, 2, 10)), return_event="Page Viewed")
    assert back.cohorts[0].retained[:3] == (1, 0, 0)


def test_a_merge_makes_one_person_of_two(tmp_path: Path) -> None:
    path = tmp_path / "lake"
    build_lake(path, _shop(tmp_path))
    lake = reattribute(path, {3: "bo"})  # cy's anchor turns out to be bo's
    report = retention(lake, Scope(), periods=2)
    assert [(c.start, c.retained) for c in report.cohorts] == [(date(2026, 1, 1), (2, 2, 1))]


def test_weeks_and_days(tmp_path: Path) -> None:
    rows = [
        Row("ada", "a", datetime(2026, 3, 1, 23, 59, 59, 999999)),  # Sunday: week of Feb 23
        Row("ada", "a", datetime(2026, 3, 2)),  # Monday: the next week, the next day
        Row("bo", "a", datetime(2026, 3, 2, 12)),
        Row("bo", "a", datetime(2026, 3, 4)),
    ]
    lake = build_lake(tmp_path / "lake", rows)
    weekly = retention(lake, Scope(), period=Period.week, periods=1)
    assert [(c.start, c.retained) for c in weekly.cohorts] == [
        (date(2026, 2, 23), (1, 1)),
        (date(2026, 3, 2), (1, None)),
    ]
    daily = retention(lake, Scope(), period=Period.day, periods=2)
    assert [(c.start, c.retained) for c in daily.cohorts] == [
        (date(2026, 3, 1), (1, 1, 0)),
        (date(2026, 3, 2), (1, 0, 1)),
    ]


def test_filters_and_an_empty_lake(tmp_path: Path) -> None:
    lake = build_lake(tmp_path / "lake", _shop(tmp_path))
    web = retention(lake, Scope(filters=(Filter("channel", "=", "web"),)), periods=3)
    # On the web, bo first showed up in March.
    assert [(c.start, c.retained) for c in web.cohorts] == [
        (date(2026, 1, 1), (1, 0, 0, 1)),
        (date(2026, 3, 1), (1, 0, None, None)),
    ]
    empty = retention(build_lake(tmp_path / "empty", []), Scope())
    assert empty.cohorts == () and empty.to_dict()["start"] is None


def test_period_arithmetic() -> None:
    assert period_start(date(2026, 3, 1), Period.week) == date(2026, 2, 23)
    assert add_periods(date(2025, 11, 1), Period.month, 3) == date(2026, 2, 1)
    assert periods_between(date(2025, 11, 1), date(2026, 2, 1), Period.month) == 3
    assert periods_between(date(2026, 2, 23), date(2026, 3, 9), Period.week) == 2


@settings(max_examples=70, deadline=None)
@given(
    case=cases(),
    period=st.sampled_from(list(Period)),
    kind=st.sampled_from(list(RetentionKind)),
    start_event=st.sampled_from([None, "Order Completed", "Page Viewed"]),
    return_event=st.sampled_from([None, "Order Completed"]),
    by_channel=st.booleans(),
    periods=st.integers(1, 5),
)
def test_retention_matches_the_reference(
    case: Case,
    period: Period,
    kind: RetentionKind,
    start_event: str | None,
    return_event: str | None,
    by_channel: bool,
    periods: int,
) -> None:
    note(repr((case, period, kind, start_event, return_event, by_channel, periods)))
    with written(case) as lake:
        report = retention(
            lake,
            case.scope,
            period=period,
            kind=kind,
            start_event=start_event,
            return_event=return_event,
            by_first_channel=by_channel,
            periods=periods,
        )
    expected = ref.retention(
        case.events,
        case.days,
        start=case.start,
        end=case.end,
        keep=case.keep,
        period=period.value,
        kind=kind.value,
        start_event=start_event,
        return_event=return_event,
        by_channel=by_channel,
        periods=periods,
    )
    assert {(c.start, c.channel): list(c.retained) for c in report.cohorts} == expected
    assert all(c.size == c.retained[0] for c in report.cohorts)
