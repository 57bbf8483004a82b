"""Ground truth: which real person used which identifiers, for scoring identity resolution.

Each person gets a ledger that records identifiers as the simulation writes them into
messages and export files, so the truth holds exactly what the stored data can show.
"""

from __future__ import annotations

from typing import Any

from omnicx.demo.population import Household, Person

KINDS = (
    "userIds",
    "anonymousIds",
    "deviceIds",
    "emails",
    "phones",
    "loyaltyCards",
    "crmIds",
)
"""The identifier kinds of a truth record, in the order they are written."""


def canonical(kind: str, value: str) -> str:
    """An identifier without writing habits: e-mails trimmed and lower-cased, cards as digits."""
    if kind == "emails":
        return value.strip().lower()
    if kind == "loyaltyCards":
        return "".join(char for char in value if char.isdigit())
    return value


class Ledger:
    """The identifiers one person used and the channels they were seen on, in first-use order."""

    __slots__ = ("channels", "events", "identifiers")

    def __init__(self) -> None:
        self.identifiers: dict[str, dict[str, None]] = {kind: {} for kind in KINDS}
        self.channels: dict[str, int] = {}
        self.events = 0

    def add(self, kind: str, value: str | None) -> None:
        """Records one identifier (None is ignored)."""
        if value:
            self.identifiers[kind][value] = None

    def count(self, channel: str, events: int = 1) -> None:
        """Counts events the person produced on a channel."""
        self.channels[channel] = self.channels.get(channel, 0) + events
        self.events += events

    def record(self, channel: str, message: dict[str, Any]) -> None:
        """Records every identifier a Segment message carries, and counts it."""
        self.count(channel)
        identifiers = self.identifiers
        if user_id := message.get("userId"):
            identifiers["userIds"][user_id] = None
        if anonymous_id := message.get("anonymousId"):
            identifiers["anonymousIds"][anonymous_id] = None
        context = message.get("context")
        if context is None:
            return
        device = context.get("device")
        if device is not None and (device_id := device.get("id")):
            identifiers["deviceIds"][device_id] = None
        traits = message.get("traits") or context.get("traits")
        if traits:
            self.add("emails", traits.get("email"))
            self.add("phones", traits.get("phone"))
            self.add("loyaltyCards", traits.get("loyaltyCard"))


def truth_record(household: Household, person: Person, ledger: Ledger) -> dict[str, Any]:
    """The truth line of one person: who they are and every identifier they used."""
    record: dict[str, Any] = {
        "person": person.key,
        "household": f"H{household.index:07d}",
        "name": f"{person.name.first} {person.name.last}",
        "country": person.market.country,
        "persona": person.persona.name,
    }
    for kind in KINDS:
        record[kind] = list(ledger.identifiers[kind])
    record["canonical"] = {
        "email": person.email,
        "phone": f"+{person.market.calling_code}{person.phone}" if person.phone else None,
        "loyaltyCard": person.loyalty_card,
    }
    shared: dict[str, list[str]] = {}
    for kind, values in sorted(person.shared.items()):
        used = [v for v in ledger.identifiers[kind] if canonical(kind, v) in values]
        if used:
            shared[kind] = used
    record["shared"] = shared
    record["channels"] = dict(sorted(ledger.channels.items()))
    record["events"] = ledger.events
    return record
