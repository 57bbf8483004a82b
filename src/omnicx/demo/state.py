"""What the simulation remembers about a person while living their months in time order."""

from __future__ import annotations

from dataclasses import dataclass, field
from random import Random
from typing import Any

from omnicx.demo import identifiers as ids
from omnicx.demo.campaigns import Campaign
from omnicx.demo.outbox import Outbox
from omnicx.demo.population import Household, Person
from omnicx.demo.timeline import Window
from omnicx.demo.truth import Ledger


@dataclass(frozen=True, slots=True)
class World:
    """What every household shares: the seed, the simulated window and the campaign calendar."""

    seed: int
    window: Window
    campaigns: dict[str, list[Campaign]]


@dataclass(slots=True)
class PersonState:
    """A person's simulation state: accounts, sign-ins, what each system knows about them."""

    world: World
    household: Household
    person: Person
    out: Outbox
    ledger: Ledger = field(default_factory=Ledger)
    user_id: str | None = None
    """The main web shop account, once it exists."""
    signed_in: dict[int, str] = field(default_factory=dict)
    """Device position in person.devices → the userId signed in there."""
    email_as_typed: str | None = None
    subscribed_from: float | None = None
    esp_contact: str | None = None
    sms_contact: str | None = None
    helpdesk_requester: str | None = None
    social_id: str | None = None
    orders: int = 0
    favourites: tuple[int, ...] = ()
    carrier: str = ""

    @property
    def rng(self) -> Random:
        """The household's random generator (one stream, so the run is deterministic)."""
        return self.out.rng

    def typed_email(self) -> str | None:
        """The e-mail address as this person typed it the first time, then the same each time."""
        if self.person.email is None:
            return None
        if self.email_as_typed is None:
            self.email_as_typed = ids.written_email(self.rng, self.person.email)
        return self.email_as_typed

    def next_reference(self) -> str:
        """A reference unique to this person and seed, for order, receipt and ticket ids."""
        self.orders += 1
        return f"{self.world.seed}{self.person.serial * 1000 + self.orders:010d}"


@dataclass(frozen=True, slots=True)
class Touchpoint:
    """One system's view of a person: the channel it reports on, the ids and context it sends."""

    state: PersonState
    channel: str
    user_id: str | None
    anonymous_id: str | None
    context: dict[str, Any]

    def track(self, instant: float, event: str, properties: dict[str, Any]) -> None:
        """Sends a track call from this system about the person."""
        self.state.out.send(
            self.state.ledger,
            self.channel,
            "track",
            instant,
            user_id=self.user_id,
            anonymous_id=self.anonymous_id,
            context=self.context,
            event=event,
            properties=properties,
        )
