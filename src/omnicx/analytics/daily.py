"""Events per day and channel: how much each channel brought in, day by day.

Counts every event the lake holds on each day (UTC, by when it happened) and channel, known
people or not, except omnicx's own events (channel `system`: segment entered, score
changed...), which are not interactions. Reads two columns of the days asked for only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from omnicx.analytics.lake import LakeSnapshot
from omnicx.analytics.retention import instant_sql, text_sql
from omnicx.analytics.scope import Scope
from omnicx.collect.sources import SYSTEM_CHANNEL


@dataclass(frozen=True, slots=True)
class DailyEvents:
    """Events per day and channel over a range of days (every day, zeros included)."""

    days: tuple[date, ...]
    counts: dict[str, tuple[int, ...]]
    """channel -> events on each of `days`; channels by events, most first."""

    @property
    def total(self) -> int:
        """Events over the whole range."""
        return sum(sum(values) for values in self.counts.values())

    def per_day(self) -> tuple[int, ...]:
        """Events of all channels on each day."""
        return tuple(sum(day) for day in zip(*self.counts.values(), strict=True)) or tuple(
            0 for _ in self.days
        )


def events_per_day(lake: LakeSnapshot, *, start: date, end: date) -> DailyEvents:
    """Events per day and channel from `start` to `end` (UTC days, inclusive)."""
    if end < start:
        raise ValueError(f"the range ends ({end}) before it starts ({start})")
    days = tuple(start + timedelta(days=n) for n in range((end - start).days + 1))
    scope = Scope(start=start, end=end)
    assert scope.start_at is not None and scope.end_before is not None
    found: list[tuple[date, str, int]] = []
    if lake.manifest.files_between(start, end):
        with lake.connect(scope) as db:
            found = db.execute(
                "SELECT CAST(ts AS DATE), channel, count(*) FROM lake_range "
                f"WHERE ts >= {instant_sql(scope.start_at)} "
                f"AND ts < {instant_sql(scope.end_before)} "
                f"AND channel <> {text_sql(SYSTEM_CHANNEL)} GROUP BY ALL"
            ).fetchall()
    index = {day: position for position, day in enumerate(days)}
    by_channel: dict[str, list[int]] = {}
    for day, channel, events in found:
        by_channel.setdefault(channel, [0] * len(days))[index[day]] += int(events)
    ranked = sorted(by_channel.items(), key=lambda item: (-sum(item[1]), item[0]))
    return DailyEvents(days, {channel: tuple(values) for channel, values in ranked})
