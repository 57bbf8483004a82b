"""Churn points: the last touchpoints of the customers who went inactive, ranked.

A person is churned when they did no active event on the last `inactive_after` days up to
and including the as-of day (the lake's last day by default); the others are retained.
The people looked at are those active in the scope's date range (up to the as-of day).

A person's last touch is their last active event (channel and event name); with `touches`
= 2 or 3, the sequence of their last events, oldest first. Of simultaneous events, the one
the lake received last (the higher event id) counts as the later. Each touch is ranked by how many
churned people it was the last of, beside how common it is among retained people: a touch
every customer ends on says little, one churned people end on far more often (lift > 1)
is where customers are lost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from omnicx.analytics.lake import LakeSnapshot
from omnicx.analytics.retention import ORDER_KEY, history_sql, instant_sql
from omnicx.analytics.scope import Scope

MAX_TOUCHES = 3
_DURATION = re.compile(r"^\s*(\d+)\s*([dw]?)\s*$")


def parse_days(text: str) -> int | None:
    """Days from `90d`, `12w` or `90`; None when the text is not such a duration."""
    found = _DURATION.match(text)
    if not found:
        return None
    return int(found.group(1)) * (7 if found.group(2) == "w" else 1)


@dataclass(frozen=True, slots=True)
class Touch:
    """A touchpoint: an active event on a channel (its event name, or its type when it has
    none, as a page without a name)."""

    channel: str
    event: str

    def __str__(self) -> str:
        return f"{self.channel}: {self.event}"


@dataclass(frozen=True, slots=True)
class ChurnPoint:
    """One last touch (or sequence of last touches) and the people who ended on it."""

    touches: tuple[Touch, ...]
    churned: int
    retained: int
    churned_share: float
    """Of all churned people, the share whose last touches these were."""
    retained_share: float

    @property
    def lift(self) -> float | None:
        """How much more often churned people end on it than retained people."""
        return self.churned_share / self.retained_share if self.retained_share else None

    @property
    def churn_rate(self) -> float:
        """Of the people whose last touches these were, the share who churned."""
        return self.churned / (self.churned + self.retained)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "touches": [{"channel": t.channel, "event": t.event} for t in self.touches],
            "churned": self.churned,
            "retained": self.retained,
            "churned_share": self.churned_share,
            "retained_share": self.retained_share,
            "lift": self.lift,
            "churn_rate": self.churn_rate,
        }


@dataclass(frozen=True, slots=True)
class ChurnReport:
    """Who churned as of a day, and their last touches ranked."""

    as_of: date | None
    inactive_after: int
    touches: int
    people: int
    churned: int
    points: tuple[ChurnPoint, ...]
    """Ranked by churned people, most first (then by retained people, fewest first); at most
    the `limit` asked for."""

    @property
    def retained(self) -> int:
        """People active within the last `inactive_after` days."""
        return self.people - self.churned

    @property
    def churn_rate(self) -> float | None:
        """Churned people as a share of the people looked at."""
        return self.churned / self.people if self.people else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "inactive_after_days": self.inactive_after,
            "touches": self.touches,
            "people": self.people,
            "churned": self.churned,
            "retained": self.retained,
            "churn_rate": self.churn_rate,
            "points": [p.to_dict() for p in self.points],
        }


def churn_points(
    lake: LakeSnapshot,
    scope: Scope,
    *,
    inactive_after: int = 90,
    as_of: date | None = None,
    touches: int = 1,
    limit: int = 20,
) -> ChurnReport:
    """Churned people as of `as_of` (default: the lake's last day) after `inactive_after`
    days without an active event, and their last `touches` touchpoints ranked."""
    if inactive_after < 1 or not 1 <= touches <= MAX_TOUCHES or limit < 1:
        raise ValueError("inactive_after, touches (1..3) and limit must be positive")
    days = lake.manifest.days()
    as_of = as_of or (days[-1] if days else None)
    if as_of is None:
        return ChurnReport(None, inactive_after, touches, 0, 0, ())
    until = datetime.combine(as_of + timedelta(days=1), time())
    cutoff = until - timedelta(days=inactive_after)
    history, parameters = history_sql(scope, until=until)
    conditions = [f"ts >= {instant_sql(scope.start_at)}"] if scope.start_at else []
    if scope.end_before and scope.end_before < until:
        conditions.append(f"ts < {instant_sql(scope.end_before)}")
    with lake.connect(scope) as db:
        query = _lasts_sql(history, "person_key", " AND ".join(conditions) or None, cutoff, touches)
        found = db.execute(query, parameters).fetchall()
    counts: dict[tuple[Touch, ...], list[int]] = {}
    for churned, last, people in found:
        sequence = tuple(Touch(t["channel"], t["event"]) for t in last)
        counts.setdefault(sequence, [0, 0])[0 if churned else 1] += int(people)
    churned_total = sum(c for c, _ in counts.values())
    retained_total = sum(r for _, r in counts.values())
    points = [
        ChurnPoint(
            sequence,
            churned,
            retained,
            churned / churned_total if churned_total else 0.0,
            retained / retained_total if retained_total else 0.0,
        )
        for sequence, (churned, retained) in counts.items()
        if churned
    ]
    # Equal counts: the touch rarer among retained people first (the more telling one).
    points.sort(key=lambda p: (-p.churned, p.retained, _key(p)))
    return ChurnReport(
        as_of,
        inactive_after,
        touches,
        churned_total + retained_total,
        churned_total,
        tuple(points[:limit]),
    )


def _key(point: ChurnPoint) -> tuple[tuple[str, str], ...]:
    return tuple((t.channel, t.event) for t in point.touches)


def _lasts_sql(
    history: str, person: str, in_range: str | None, cutoff: datetime, touches: int
) -> str:
    """SQL: rows (churned, last touches oldest first, people). Of simultaneous events, the
    one the lake received last counts as the later."""
    touch = "{'channel': channel, 'event': coalesce(event, type)}"
    seen = f"bool_or({in_range})" if in_range else "true"
    if touches == 1:
        # The last event is one aggregate away: far cheaper than ranking every event.
        return f"""
            SELECT churned, touches, count(*) FROM (
                SELECT max(ts) < {instant_sql(cutoff)} AS churned,
                    [arg_max({touch}, {ORDER_KEY})] AS touches
                FROM ({history}) WHERE active GROUP BY {person} HAVING {seen}
            ) GROUP BY ALL
        """
    return f"""
        WITH ranked AS (
            SELECT {person} AS p, ts, {touch} AS touch,
                row_number() OVER (PARTITION BY {person} ORDER BY ts DESC, event_id DESC) AS rank,
                {f"{seen} OVER (PARTITION BY {person})" if in_range else "true"} AS seen
            FROM ({history}) WHERE active
        )
        SELECT churned, touches, count(*) FROM (
            SELECT max(ts) < {instant_sql(cutoff)} AS churned,
                list(touch ORDER BY rank DESC) AS touches
            FROM ranked WHERE rank <= {touches} AND seen GROUP BY p
        ) GROUP BY ALL
    """
