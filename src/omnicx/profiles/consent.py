"""Consent: the vocabulary of channels and purposes, and the signals events carry.

A consent is a yes or no for one *channel* (where we may reach or observe the person) and
one *purpose* (what for). Elsewhere "marketing_email" is our (`email`, `marketing`).
The latest signal wins; every signal is kept in the history (docs/profiles.md#consent).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from omnicx.collect.sources import CHANNELS as SOURCE_CHANNELS

CONSENT_CHANNELS: tuple[str, ...] = (*SOURCE_CHANNELS, "push", "whatsapp", "post", "all")
"""Where a consent applies: a source channel, push, WhatsApp, post, or `all` of them."""

PURPOSES: dict[str, str] = {
    "marketing": "promotional messages on the channel (newsletters, offers, campaigns)",
    "tracking": "recording behaviour for analytics (cookies, SDK events)",
    "advertising": "using the data for ads and ad audiences",
    "personalisation": "tailoring content, recommendations and offers",
    "data_sharing": "sharing the data with partners",
}
"""What a consent is for."""

OPT_IN_TRAITS: dict[str, str] = {
    "emailOptIn": "email",
    "email_opt_in": "email",
    "smsOptIn": "sms",
    "sms_opt_in": "sms",
    "pushOptIn": "push",
    "push_opt_in": "push",
    "whatsappOptIn": "whatsapp",
    "whatsapp_opt_in": "whatsapp",
}
"""Traits that say yes or no to `marketing` on a channel."""

SUBSCRIPTION_EVENTS: dict[str, tuple[str | None, bool]] = {
    "Subscribed": (None, True),
    "Unsubscribed": (None, False),
    "Email Subscribed": ("email", True),
    "Email Unsubscribed": ("email", False),
    "Newsletter Subscribed": ("email", True),
    "Newsletter Unsubscribed": ("email", False),
    "SMS Subscribed": ("sms", True),
    "SMS Unsubscribed": ("sms", False),
    "Push Subscribed": ("push", True),
    "Push Unsubscribed": ("push", False),
}
"""Track events that give or withdraw `marketing` consent; None: the channel of the event's
source (or its `channel` property)."""

CATEGORY_PURPOSES: dict[str, str] = {
    "analytics": "tracking",
    "performance": "tracking",
    "statistics": "tracking",
    "measurement": "tracking",
    "tracking": "tracking",
    "advertising": "advertising",
    "ads": "advertising",
    "targeting": "advertising",
    "marketing": "advertising",
    "functional": "personalisation",
    "personalization": "personalisation",
    "personalisation": "personalisation",
    "preferences": "personalisation",
    "datasharing": "data_sharing",
    "sharing": "data_sharing",
}
"""`context.consent.categoryPreferences` categories (lower case, letters only) -> purpose."""

_LETTERS = re.compile(r"[^a-z]")
_TRUE = {"true", "yes", "y", "1", "on", "opt-in", "optin", "subscribed"}
_FALSE = {"false", "no", "n", "0", "off", "opt-out", "optout", "unsubscribed"}


@dataclass(slots=True)
class ConsentSignal:
    """One yes or no for a channel and purpose, with where it came from."""

    channel: str
    purpose: str
    granted: bool
    occurred_at: datetime
    signal: str
    """What said it: `traits.emailOptIn`, `event Unsubscribed`, `api`, ..."""
    event_id: int | None = None
    source_id: int | None = None
    message_id: str | None = None
    actor: str | None = None
    note: str | None = None

    def order(self) -> tuple[datetime, int]:
        """Later signals win; at the same instant, the later event."""
        return (self.occurred_at, self.event_id or 0)


def as_bool(value: object) -> bool | None:
    """A yes/no from a trait value (true, "yes", 1, ...), or None when it is not one."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value) if value in (0, 1) else None
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    return None


def check(channel: str, purpose: str) -> None:
    """Raises ValueError naming the vocabulary when the channel or purpose is not in it."""
    if channel not in CONSENT_CHANNELS:
        raise ValueError(
            f"Unknown consent channel {channel!r}; choose one of: {', '.join(CONSENT_CHANNELS)}."
        )
    if purpose not in PURPOSES:
        raise ValueError(
            f"Unknown consent purpose {purpose!r}; choose one of: {', '.join(PURPOSES)}."
        )


def from_traits(traits: Mapping[str, Any], where: str) -> list[tuple[str, str, bool, str]]:
    """(channel, purpose, granted, signal) for each opt-in trait."""
    found = []
    for name, channel in OPT_IN_TRAITS.items():
        if name in traits:
            granted = as_bool(traits[name])
            if granted is not None:
                found.append((channel, "marketing", granted, f"{where}.{name}"))
    return found


def from_event(
    name: str, source_channel: str, properties: Mapping[str, Any]
) -> list[tuple[str, str, bool, str]]:
    """(channel, purpose, granted, signal) for a subscription track event."""
    rule = SUBSCRIPTION_EVENTS.get(name)
    if rule is None:
        return []
    channel, granted = rule
    if channel is None:
        named = properties.get("channel")
        if isinstance(named, str) and named.lower() in CONSENT_CHANNELS:
            channel = named.lower()
        elif source_channel in ("email", "sms", "push", "whatsapp"):
            channel = source_channel
        else:
            return []
    return [(channel, "marketing", granted, f"event {name}")]


def from_category_preferences(
    preferences: Mapping[str, Any], source_channel: str
) -> list[tuple[str, str, bool, str]]:
    """(channel, purpose, granted, signal) for Segment's consent categories, on the event's
    channel."""
    found: dict[str, tuple[str, str, bool, str]] = {}
    for category, value in preferences.items():
        purpose = CATEGORY_PURPOSES.get(_LETTERS.sub("", str(category).lower()))
        granted = as_bool(value)
        if purpose is None or granted is None:
            continue
        signal = f"context.consent.categoryPreferences.{category}"
        previous = found.get(purpose)
        # Two categories for one purpose: a refusal of either is a refusal.
        if previous is None or (previous[2] and not granted):
            found[purpose] = (source_channel, purpose, granted, signal)
    return list(found.values())
