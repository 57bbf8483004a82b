"""Channel performance: per channel and period, who it reached, engaged and converted, the
revenue, the trend against the previous period, and support response times.

- reach: people with any event on the channel (what happened to them included: an e-mail
  delivered reaches its reader);
- engaged: people with an active event on it;
- converted: people with a conversion event (`Order Completed`) on it; orders: those events;
  revenue: their `revenue`; conversion rate: converted people / reached people;
- conversations (help-desk tickets, chats, calls): opened by an event carrying a key
  property (`ticket_id`...), counted on the channel and period of their opening. First
  response: the first response event with the same key, minus the opening; resolution: the
  first closing event with the same key, minus the opening (median and 90th percentile, in
  hours, interpolated between the nearest values).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from omnicx.analytics.lake import LakeSnapshot
from omnicx.analytics.retention import (
    ORDER_KEY,
    Bounds,
    Period,
    filters_sql,
    history_sql,
    instant_sql,
    report_bounds,
    text_sql,
    trunc_sql,
)
from omnicx.analytics.scope import Scope

ORDER_EVENT = "Order Completed"


@dataclass(frozen=True, slots=True)
class ConversationKind:
    """How a kind of support conversation shows in events."""

    name: str
    opened: str
    closed: str
    key: str
    """The property naming the conversation on each of its events."""
    responses: tuple[str, ...] = ()
    """Events of an agent answering (the first one is the first response)."""

    def with_responses(self, responses: tuple[str, ...]) -> ConversationKind:
        """This kind with other response events."""
        return replace(self, responses=responses)


CONVERSATIONS = (
    ConversationKind(
        "ticket",
        "Ticket Created",
        "Ticket Resolved",
        "ticket_id",
        ("Ticket Replied", "Ticket Updated"),
    ),
    ConversationKind("chat", "Chat Started", "Chat Ended", "conversation_id", ("Chat Replied",)),
    ConversationKind("call", "Call Started", "Call Ended", "call_id"),
)
"""The help desk's tickets, the chat widget's chats and the call centre's calls."""


@dataclass(frozen=True, slots=True)
class SupportTimes:
    """Conversations opened on a channel, and how fast they were answered and resolved."""

    conversations: int = 0
    responded: int = 0
    resolved: int = 0
    first_response_median_hours: float | None = None
    first_response_p90_hours: float | None = None
    resolution_median_hours: float | None = None
    resolution_p90_hours: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(frozen=True, slots=True)
class ChannelFigures:
    """One channel's figures over a period (or over the whole range when `period` is None)."""

    channel: str
    period: date | None
    reach: int = 0
    engaged: int = 0
    converted: int = 0
    orders: int = 0
    revenue: float = 0.0
    support: SupportTimes | None = None
    change: dict[str, float | None] = field(default_factory=dict)
    """Relative change from the previous period of reach, engaged, converted, orders and
    revenue (0.25: +25 %; None when the previous period had none); empty for the first
    period and for the totals."""

    @property
    def conversion_rate(self) -> float | None:
        """Converted people per reached person."""
        return self.converted / self.reach if self.reach else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "channel": self.channel,
            "period": self.period.isoformat() if self.period else None,
            "reach": self.reach,
            "engaged": self.engaged,
            "converted": self.converted,
            "orders": self.orders,
            "revenue": self.revenue,
            "conversion_rate": self.conversion_rate,
            "change": self.change,
            "support": self.support.to_dict() if self.support else None,
        }


@dataclass(frozen=True, slots=True)
class ChannelReport:
    """Channel figures per period, and per channel over the whole range."""

    period: Period
    conversion_event: str
    first: date | None
    last: date | None
    periods: tuple[ChannelFigures, ...]
    """Every channel in every period (zeros included), by period then channel."""
    totals: tuple[ChannelFigures, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "period": self.period.value,
            "conversion_event": self.conversion_event,
            "start": self.first.isoformat() if self.first else None,
            "end": self.last.isoformat() if self.last else None,
            "channels": [t.to_dict() for t in self.totals],
            "periods": [p.to_dict() for p in self.periods],
        }


_MEASURES = ("reach", "engaged", "converted", "orders", "revenue")


def channel_performance(
    lake: LakeSnapshot,
    scope: Scope,
    *,
    period: Period = Period.month,
    conversion_event: str = ORDER_EVENT,
    conversations: tuple[ConversationKind, ...] = CONVERSATIONS,
) -> ChannelReport:
    """Channel figures per period over the scope's range (its start widened to a period
    start), with each channel's totals and support times."""
    bounds = report_bounds(lake, scope, period)
    if bounds is None:
        return ChannelReport(period, conversion_event, None, None, (), ())
    history, parameters = history_sql(scope, since=bounds.since, until=bounds.until)
    with lake.connect(scope) as db:
        query = _figures_sql(history, "person_key", period, text_sql(conversion_event))
        found = db.execute(query, parameters).fetchall()
        support = _support_times(db, scope, bounds, conversations)
    measured: dict[tuple[str, date | None], tuple[int, int, int, int, float]] = {
        (channel, start): (int(a), int(b), int(c), int(d), float(e))
        for channel, start, a, b, c, d, e in found
    }
    channels = sorted({channel for channel, _ in measured} | {channel for channel, _ in support})
    totals = tuple(_figures(c, None, measured, support) for c in channels)
    rows: list[ChannelFigures] = []
    starts = bounds.starts()
    for index, start in enumerate(starts):
        for c in channels:
            row = _figures(c, start, measured, support)
            if index:
                before = _figures(c, starts[index - 1], measured, support)
                change = {m: _change(getattr(row, m), getattr(before, m)) for m in _MEASURES}
                row = replace(row, change=change)
            rows.append(row)
    return ChannelReport(period, conversion_event, bounds.first, bounds.last, tuple(rows), totals)


def _figures(
    channel: str,
    start: date | None,
    measured: dict[tuple[str, date | None], tuple[int, int, int, int, float]],
    support: dict[tuple[str, date | None], SupportTimes],
) -> ChannelFigures:
    reach, engaged, converted, orders, revenue = measured.get((channel, start), (0, 0, 0, 0, 0.0))
    return ChannelFigures(
        channel, start, reach, engaged, converted, orders, revenue, support.get((channel, start))
    )


def _figures_sql(history: str, person: str, period: Period, conversion: str) -> str:
    """SQL: rows (channel, period, reach, engaged, converted, orders, revenue), and each
    channel's totals over the range with a NULL period."""
    converts = f"event = {conversion}"
    # Counting each person once per (channel, period), and once per channel for the totals
    # (one pass, two groupings), then counting those rows, is far cheaper than DISTINCT
    # counts over the events.
    return f"""
        SELECT channel, period, count(*), count(*) FILTER (engaged),
            count(*) FILTER (orders > 0), sum(orders), coalesce(sum(revenue), 0)
        FROM (
            SELECT {person} AS p, channel, {trunc_sql(period, "ts")} AS period,
                bool_or(active) AS engaged, count(*) FILTER ({converts}) AS orders,
                sum(revenue) FILTER ({converts}) AS revenue
            FROM ({history}) GROUP BY GROUPING SETS ((p, channel, period), (p, channel))
        ) GROUP BY ALL
    """


def _change(now: float, before: float) -> float | None:
    return (now - before) / before if before else None


def _support_times(
    db: Any, scope: Scope, bounds: Bounds, kinds: tuple[ConversationKind, ...]
) -> dict[tuple[str, date | None], SupportTimes]:
    """Support times by (channel, period) and by (channel, None) for the whole range."""
    if not kinds:
        return {}
    roles = " UNION ALL ".join(
        f"SELECT {text_sql(k.name)} AS kind, {text_sql(name)} AS name, "
        f"{text_sql(_path(k.key))} AS path, {text_sql(role)} AS role"
        for k in kinds
        for name, role in [(k.opened, "open"), (k.closed, "close")]
        + [(r, "reply") for r in k.responses]
    )
    names = ", ".join(
        sorted({text_sql(n) for k in kinds for n in (k.opened, k.closed, *k.responses)})
    )
    condition, parameters = filters_sql(scope)
    # One pass over the conversations' events. Conversations are opened in the scope; their
    # answers and resolutions are looked up on every later event, whatever the filters, so
    # a ticket opened in the range and resolved after it counts as resolved.
    query = f"""
        WITH marked AS MATERIALIZED (
            SELECT r.kind, r.role, json_extract_string(e.properties, r.path) AS key,
                e.ts, e.event_id, e.channel, e.in_scope
            FROM (
                SELECT *, ({condition}) AND ts < {instant_sql(bounds.until)} AS in_scope
                FROM all_events WHERE event IN ({names}) AND ts >= {instant_sql(bounds.since)}
            ) e JOIN ({roles}) r ON e.event = r.name
        ),
        opened AS (
            SELECT kind, key, min(ts) AS opened_at, arg_min(channel, {ORDER_KEY}) AS channel
            FROM marked WHERE role = 'open' AND in_scope AND key IS NOT NULL GROUP BY ALL
        ),
        timed AS (
            SELECT o.channel, {trunc_sql(bounds.period, "o.opened_at")} AS period,
                epoch(min(l.ts) FILTER (l.role = 'reply') - o.opened_at) / 3600 AS response,
                epoch(min(l.ts) FILTER (l.role = 'close') - o.opened_at) / 3600 AS resolution
            FROM opened o LEFT JOIN marked l
                ON l.kind = o.kind AND l.key = o.key AND l.role != 'open' AND l.ts >= o.opened_at
            GROUP BY o.kind, o.key, o.opened_at, o.channel
        )
        SELECT channel, period, count(*), count(response), count(resolution),
            quantile_cont(response, [0.5, 0.9]), quantile_cont(resolution, [0.5, 0.9])
        FROM timed GROUP BY GROUPING SETS ((channel, period), (channel))
    """
    found = db.execute(query, parameters).fetchall()
    times: dict[tuple[str, date | None], SupportTimes] = {}
    for channel, start, count, responded, resolved, response, resolution in found:
        times[(channel, start)] = SupportTimes(
            int(count),
            int(responded),
            int(resolved),
            *(response or (None, None)),
            *(resolution or (None, None)),
        )
    return times


def _path(key: str) -> str:
    return '$."' + key.replace('"', '\\"') + '"'
