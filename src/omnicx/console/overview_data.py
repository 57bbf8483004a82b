"""The overview's figures, gathered from the domains and kept for a short while.

Figures from the lake (DuckDB over Parquet: seconds on a large lake) and the one count that
reads a whole index (customer profiles) are kept in the server process (`Memo`), so that the
overview refreshing itself every 30 seconds in many browsers costs one computation per
figure and period, not one per browser, and no reader waits for one but the very first:

- lake figures: computed again when older than LAKE_SECONDS and the lake has changed since
  (an unchanged lake gives the same answer, so it is kept as long as the day lasts);
- the profile count: computed again when older than PROFILES_SECONDS.

A stale figure is answered at once, with the time it was computed, while a background
thread computes the next one.

The other counts (events received, per source) read small summary tables on every request.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Engine

from omnicx.analytics.churn import ChurnReport, churn_points
from omnicx.analytics.daily import DailyEvents, events_per_day
from omnicx.analytics.lake import LakeSnapshot
from omnicx.analytics.multichannel import multichannel_value
from omnicx.analytics.scope import Scope
from omnicx.collect import sources
from omnicx.identity.counts import count_profiles
from omnicx.store.memo import Computed, Memo

LAKE_SECONDS = 30.0
"""A lake figure is recomputed at most this often while the lake changes."""

PROFILES_SECONDS = 300.0
"""The profile count (a scan of an index) is recomputed at most this often."""

ACTIVE_WINDOWS = (7, 30)
"""Active customers over the last 7 and 30 days (today included)."""

CHURN_INACTIVE_DAYS = 30
"""Churned: no active event in the last 30 days of the lake ..."""

CHURN_LOOKBACK_DAYS = 180
"""... among the people active in the last 180 days."""

CHURN_POINTS = 5
"""How many churn points the overview lists."""

log = logging.getLogger("omnicx.console.overview")


@dataclass(frozen=True, slots=True)
class Totals:
    """What the operational database says: profiles, events received, sources."""

    profiles: Computed[int]
    events: int
    last_event_at: datetime | None
    sources: int


@dataclass(frozen=True, slots=True)
class ActiveWindow:
    """The people active over the last `days` days, and what share ordered or used more
    than one channel."""

    days: int
    active: int
    customers: int
    multichannel: int

    @property
    def conversion(self) -> float | None:
        """Of the active people, the share who completed an order."""
        return self.customers / self.active if self.active else None

    @property
    def multichannel_share(self) -> float | None:
        """Of the active people, the share who used more than one channel."""
        return self.multichannel / self.active if self.active else None


def lake_version(lake: LakeSnapshot, today: date) -> Hashable:
    """What a lake figure depends on: the lake's content and the day."""
    return (lake.version(), today)


def totals(memo: Memo, engine: Engine) -> Totals:
    """Profiles (kept PROFILES_SECONDS), events received and sources (read now)."""

    def profiles() -> int:
        with engine.connect() as connection:
            return count_profiles(connection)

    counted = memo.get("profiles", profiles, seconds=PROFILES_SECONDS)
    with engine.connect() as connection:
        listed = [s for s in sources.list_all(connection) if s.channel != sources.SYSTEM_CHANNEL]
    lasts = [s.last_event_at for s in listed if s.last_event_at is not None]
    return Totals(
        counted,
        sum(s.events for s in listed),
        max(lasts) if lasts else None,
        sum(1 for s in listed if s.enabled),
    )


def active_windows(memo: Memo, lake: LakeSnapshot, today: date) -> Computed[list[ActiveWindow]]:
    """Active people, conversion and multichannel share over the last 7 and 30 days."""

    def compute() -> list[ActiveWindow]:
        windows = []
        for days in ACTIVE_WINDOWS:
            report = multichannel_value(
                lake, Scope(start=today - timedelta(days=days - 1), end=today)
            )
            windows.append(
                ActiveWindow(days, report.people, report.customers, report.multichannel_people)
            )
        return windows

    return memo.get(
        ("active", today),
        compute,
        seconds=LAKE_SECONDS,
        version=lake_version(lake, today),
    )


def daily_events(memo: Memo, lake: LakeSnapshot, today: date, days: int) -> Computed[DailyEvents]:
    """Events per day and channel over the last `days` days."""
    return memo.get(
        ("daily", today, days),
        lambda: events_per_day(lake, start=today - timedelta(days=days - 1), end=today),
        seconds=LAKE_SECONDS,
        version=lake_version(lake, today),
    )


def churn(memo: Memo, lake: LakeSnapshot, today: date) -> Computed[ChurnReport]:
    """The last touches of the people who went quiet, most common first."""
    return memo.get(
        ("churn", today),
        lambda: churn_points(
            lake,
            Scope(start=today - timedelta(days=CHURN_LOOKBACK_DAYS - 1)),
            inactive_after=CHURN_INACTIVE_DAYS,
            limit=CHURN_POINTS,
        ),
        seconds=LAKE_SECONDS,
        version=lake_version(lake, today),
    )
