"""RFM scores: recency, frequency and monetary value, 1 to 5, by quintiles across every
profile with at least one order.

The quintile thresholds are computed from every buyer (one ranking query per measure) and
kept per process. A profile read never waits for them but the first in a process: once they
are `THRESHOLD_SECONDS` old, the next read starts one computation in a background thread and
uses the kept ones meanwhile, so scores follow new orders within about that time and a page
does not pay a scan of all profiles (seconds with a million buyers; docs/profiles.md#rfm).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Connection, func, select

from omnicx.profiles.tables import profile_stats
from omnicx.store.clock import as_utc
from omnicx.store.engine import read_only_engine
from omnicx.store.memo import Memo

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
    # The i-th bound is the largest value of the lowest i fifths: the value ranked
    # ceil(count * i / 5) in ascending order (one sort per measure, not one walk per bound).
    ranks = [math.ceil(count * i / 5) for i in range(1, 5)]

    def bounds(column: Any) -> list[Any]:
        ranked = (
            select(column.label("value"), func.row_number().over(order_by=column).label("rank"))
            .where(buyers)
            .subquery()
        )
        found = dict(
            connection.execute(
                select(ranked.c.rank, ranked.c.value).where(ranked.c.rank.in_(ranks))
            ).all()
        )
        return [found[rank] for rank in ranks]

    return RfmThresholds(
        count,
        tuple(as_utc(v) for v in bounds(profile_stats.c.last_order_at)),
        tuple(int(v) for v in bounds(profile_stats.c.orders)),
        tuple(float(v) for v in bounds(profile_stats.c.lifetime_value)),
    )


_kept = Memo()


def thresholds(
    connection: Connection, *, max_age: float = THRESHOLD_SECONDS
) -> RfmThresholds | None:
    """The thresholds kept by this process (per database): computed now the first time, then
    again in the background once older than `max_age` seconds (the kept ones answer
    meanwhile)."""
    engine = connection.engine

    def compute() -> RfmThresholds | None:  # in the background: a reader of its own
        reader = read_only_engine(engine)  # on SQLite, no write lock for a read
        try:
            with reader.connect() as own:
                return compute_thresholds(own)
        finally:
            if reader is not engine:
                reader.dispose()

    key = engine.url.render_as_string(hide_password=False)
    # The first computation reads through the caller's connection: on SQLite a second one
    # would wait for the caller's own transaction.
    first = partial(compute_thresholds, connection)
    return _kept.get(key, compute, seconds=max_age, first=first).value


def forget_thresholds() -> None:
    """Drops kept thresholds (tests, and after an erasure)."""
    _kept.clear()
