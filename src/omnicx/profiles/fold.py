"""Folding facts into a profile's computed traits, trait winners and consents.

The same code serves both paths of the builder: a batch of new events is folded into the
stored state of its profiles, and a profile that identity resolution changed is folded again
from nothing, from all its events. Every rule here is order-independent (maximums, sums,
latest-wins with event-id tie-breaks), so both paths give the same result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import orjson

from omnicx.profiles.consent import ConsentSignal
from omnicx.profiles.facts import CartChange, Order, TraitValue
from omnicx.store.clock import as_utc, utc_now

PREFERRED_CHANNEL_DAYS = 90
"""The preferred channel counts the person's own actions in this many days, ending on the day
of their latest one."""


def stamp(at: datetime) -> str:
    """An instant as fixed-width ISO text (sorts like the instant)."""
    return as_utc(at).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def unstamp(text: str) -> datetime:
    """The instant `stamp` wrote."""
    return as_utc(datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ"))


def _money(value: float) -> float:
    return round(value, 4)


@dataclass(slots=True)
class OpenCart:
    """Products added since the last completed order and not removed."""

    items: list[dict[str, Any]]
    value: float | None
    updated_at: datetime


def open_cart(operations: Sequence[Mapping[str, Any]]) -> OpenCart | None:
    """The cart the operations leave (None when it is empty)."""
    items: dict[str, dict[str, Any]] = {}
    for op in sorted(operations, key=lambda o: (o["at"], o["event_id"])):
        item = items.get(op["key"])
        if op["op"] == "add":
            if item is None:
                item = {"key": op["key"], "name": op["name"], "price": op["price"], "quantity": 0.0}
                items[op["key"]] = item
            item["quantity"] += op["quantity"]
            if op["price"] is not None:
                item["price"] = op["price"]
            if op["name"]:
                item["name"] = op["name"]
        elif item is not None:
            item["quantity"] -= op["quantity"]
            if item["quantity"] <= 0:
                del items[op["key"]]
    if not items:
        return None
    priced = [i for i in items.values() if i["price"] is not None]
    value = _money(sum(i["price"] * i["quantity"] for i in priced)) if priced else None
    for item in items.values():
        quantity = item["quantity"]
        item["quantity"] = int(quantity) if float(quantity).is_integer() else quantity
    return OpenCart(list(items.values()), value, unstamp(max(o["at"] for o in operations)))


def preferred_channel(recent: Mapping[str, Mapping[str, int]]) -> str | None:
    """The channel with the most own actions in the window; ties: the one used on the latest
    day, then by name."""
    best: tuple[int, str, str] | None = None
    choice = None
    for channel, days in recent.items():
        if not days:
            continue
        key = (sum(days.values()), max(days), _reverse(channel))
        if best is None or key > best:
            best, choice = key, channel
    return choice


def _reverse(name: str) -> str:
    # Ties on count and day go to the alphabetically first channel.
    return "".join(chr(0x10FFFF - ord(c)) for c in name)


@dataclass(slots=True)
class Stats:
    """A profile's computed traits while they are being folded."""

    profile_id: str
    first_seen_at: datetime | None = None
    last_seen_at: datetime | None = None
    events: int = 0
    channels: dict[str, int] = field(default_factory=dict)
    recent: dict[str, dict[str, int]] = field(default_factory=dict)
    orders: int = 0
    lifetime_value: float = 0.0
    last_order: Order | None = None
    cart: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_row(cls, row: Any) -> Stats:
        """The stored state of a profile."""
        last = None
        if row.last_order_at is not None:
            last = Order(
                row.last_order_event_id,
                as_utc(row.last_order_at),
                row.last_order_id,
                row.last_order_value,
                row.last_order_currency,
                row.last_order_channel or "",
            )
        return cls(
            row.profile_id,
            as_utc(row.first_seen_at),
            as_utc(row.last_seen_at),
            row.events,
            orjson.loads(row.channels),
            orjson.loads(row.recent),
            row.orders,
            row.lifetime_value,
            last,
            orjson.loads(row.cart),
        )

    def add_activity(self, at: datetime, channel: str, own: bool) -> None:
        """One event on a channel."""
        if self.first_seen_at is None or at < self.first_seen_at:
            self.first_seen_at = at
        if self.last_seen_at is None or at > self.last_seen_at:
            self.last_seen_at = at
        self.events += 1
        self.channels[channel] = self.channels.get(channel, 0) + 1
        if own:
            days = self.recent.setdefault(channel, {})
            day = as_utc(at).date().isoformat()
            days[day] = days.get(day, 0) + 1

    def add_order(self, order: Order) -> None:
        """One completed order."""
        self.orders += 1
        if order.value is not None:
            self.lifetime_value = _money(self.lifetime_value + order.value)
        last = self.last_order
        if last is None or (order.at, order.event_id) > (last.at, last.event_id):
            self.last_order = order

    def add_cart_change(self, change: CartChange) -> None:
        """One product added to or removed from the cart."""
        self.cart.append(
            {
                "at": stamp(change.at),
                "event_id": change.event_id,
                "op": change.op,
                "key": change.key,
                "name": change.name,
                "price": change.price,
                "quantity": change.quantity,
            }
        )

    def finish(self) -> None:
        """Drops what no longer counts: own actions before the window, cart changes before
        the last order."""
        ends = [max(days) for days in self.recent.values() if days]
        if ends:
            start = (
                date.fromisoformat(max(ends)) - timedelta(PREFERRED_CHANNEL_DAYS - 1)
            ).isoformat()
            self.recent = {
                channel: kept
                for channel, days in self.recent.items()
                if (kept := {d: n for d, n in days.items() if d >= start})
            }
        if self.last_order is not None and self.cart:
            cut = stamp(self.last_order.at)
            self.cart = [op for op in self.cart if op["at"] > cut]
        self.cart.sort(key=lambda o: (o["at"], o["event_id"]))

    def row(self) -> dict[str, Any]:
        """The `profile_stats` row (call `finish` first)."""
        assert self.first_seen_at is not None and self.last_seen_at is not None
        cart = open_cart(self.cart) if self.cart else None
        last = self.last_order
        return {
            "profile_id": self.profile_id,
            "first_seen_at": self.first_seen_at,
            "last_seen_at": self.last_seen_at,
            "events": self.events,
            "channels": orjson.dumps(self.channels, option=orjson.OPT_SORT_KEYS).decode(),
            "recent": orjson.dumps(self.recent, option=orjson.OPT_SORT_KEYS).decode(),
            "preferred_channel": preferred_channel(self.recent),
            "orders": self.orders,
            "lifetime_value": self.lifetime_value,
            "last_order_at": last.at if last else None,
            "last_order_event_id": last.event_id if last else None,
            "last_order_id": last.order_id if last else None,
            "last_order_value": last.value if last else None,
            "last_order_currency": last.currency if last else None,
            "last_order_channel": last.channel if last else None,
            "cart": orjson.dumps(self.cart).decode(),
            "cart_value": cart.value if cart else None,
            "cart_updated_at": cart.updated_at if cart else None,
            "updated_at": utc_now(),
        }


class TraitRanking:
    """Which of two observations of a trait wins: a listed source beats an unlisted one, an
    earlier-listed source a later one; then the latest event time; then the later event."""

    def __init__(self, sources_for: Any, source_names: Mapping[int, str]) -> None:
        self._sources_for = sources_for
        self._names = source_names
        self._ranks: dict[tuple[str, int], int] = {}

    def key(self, value: TraitValue) -> tuple[int, datetime, int]:
        """Larger wins."""
        cached = (value.name, value.source_id)
        rank = self._ranks.get(cached)
        if rank is None:
            listed: tuple[str, ...] = self._sources_for(value.name)
            name = self._names.get(value.source_id)
            rank = listed.index(name) if name in listed else len(listed)
            self._ranks[cached] = rank
        return (-rank, as_utc(value.observed_at), value.event_id)


def offer_trait(winners: dict[str, TraitValue], value: TraitValue, ranking: TraitRanking) -> bool:
    """Keeps `value` if it outranks the trait's current value; tells whether it did."""
    current = winners.get(value.name)
    if current is None or ranking.key(value) > ranking.key(current):
        winners[value.name] = value
        return True
    return False


def offer_consent(current: dict[tuple[str, str], ConsentSignal], signal: ConsentSignal) -> bool:
    """Keeps `signal` if it is later than the consent in force; tells whether it did."""
    key = (signal.channel, signal.purpose)
    held = current.get(key)
    if held is None or signal.order() > held.order():
        current[key] = signal
        return True
    return False
