"""What one event tells about its person: trait values, consent signals, an order, a cart
change, and activity on a channel. Pure functions over the stored message."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from omnicx.collect.processing import StoredEvent
from omnicx.profiles import consent

ORDER_EVENT = "Order Completed"
CART_EVENTS = {"Product Added": "add", "Product Removed": "remove"}
COMMERCE_EVENTS = frozenset({ORDER_EVENT, *CART_EVENTS})
"""Track events the computed traits read (Segment e-commerce spec names)."""

PASSIVE_EVENTS = frozenset(
    {
        "Email Delivered",
        "Email Sent",
        "Email Bounced",
        "SMS Delivered",
        "SMS Sent",
        "Push Notification Delivered",
        "Push Notification Sent",
    }
)
"""Things done *to* the person (a delivery): they count as seen, not as the person's own use
of a channel (the preferred channel)."""

MAX_TRAIT_NAME = 200


@dataclass(slots=True)
class TraitValue:
    """A trait value one event carried, with its provenance."""

    name: str
    value: str
    """The value as JSON."""
    source_id: int
    channel: str
    event_id: int
    message_id: str
    observed_at: datetime

    def row(self) -> dict[str, Any]:
        """The columns of `profile_trait_observations` (and `profile_traits`, with a profile)."""
        return {
            "event_id": self.event_id,
            "name": self.name,
            "value": self.value,
            "source_id": self.source_id,
            "channel": self.channel,
            "message_id": self.message_id,
            "observed_at": self.observed_at,
        }


@dataclass(slots=True)
class Order:
    """An `Order Completed` event."""

    event_id: int
    at: datetime
    order_id: str | None
    value: float | None
    """`revenue`, else `total` (None when the event has neither)."""
    currency: str | None
    channel: str


@dataclass(slots=True)
class CartChange:
    """A `Product Added` or `Product Removed` event."""

    event_id: int
    at: datetime
    op: str
    key: str
    name: str | None
    price: float | None
    quantity: float


@dataclass(slots=True)
class EventFacts:
    """Everything the profile builder takes from one event."""

    event_id: int
    at: datetime
    channel: str
    own: bool
    """The person acted (not a delivery to them)."""
    traits: list[TraitValue] = field(default_factory=list)
    consents: list[consent.ConsentSignal] = field(default_factory=list)
    preferences: list[consent.ConsentSignal] = field(default_factory=list)
    """Consent categories (`context.consent`): recorded only when they change the consent."""
    order: Order | None = None
    cart: CartChange | None = None


def number(value: object) -> float | None:
    """A finite number from a property (numbers, or text such as "12.50")."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return result if math.isfinite(result) else None


def _text(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()[:255]
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def order_of(event_id: int, at: datetime, channel: str, properties: Mapping[str, Any]) -> Order:
    """The order an `Order Completed` event describes."""
    value = number(properties.get("revenue"))
    if value is None:
        value = number(properties.get("total"))
    currency = properties.get("currency")
    return Order(
        event_id,
        at,
        _text(properties.get("order_id")) or _text(properties.get("orderId")),
        value,
        currency.strip().upper()[:8] if isinstance(currency, str) and currency.strip() else None,
        channel,
    )


def cart_change_of(
    event_id: int, at: datetime, name: str, properties: Mapping[str, Any]
) -> CartChange:
    """The cart change a `Product Added` / `Product Removed` event describes."""
    key = (
        _text(properties.get("product_id"))
        or _text(properties.get("sku"))
        or _text(properties.get("name"))
        or "?"
    )
    quantity = number(properties.get("quantity"))
    return CartChange(
        event_id,
        at,
        CART_EVENTS[name],
        key,
        _text(properties.get("name")),
        number(properties.get("price")),
        quantity if quantity is not None and quantity > 0 else 1.0,
    )


def _needs_message(event: StoredEvent) -> bool:
    """Whether the message can hold anything the builder reads (decoding is the cost)."""
    if event.type == "identify":
        return True
    if event.type == "track" and (
        event.event in COMMERCE_EVENTS or event.event in consent.SUBSCRIPTION_EVENTS
    ):
        return True
    payload = event.payload or ""
    return '"traits"' in payload or '"consent"' in payload


def _traits(
    event: StoredEvent, traits: Mapping[str, Any], seen: set[str], into: list[TraitValue]
) -> None:
    for name, value in traits.items():
        if value is None or name in seen or not name or len(name) > MAX_TRAIT_NAME:
            continue
        seen.add(name)
        into.append(
            TraitValue(
                name,
                orjson.dumps(value).decode(),
                event.source_id,
                event.channel,
                event.id,
                event.message_id,
                event.timestamp,
            )
        )


def facts_of(event: StoredEvent) -> EventFacts:
    """What the builder takes from one stored event (its payload must be loaded)."""
    facts = EventFacts(
        event.id,
        event.timestamp,
        event.channel,
        not (event.type == "track" and event.event in PASSIVE_EVENTS),
    )
    if not _needs_message(event):
        return facts
    try:
        message = orjson.loads(event.payload or b"{}")
    except orjson.JSONDecodeError:
        return facts
    if not isinstance(message, dict):
        return facts
    context = message.get("context")
    context = context if isinstance(context, dict) else {}
    seen: set[str] = set()
    signals: list[tuple[str, str, bool, str]] = []
    # An identify call's own traits outrank the context's; a group call's traits describe
    # the account, not the person, and are not person traits.
    if event.type == "identify" and isinstance(message.get("traits"), dict):
        _traits(event, message["traits"], seen, facts.traits)
        signals.extend(consent.from_traits(message["traits"], "traits"))
    context_traits = context.get("traits")
    if isinstance(context_traits, dict):
        _traits(event, context_traits, seen, facts.traits)
        taken = {s[0] for s in signals}
        signals.extend(
            s for s in consent.from_traits(context_traits, "context.traits") if s[0] not in taken
        )
    properties = message.get("properties")
    properties = properties if isinstance(properties, dict) else {}
    if event.type == "track" and event.event:
        signals.extend(consent.from_event(event.event, event.channel, properties))
        if event.event == ORDER_EVENT:
            facts.order = order_of(event.id, event.timestamp, event.channel, properties)
        elif event.event in CART_EVENTS:
            facts.cart = cart_change_of(event.id, event.timestamp, event.event, properties)
    facts.consents = [_signal(event, s) for s in signals]
    given = context.get("consent")
    if isinstance(given, dict) and isinstance(given.get("categoryPreferences"), dict):
        facts.preferences = [
            _signal(event, s)
            for s in consent.from_category_preferences(given["categoryPreferences"], event.channel)
        ]
    return facts


def _signal(event: StoredEvent, found: tuple[str, str, bool, str]) -> consent.ConsentSignal:
    channel, purpose, granted, signal = found
    return consent.ConsentSignal(
        channel,
        purpose,
        granted,
        event.timestamp,
        signal,
        event_id=event.id,
        source_id=event.source_id,
        message_id=event.message_id,
    )
