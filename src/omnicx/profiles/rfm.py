"""RFM scores: recency, frequency and monetary value, 1 to 5, by quintiles across every
profile with at least one order.

The quintile thresholds are read on demand (12 indexed queries) and kept for
`THRESHOLD_SECONDS` per process, so a profile read costs no scan of all profiles and scores
follow new orders within that time (docs/profiles.md#rfm).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from omnicx.profiles.tables import profile_stats
from omnicx.store.clock import as_utc

THRESHOLD_SECONDS = 60.0
"""How long quintile thresholds are reused by one process."""


@dataclass(frozen=True, slots=True)
class RfmThresholds:
    """The upper bound of each of the four lower quintiles, per measure."""

    profiles: int
    recency: tuple[datetime, ...]
    frequency: tuple[int, ...]
    monetary: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class RfmScore:
    """One profile's scores; `code` is the three digits, such as "545"."""

    recency: int
    frequency: int
    monetary: int

    @property
    def code(self) -> str:
        """The three scores as one code."""
        return f"{self.recency}{self.frequency}{self.monetary}"


def _score(value: Any, bounds: Sequence[Any]) -> int:
    """1 + how many quintile bounds the value is above (ties take the lower quintile)."""
    return 1 + sum(1 for bound in bounds if value > bound)


def score(
    thresholds: RfmThresholds | None,
    *,
    last_order_at: datetime | None,
    orders: int,
    lifetime_value: float,
) -> RfmScore | None:
    """The RFM score of a profile (None without orders or thresholds)."""
    if thresholds is None or orders <= 0 or last_order_at is None:
        return None
    return RfmScore(
        _score(as_utc(last_order_at), thresholds.recency),
        _score(orders, thresholds.frequency),
        _score(lifetime_value, thresholds.monetary),
    )


def compute_thresholds(connection: Connection) -> RfmThresholds | None:
    """Reads the quintile thresholds now (None while no profile has an order)."""
    buyers = profile_stats.c.orders > 0
    count = int(
        connection.execute(select(func.count()).select_from(profile_stats).where(buyers)).scalar()
        or 0
    )
    if count == 0:
        return None
    # The i-th bound is the largest value of the lowest i fifths (ascending position).
    offsets = [math.ceil(count * i / 5) - 1 for i in range(1, 5)]

    def bounds(column: Any) -> list[Any]:
        return [
            connection.execute(
                select(column).where(buyers).order_by(column).limit(1).offset(offset)
            ).scalar_one()
            for offset in offsets
        ]

    return RfmThresholds(
        count,
        tuple(as_utc(v) for v in bounds(profile_stats.c.last_order_at)),
        tuple(int(v) for v in bounds(profile_stats.c.orders)),
        tuple(float(v) for v in bounds(profile_stats.c.lifetime_value)),
    )


_cache: dict[str, tuple[float, RfmThresholds | None]] = {}
_lock = threading.Lock()


def thresholds(
    connection: Connection, *, max_age: float = THRESHOLD_SECONDS
) -> RfmThresholds | None:
    """The thresholds, computed at most once per `max_age` seconds per database."""
    key = connection.engine.url.render_as_string(hide_password=False)
    now = time.monotonic()
    cached = _cache.get(key)
    if cached is not None and now - cached[0] < max_age:
        return cached[1]
    found = compute_thresholds(connection)
    with _lock:
        _cache[key] = (now, found)
    return found


def forget_thresholds() -> None:
    """Drops cached thresholds (tests, and after an erasure)."""
    with _lock:
        _cache.clear()
