"""Events per day and channel (analytics.daily), on lakes built for the test."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from omnicx.analytics.daily import events_per_day
from omnicx.analytics.lake import open_lake
from tests.analytics.lakes import Row, build_lake


def test_counts_every_day_and_channel_with_zeros_and_without_omnicx_own(tmp_path: Path) -> None:
    lake = build_lake(
        tmp_path,
        [
            Row("a", "Viewed", datetime(2026, 3, 1, 9)),
            Row("a", "Delivered", datetime(2026, 3, 1, 10), channel="email", active=False),
            Row("b", "Viewed", datetime(2026, 3, 1, 23, 59)),
            Row("b", "Segment Entered", datetime(2026, 3, 2, 1), channel="system"),
            Row("c", "Order Completed", datetime(2026, 3, 3, 12), channel="store_pos"),
            Row("c", "Viewed", datetime(2026, 3, 5, 12)),  # after the range
            Row("d", "Viewed", datetime(2026, 2, 28, 23)),  # before it
        ],
    )
    daily = events_per_day(lake, start=date(2026, 3, 1), end=date(2026, 3, 4))
    assert daily.days == tuple(date(2026, 3, d) for d in range(1, 5))
    assert daily.counts == {
        "web": (2, 0, 0, 0),
        "email": (1, 0, 0, 0),
        "store_pos": (0, 0, 1, 0),
    }
    assert list(daily.counts) == ["web", "email", "store_pos"]  # most events first
    assert daily.total == 4
    assert daily.per_day() == (3, 0, 1, 0)


def test_an_empty_lake_or_range_has_no_events(tmp_path: Path) -> None:
    daily = events_per_day(open_lake(tmp_path), start=date(2026, 1, 1), end=date(2026, 1, 3))
    assert daily.counts == {} and daily.total == 0 and daily.per_day() == (0, 0, 0)
    with pytest.raises(ValueError, match="ends"):
        events_per_day(open_lake(tmp_path), start=date(2026, 1, 2), end=date(2026, 1, 1))
