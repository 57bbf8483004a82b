"""Channel performance: a hand-computed example, and the reference on random lakes."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

from omnicx.analytics.channels import ConversationKind, channel_performance
from omnicx.analytics.retention import Period
from omnicx.analytics.scope import Filter, Scope
from tests.analytics import reference_retention as ref
from tests.analytics.lakes import Row, build_lake
from tests.analytics.retention_cases import Case, cases, written

JANUARY, FEBRUARY = date(2026, 1, 1), date(2026, 2, 1)


def _ticket(person: str, event: str, moment: datetime, ticket: str) -> Row:
    return Row(person, event, moment, channel="support", properties={"ticket_id": ticket})


def _rows() -> list[Row]:
    return [
        Row("ada", "Page Viewed", datetime(2026, 1, 5)),
        Row("ada", "Email Delivered", datetime(2026, 1, 6), channel="email", active=False),
        Row("ada", "Order Completed", datetime(2026, 1, 31, 23, 59, 59, 999999), revenue=100),
        Row("ada", "Page Viewed", datetime(2026, 2, 1)),
        Row("bo", "Email Delivered", datetime(2026, 1, 7), channel="email", active=False),
        Row("bo", "Email Opened", datetime(2026, 2, 2), channel="email"),
        Row("bo", "Order Completed", datetime(2026, 2, 4), channel="store", revenue=50),
        Row("bo", "Order Completed", datetime(2026, 2, 9), channel="store", revenue=30),
        Row("cy", "Page Viewed", datetime(2026, 2, 6)),
        _ticket("cy", "Ticket Created", datetime(2026, 2, 1, 10), "T1"),
        _ticket("cy", "Ticket Replied", datetime(2026, 2, 1, 12), "T1"),
        _ticket("cy", "Ticket Resolved", datetime(2026, 2, 2, 10), "T1"),
        _ticket("cy", "Ticket Resolved", datetime(2026, 2, 5, 10), "T1"),  # reopened, again
        _ticket("bo", "Ticket Created", datetime(2026, 2, 3), "T2"),
        _ticket("bo", "Ticket Resolved", datetime(2026, 2, 3, 6), "T2"),
    ]


def test_reach_engagement_conversions_and_trends_by_hand(tmp_path: Path) -> None:
    lake = build_lake(tmp_path / "lake", _rows(), batches=3)
    report = channel_performance(lake, Scope())
    rows = {(r.channel, r.period): r for r in report.periods}
    assert [r.channel for r in report.totals] == ["email", "store", "support", "web"]

    def figures(channel: str, period: date | None) -> tuple[int, int, int, int, float]:
        r = (
            rows[(channel, period)]
            if period
            else next(t for t in report.totals if t.channel == channel)
        )
        return (r.reach, r.engaged, r.converted, r.orders, r.revenue)

    assert figures("web", JANUARY) == (1, 1, 1, 1, 100.0)  # 23:59:59.999999 is January
    assert figures("email", JANUARY) == (2, 0, 0, 0, 0.0)  # delivered: reached, not engaged
    assert figures("store", JANUARY) == (0, 0, 0, 0, 0.0)
    assert figures("web", FEBRUARY) == (2, 2, 0, 0, 0.0)
    assert figures("store", FEBRUARY) == (1, 1, 1, 2, 80.0)
    assert figures("web", None) == (2, 2, 1, 1, 100.0)
    assert figures("email", None) == (2, 1, 0, 0, 0.0)
    assert rows[("web", FEBRUARY)].change == {
        "reach": 1.0,
        "engaged": 1.0,
        "converted": -1.0,
        "orders": -1.0,
        "revenue": -1.0,
    }
    assert rows[("email", FEBRUARY)].change["reach"] == -0.5
    assert rows[("email", FEBRUARY)].change["engaged"] is None  # nobody in January
    assert rows[("web", JANUARY)].change == {}
    assert rows[("store", FEBRUARY)].conversion_rate == 1.0
    assert rows[("store", JANUARY)].conversion_rate is None


def test_support_response_and_resolution_times_by_hand(tmp_path: Path) -> None:
    lake = build_lake(tmp_path / "lake", _rows())
    report = channel_performance(lake, Scope())
    support = next(t for t in report.totals if t.channel == "support").support
    assert support is not None
    assert (support.conversations, support.responded, support.resolved) == (2, 1, 2)
    assert support.first_response_median_hours == pytest.approx(2.0)
    assert support.first_response_p90_hours == pytest.approx(2.0)
    # Resolutions of 24 h (T1, its first resolution) and 6 h (T2).
    assert support.resolution_median_hours == pytest.approx(15.0)
    assert support.resolution_p90_hours == pytest.approx(22.2)
    by_month = {(r.channel, r.period): r.support for r in report.periods}
    assert by_month[("support", JANUARY)] is None
    assert by_month[("web", FEBRUARY)] is None
    # A conversation kind of one's own: the first reply is whatever the agent sent first.
    own = ConversationKind("ticket", "Ticket Created", "Ticket Replied", "ticket_id")
    replied = channel_performance(lake, Scope(), conversations=(own,))
    mine = next(t for t in replied.totals if t.channel == "support").support
    assert mine is not None and (mine.resolved, mine.resolution_median_hours) == (1, 2.0)


def test_an_answer_at_the_very_instant_counts_one_before_does_not(tmp_path: Path) -> None:
    moment = datetime(2026, 2, 1, 10)
    rows = [
        _ticket("ada", "Ticket Replied", moment - timedelta(microseconds=1), "T9"),
        _ticket("ada", "Ticket Created", moment, "T9"),
        _ticket("ada", "Ticket Updated", moment, "T9"),
        _ticket("ada", "Ticket Resolved", moment + timedelta(hours=3), "T9"),
    ]
    lake = build_lake(tmp_path / "lake", rows)
    (support,) = channel_performance(lake, Scope()).totals
    assert support.support is not None
    assert support.support.first_response_median_hours == 0.0
    assert support.support.resolution_median_hours == 3.0


def test_weekly_conversion_event_and_filters(tmp_path: Path) -> None:
    lake = build_lake(tmp_path / "lake", _rows())
    weekly = channel_performance(
        lake, Scope(filters=(Filter("channel", "=", "email"),)), period=Period.week
    )
    assert {r.channel for r in weekly.periods} == {"email"}
    assert [r.period for r in weekly.periods][:2] == [date(2026, 1, 5), date(2026, 1, 12)]
    opened = channel_performance(lake, Scope(), conversion_event="Email Opened")
    email = next(t for t in opened.totals if t.channel == "email")
    assert (email.converted, email.orders, email.conversion_rate) == (1, 1, 0.5)
    assert channel_performance(build_lake(tmp_path / "empty", []), Scope()).periods == ()


KINDS = (
    ConversationKind(
        "ticket", "Ticket Created", "Ticket Resolved", "ticket_id", ("Ticket Replied",)
    ),
)


@settings(max_examples=60, deadline=None)
@given(case=cases(), period=st.sampled_from(list(Period)))
def test_channels_match_the_reference(case: Case, period: Period) -> None:
    note(repr((case, period)))
    with written(case) as lake:
        report = channel_performance(lake, case.scope, period=period, conversations=KINDS)
    expected = ref.channel_figures(case.events, case.days, period=period.value, **case.window)  # type: ignore[arg-type]
    got = {
        (r.channel, r.period): (r.reach, r.engaged, r.converted, r.orders, r.revenue)
        for r in (*report.periods, *report.totals)
        if r.reach
    }
    assert got == expected
    times = ref.support_times(
        case.events,
        case.days,
        period=period.value,
        kinds=[("Ticket Created", "Ticket Resolved", "ticket_id", ("Ticket Replied",))],
        **case.window,  # type: ignore[arg-type]
    )
    got_times = {
        (r.channel, r.period): tuple(r.support.to_dict().values())
        for r in (*report.periods, *report.totals)
        if r.support
    }
    assert got_times.keys() == times.keys()
    for key, values in times.items():
        assert got_times[key] == pytest.approx(values)
