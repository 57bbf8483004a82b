"""Cross-channel value: are customers who use more channels, or touch the brand more often,
worth more?

Over the scope's events (its date range and filters):

- active people: people with at least one active event; customers: those with at least one
  order (`Order Completed`);
- channels used: the channels a person did an active event on; touchpoints: their active
  events (an order is one);
- multichannel: more than one channel used.

People are grouped by channels used (1, 2, 3, 4+ by default) and by touchpoints (1-4, 5-9,
10-19, 20-49, 50+ by default); each group gives its people, customers, orders and revenue,
and the orders and revenue per customer. Revenue sums the orders' `revenue`, whatever their
currency.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from omnicx.analytics.lake import LakeSnapshot
from omnicx.analytics.retention import Period, report_bounds, text_sql
from omnicx.analytics.scope import Scope

ORDER_EVENT = "Order Completed"
CHANNEL_CAP = 4
TOUCHPOINT_EDGES = (1, 5, 10, 20, 50)
"""The smallest touchpoint count of each group: 1-4, 5-9, 10-19, 20-49, 50+."""


@dataclass(frozen=True, slots=True)
class ValueGroup:
    """The people in one group (by channels or touchpoints used) and what they bought."""

    label: str
    people: int
    customers: int
    orders: int
    revenue: float

    @property
    def customer_rate(self) -> float | None:
        """Customers per active person."""
        return self.customers / self.people if self.people else None

    @property
    def orders_per_customer(self) -> float | None:
        """Orders per customer."""
        return self.orders / self.customers if self.customers else None

    @property
    def revenue_per_customer(self) -> float | None:
        """Revenue per customer."""
        return self.revenue / self.customers if self.customers else None

    @property
    def revenue_per_person(self) -> float | None:
        """Revenue per active person."""
        return self.revenue / self.people if self.people else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "group": self.label,
            "people": self.people,
            "customers": self.customers,
            "orders": self.orders,
            "revenue": self.revenue,
            "customer_rate": self.customer_rate,
            "orders_per_customer": self.orders_per_customer,
            "revenue_per_customer": self.revenue_per_customer,
            "revenue_per_person": self.revenue_per_person,
        }


@dataclass(frozen=True, slots=True)
class MultichannelReport:
    """Customers and their value by channels and by touchpoints used."""

    order_event: str
    first: date | None
    last: date | None
    people: int
    customers: int
    multichannel_people: int
    multichannel_customers: int
    by_channels: tuple[ValueGroup, ...]
    by_touchpoints: tuple[ValueGroup, ...]

    @property
    def multichannel_share(self) -> float | None:
        """Of the customers, the share who used more than one channel."""
        return self.multichannel_customers / self.customers if self.customers else None

    @property
    def multichannel_people_share(self) -> float | None:
        """Of the active people, the share who used more than one channel."""
        return self.multichannel_people / self.people if self.people else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "order_event": self.order_event,
            "start": self.first.isoformat() if self.first else None,
            "end": self.last.isoformat() if self.last else None,
            "people": self.people,
            "customers": self.customers,
            "multichannel": {
                "customers": self.multichannel_customers,
                "customer_share": self.multichannel_share,
                "people": self.multichannel_people,
                "people_share": self.multichannel_people_share,
            },
            "by_channels": [g.to_dict() for g in self.by_channels],
            "by_touchpoints": [g.to_dict() for g in self.by_touchpoints],
        }


def parse_edges(text: str) -> tuple[int, ...] | None:
    """Touchpoint group starts from `1,5,10`; None unless they are rising numbers from 1."""
    try:
        edges = tuple(int(part) for part in text.split(","))
    except ValueError:
        return None
    if not edges or edges[0] != 1 or list(edges) != sorted(set(edges)):
        return None
    return edges


def channel_labels(cap: int) -> list[str]:
    """The channel groups' labels: 1, 2, ..., `cap`+."""
    return [str(n) for n in range(1, cap)] + [f"{cap}+"]


def touchpoint_labels(edges: Sequence[int]) -> list[str]:
    """The touchpoint groups' labels: 1-4, 5-9, ..., 50+ for edges 1, 5, 10, 20, 50."""
    labels = []
    for low, high in zip(edges, [*edges[1:], None], strict=True):
        if high is None:
            labels.append(f"{low}+")
        else:
            labels.append(str(low) if high == low + 1 else f"{low}-{high - 1}")
    return labels


def multichannel_value(
    lake: LakeSnapshot,
    scope: Scope,
    *,
    order_event: str = ORDER_EVENT,
    channel_cap: int = CHANNEL_CAP,
    touchpoint_edges: Sequence[int] = TOUCHPOINT_EDGES,
) -> MultichannelReport:
    """Active people and customers by channels used (1 .. `channel_cap`+) and by touchpoints
    (groups starting at `touchpoint_edges`) over the scope's events."""
    edges = list(touchpoint_edges)
    if channel_cap < 2 or not edges or edges[0] != 1 or edges != sorted(set(edges)):
        raise ValueError("channel_cap must be 2 or more; touchpoint edges rise from 1")
    with lake.connect(scope) as db:
        found = db.execute(_value_sql("person_key", text_sql(order_event))).fetchall()
    channel_groups = channel_labels(channel_cap)
    touch_groups = touchpoint_labels(edges)
    by_channels: dict[str, list[float]] = {label: [0, 0, 0, 0.0] for label in channel_groups}
    by_touches: dict[str, list[float]] = {label: [0, 0, 0, 0.0] for label in touch_groups}
    for channels, touchpoints, people, customers, orders, revenue in found:
        figures = (int(people), int(customers), int(orders), float(revenue))
        band = sum(1 for edge in edges if touchpoints >= edge) - 1
        for totals in (
            by_channels[channel_groups[min(channels, channel_cap) - 1]],
            by_touches[touch_groups[band]],
        ):
            for i, value in enumerate(figures):
                totals[i] += value
    multichannel = [(p, c) for channels, _, p, c, _, _ in found if channels > 1]
    span = report_bounds(lake, scope, Period.day)
    return MultichannelReport(
        order_event,
        span.first if span else None,
        span.last if span else None,
        sum(int(g[0]) for g in by_channels.values()),
        sum(int(g[1]) for g in by_channels.values()),
        sum(int(p) for p, _ in multichannel),
        sum(int(c) for _, c in multichannel),
        tuple(_group(label, v) for label, v in by_channels.items()),
        tuple(_group(label, v) for label, v in by_touches.items()),
    )


def _group(label: str, values: list[float]) -> ValueGroup:
    return ValueGroup(label, int(values[0]), int(values[1]), int(values[2]), values[3])


def _value_sql(person: str, order_event: str) -> str:
    """SQL: rows (channels, touchpoints, people, customers, orders, revenue)."""
    order = f"event = {order_event}"
    # One row per (channels, touchpoints) pair: few, so the grouping into bands is Python's.
    return f"""
        WITH persons AS (
            SELECT count(DISTINCT channel) FILTER (active) AS channels,
                count(*) FILTER (active) AS touchpoints,
                count(*) FILTER ({order}) AS orders,
                coalesce(sum(revenue) FILTER ({order}), 0) AS revenue
            FROM events GROUP BY {person} HAVING touchpoints > 0
        )
        SELECT channels, touchpoints, count(*), count(*) FILTER (orders > 0), sum(orders),
            sum(revenue)
        FROM persons GROUP BY ALL
    """
