"""Simulated time: the window the demo covers, and when people tend to do things."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from random import Random

MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0
MONTH = 30.44 * DAY

# Relative weight of each local hour for online sessions: quiet nights, busy evenings.
_ONLINE_HOURS = (1, 1, 0, 0, 0, 1, 2, 4, 6, 7, 7, 8, 9, 8, 8, 8, 9, 10, 12, 14, 15, 13, 8, 3)
_STORE_HOURS = (0,) * 10 + (4, 6, 8, 8, 8, 8, 9, 10, 10, 8, 5) + (0,) * 3
_HOURS = tuple(range(24))


@dataclass(frozen=True, slots=True)
class Window:
    """The simulated period, as Unix timestamps: `months` months up to the end of `until`."""

    start: float
    end: float

    @classmethod
    def ending(cls, until: date, months: int) -> Window:
        """The window of `months` months ending at midnight UTC after `until`."""
        end = datetime(until.year, until.month, until.day, tzinfo=UTC) + timedelta(days=1)
        return cls(end.timestamp() - months * MONTH, end.timestamp())

    @property
    def months(self) -> float:
        """The window's length in months."""
        return (self.end - self.start) / MONTH

    def clamp(self, instant: float) -> float:
        """The instant, moved inside the window if it fell outside."""
        return min(max(instant, self.start), self.end - 1.0)


def at_local_hour(rng: Random, day_start: float, utc_offset_hours: float, store: bool) -> float:
    """An instant on the UTC day from `day_start`, at a local hour likely for the activity."""
    weights = _STORE_HOURS if store else _ONLINE_HOURS
    hour = rng.choices(_HOURS, weights)[0]
    return day_start + (hour - utc_offset_hours) * HOUR + rng.random() * HOUR


def random_day(rng: Random, start: float, end: float) -> float:
    """The UTC midnight of a random day between two instants."""
    instant = rng.uniform(start, max(start, end))
    return instant - instant % DAY


def iso(instant: float) -> str:
    """An instant formatted as the Segment spec wants it: ISO 8601, milliseconds, `Z`."""
    text = datetime.fromtimestamp(instant, UTC).isoformat(timespec="milliseconds")
    return text[:-6] + "Z"
