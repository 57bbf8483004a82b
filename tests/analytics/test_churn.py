"""Churn points: hand-computed examples, and the reference on random lakes."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

from omnicx.analytics.churn import Touch, churn_points, parse_days
from omnicx.analytics.scope import Scope
from tests.analytics import reference_retention as ref
from tests.analytics.lakes import Row, build_lake
from tests.analytics.retention_cases import Case, cases, written

EMAIL_OPENED = Touch("email", "Email Opened")
PAGE = Touch("web", "Page Viewed")


def _rows() -> list[Row]:
    # The lake ends on June 30: with 90 days, whoever did nothing since April 2 is churned.
    return [
        Row("ada", "Page Viewed", datetime(2026, 1, 10)),
        Row("ada", "Email Opened", datetime(2026, 3, 1), channel="email"),
        Row("bo", "Product Added", datetime(2026, 2, 1), channel="app"),
        Row("bo", "Page Viewed", datetime(2026, 3, 15)),
        Row("cy", "Order Completed", datetime(2026, 2, 5), channel="store"),
        Row("cy", "Email Opened", datetime(2026, 3, 20), channel="email"),
        Row("cy", "Email Delivered", datetime(2026, 5, 1), channel="email", active=False),
        Row("di", "Email Opened", datetime(2026, 4, 1, 23, 59, 59, 999999), channel="email"),
        Row("ed", "Page Viewed", datetime(2026, 4, 2)),
        Row("fy", "Email Opened", datetime(2026, 1, 3), channel="email"),
        Row("fy", "Page Viewed", datetime(2026, 6, 30)),
        Row("gu", "Email Opened", datetime(2026, 6, 1), channel="email"),
    ]


def test_last_touches_ranked_with_their_lift_by_hand(tmp_path: Path) -> None:
    lake = build_lake(tmp_path / "lake", _rows(), batches=2)
    report = churn_points(lake, Scope())
    assert report.as_of == date(2026, 6, 30)
    assert (report.people, report.churned, report.retained) == (7, 4, 3)
    first, second = report.points
    # ada, cy and di churned on an opened e-mail (di at 23:59:59.999999 on April 1, the last
    # instant before the 90 days); gu is retained on one.
    assert (first.touches, first.churned, first.retained) == ((EMAIL_OPENED,), 3, 1)
    assert first.churned_share == 0.75 and first.retained_share == pytest.approx(1 / 3)
    assert first.lift == pytest.approx(2.25) and first.churn_rate == 0.75
    assert (second.touches, second.churned, second.retained) == ((PAGE,), 1, 2)
    assert second.lift == pytest.approx(0.375)
    assert report.to_dict()["points"][0]["touches"] == [
        {"channel": "email", "event": "Email Opened"}
    ]


def test_sequences_of_last_touches(tmp_path: Path) -> None:
    lake = build_lake(tmp_path / "lake", _rows())
    report = churn_points(lake, Scope(), touches=2)
    assert [(p.touches, p.churned, p.retained) for p in report.points] == [
        ((Touch("app", "Product Added"), PAGE), 1, 0),
        ((Touch("store", "Order Completed"), EMAIL_OPENED), 1, 0),
        ((PAGE, EMAIL_OPENED), 1, 0),
        ((EMAIL_OPENED,), 1, 1),  # di's only touch; gu's only touch
    ]
    assert len(churn_points(lake, Scope(), touches=2, limit=2).points) == 2


def test_as_of_and_range_choose_who_is_looked_at(tmp_path: Path) -> None:
    lake = build_lake(tmp_path / "lake", _rows())
    since = churn_points(lake, Scope(start=date(2026, 3, 10)))
    assert (since.people, since.churned) == (6, 3)  # ada's last touch is before the range
    march = churn_points(lake, Scope(), as_of=date(2026, 3, 31), inactive_after=30)
    # Up to March 31: ada (March 1) and fy (January 3) did nothing in the last 30 days.
    assert (march.people, march.churned) == (4, 2)
    assert churn_points(build_lake(tmp_path / "empty", []), Scope()).as_of is None


def test_simultaneous_touches_keep_the_order_they_were_received_in(tmp_path: Path) -> None:
    moment = datetime(2026, 1, 1, 9)
    rows = [
        Row("ada", "Email Opened", moment, channel="email"),
        Row("ada", "Page Viewed", moment),  # received later: the last touch
        Row("bo", "Page Viewed", datetime(2026, 5, 1)),
    ]
    lake = build_lake(tmp_path / "lake", rows)
    (last,) = churn_points(lake, Scope(), inactive_after=30).points
    assert last.touches == (PAGE,)
    (both,) = churn_points(lake, Scope(), inactive_after=30, touches=3).points
    assert both.touches == (EMAIL_OPENED, PAGE)


def test_durations_and_arguments() -> None:
    assert parse_days("90d") == 90 and parse_days("12w") == 84 and parse_days(" 30 ") == 30
    assert parse_days("3 months") is None and parse_days("-5d") is None
    with pytest.raises(ValueError, match="touches"):
        churn_points(None, Scope(), touches=4)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(
    case=cases(),
    inactive_after=st.sampled_from([1, 7, 30, 45]),
    as_of=st.one_of(
        st.none(),
        st.integers(10, 130).map(lambda d: date.fromordinal(date(2026, 1, 1).toordinal() + d)),
    ),
    touches=st.integers(1, 3),
)
def test_churn_matches_the_reference(
    case: Case, inactive_after: int, as_of: date | None, touches: int
) -> None:
    note(repr((case, inactive_after, as_of, touches)))
    with written(case) as lake:
        report = churn_points(
            lake,
            case.scope,
            inactive_after=inactive_after,
            as_of=as_of,
            touches=touches,
            limit=1000,
        )
    people, churned, counts = ref.churn(
        case.events,
        case.days,
        start=case.start,
        end=case.end,
        keep=case.keep,
        inactive_after=inactive_after,
        as_of=as_of,
        touches=touches,
    )
    assert (report.people, report.churned) == (people, churned)
    got = {
        tuple((t.channel, t.event) for t in p.touches): (p.churned, p.retained)
        for p in report.points
    }
    assert got == {k: v for k, v in counts.items() if v[0]}
    ranked = [(-p.churned, p.retained) for p in report.points]
    assert ranked == sorted(ranked)
