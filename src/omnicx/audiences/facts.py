"""What the evaluator knows about one person: `PersonFacts`, and how to take them from a
profile document.

Facts are plain, immutable data, so the live path (one profile, as each event is processed)
and the batch path (every profile, from storage) can build them their own way and get the
same answer from `evaluate`. Events are not carried whole: for each event condition of a
definition (by its key, `definition.event_conditions`) the facts hold the sorted times of the
person's events that match it (`evaluate.event_times` builds them from raw events; the live
path appends a time whenever `evaluate.matches` says an incoming event matches).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from omnicx.profiles.consent import CONSENT_CHANNELS
from omnicx.profiles.schemas import ComputedTraits, ConsentOut, ProfileDocument
from omnicx.store.clock import as_utc


@dataclass(frozen=True, slots=True)
class EventFact:
    """One event as conditions see it: a track event's name (a page's or screen's name),
    when it happened, the channel of its source, and its properties."""

    name: str
    ts: datetime
    channel: str
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PersonFacts:
    """Everything a definition can ask about one person."""

    traits: Mapping[str, Any] = field(default_factory=dict)
    """Trait name -> value (as the profile holds it: text, number, true/false, list, object)."""
    computed: Mapping[str, Any] = field(default_factory=dict)
    """Computed trait name (definition.COMPUTED_TRAITS) -> value; None or absent: unknown."""
    identities: Mapping[str, Set[str]] = field(default_factory=dict)
    """Identifier type -> the person's values of it."""
    consents: Mapping[tuple[str, str], bool] = field(default_factory=dict)
    """(channel, purpose) -> the consent in force; absent: never given, so not granted."""
    memberships: Set[str] = frozenset()
    """Keys of the other segments the person is a member of."""
    events: Mapping[str, Sequence[datetime]] = field(default_factory=dict)
    """Event condition key -> the times (timezone-aware, ascending) of matching events.
    Every key of the definition's event conditions must be present."""


def computed_facts(computed: ComputedTraits) -> dict[str, Any]:
    """The profile's computed traits under the names conditions use (COMPUTED_TRAITS)."""
    last, cart, rfm = computed.last_order, computed.open_cart, computed.rfm
    return {
        "first_seen_at": computed.first_seen_at,
        "last_seen_at": computed.last_seen_at,
        "events": computed.events,
        "channels": frozenset(c for c, n in computed.channels.items() if n > 0),
        "preferred_channel": computed.preferred_channel,
        "orders": computed.orders,
        "lifetime_value": computed.lifetime_value,
        "last_order.at": last.at if last else None,
        "last_order.value": last.value if last else None,
        "last_order.currency": last.currency if last else None,
        "last_order.channel": last.channel if last else None,
        "open_cart": cart,
        "open_cart.value": cart.value if cart else None,
        "open_cart.updated_at": cart.updated_at if cart else None,
        "rfm.recency": rfm.recency if rfm else None,
        "rfm.frequency": rfm.frequency if rfm else None,
        "rfm.monetary": rfm.monetary if rfm else None,
        "rfm.code": rfm.code if rfm else None,
    }


def consents_in_force(consents: Iterable[ConsentOut]) -> dict[tuple[str, str], bool]:
    """Yes or no per (channel, purpose) from the consents in force, with consents for `all`
    channels applied: for each channel, the later of its own consent and the `all` one wins
    (at the same instant, the channel's own)."""
    latest = {(c.channel, c.purpose): c for c in consents}
    found: dict[tuple[str, str], bool] = {}
    for purpose in {p for _, p in latest}:
        everywhere = latest.get(("all", purpose))
        for channel in CONSENT_CHANNELS:
            own = latest.get((channel, purpose))
            if own is None and everywhere is None:
                continue
            if own is None or (
                everywhere is not None and as_utc(everywhere.occurred_at) > as_utc(own.occurred_at)
            ):
                assert everywhere is not None
                found[(channel, purpose)] = everywhere.granted
            else:
                found[(channel, purpose)] = own.granted
    return found


def facts_of_profile(
    document: ProfileDocument,
    *,
    memberships: Set[str] = frozenset(),
    events: Mapping[str, Sequence[datetime]] | None = None,
) -> PersonFacts:
    """The facts of a profile as the API shows it, with its segment memberships and the
    times of its events per condition key (evaluate.event_times)."""
    return PersonFacts(
        traits={name: trait.value for name, trait in document.traits.items()},
        computed=computed_facts(document.computed),
        identities={kind: {i.value for i in found} for kind, found in document.identities.items()},
        consents=consents_in_force(document.consents),
        memberships=memberships,
        events=events or {},
    )
