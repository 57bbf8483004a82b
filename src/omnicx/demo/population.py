"""The demo's people: households, personas, devices and identifiers, drawn one household at a time.

Every household is drawn from its own random generator seeded with (seed, household number),
so the people are the same whatever the requested population size, and drawing the millionth
household costs as much as drawing the first: nothing is kept in memory between households.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from random import Random

from omnicx.demo import identifiers as ids
from omnicx.demo.devices import Device, app_device, family_ipad, web_device
from omnicx.demo.markets import MARKET_WEIGHTS, MARKETS, Market
from omnicx.demo.names import Address, Name, NameBook
from omnicx.demo.timeline import DAY, Window


@dataclass(frozen=True, slots=True)
class Persona:
    """How a kind of customer behaves: visits, buying, store trips, and if they have an account."""

    name: str
    weight: float
    sessions_per_month: float
    purchase_share: float
    abandon_share: float
    store_visits_per_month: float
    app_share: float
    account_share: float
    existing_share: float
    card_share: float


PERSONAS = (
    Persona("loyal", 0.14, 3.0, 0.25, 0.15, 0.7, 0.6, 1.0, 0.8, 0.85),
    Persona("regular", 0.24, 1.5, 0.18, 0.15, 0.3, 0.35, 0.9, 0.5, 0.5),
    Persona("one_time", 0.16, 1.2, 0.0, 0.12, 0.1, 0.1, 0.6, 0.0, 0.2),
    Persona("lapsed", 0.10, 2.0, 0.2, 0.15, 0.3, 0.3, 0.9, 0.7, 0.4),
    Persona("browser", 0.24, 0.8, 0.03, 0.12, 0.05, 0.15, 0.25, 0.0, 0.1),
    Persona("store_only", 0.12, 0.0, 0.0, 0.0, 0.7, 0.0, 0.0, 0.6, 1.0),
)
PERSONA_WEIGHTS = tuple(p.weight for p in PERSONAS)

_IOS_SHARE = {"TR": 0.3, "NL": 0.5, "LV": 0.35, "IR": 0.15, "GB": 0.55}
_FAMILY_WORDS = {"TR": "ailesi", "NL": "familie", "LV": "gimene", "IR": "family", "GB": "family"}


@dataclass(slots=True)
class Person:
    """One real person, with everything the simulation needs to act as them."""

    seed: int
    serial: int
    household: int
    member: int
    market: Market
    name: Name
    persona: Persona
    active_from: float
    active_until: float
    existing: bool
    email: str | None = None
    second_email: str | None = None
    phone: str | None = None
    loyalty_card: str | None = None
    crm_id: str | None = None
    account: bool = False
    email_opt_in: bool = False
    sms_opt_in: bool = False
    social: bool = False
    devices: list[Device] = field(default_factory=list)
    shared: dict[str, set[str]] = field(default_factory=dict)
    """Identifiers this person shares with household members, by kind (see truth.KINDS)."""

    @property
    def key(self) -> str:
        """The person's key in the ground-truth file."""
        return f"P{self.serial:07d}"

    @property
    def user_ids(self) -> tuple[str, ...]:
        """The web shop accounts this person owns: a main one, sometimes a second."""
        if not self.account:
            return ()
        main = ids.user_id(self.seed, self.household, self.member * 2)
        if self.second_email is None:
            return (main,)
        return (main, ids.user_id(self.seed, self.household, self.member * 2 + 1))

    def share(self, kind: str, value: str) -> None:
        """Marks one of this person's identifiers as used by someone else in the household too."""
        self.shared.setdefault(kind, set()).add(value)


@dataclass(slots=True)
class Household:
    """People living together: one market, one address, one home internet connection."""

    seed: int
    index: int
    market: Market
    family: Name
    address: Address
    home_ip: str
    members: list[Person]


@dataclass(frozen=True, slots=True)
class HouseholdSlot:
    """Where a household sits in the population: its number, first person's serial, its size."""

    index: int
    first_serial: int
    size: int


def _household_rng(seed: int, index: int) -> Random:
    return Random(f"omnicx-demo/{seed}/household/{index}")


def _size(rng: Random) -> int:
    """The household's drawn size: always the first draw of its generator."""
    return rng.choices((1, 2, 3, 4), (55, 30, 10, 5))[0]


def slots(seed: int, customers: int) -> Iterator[HouseholdSlot]:
    """Lays out households until `customers` people are placed (the last one cut to fit)."""
    index = serial = 0
    while serial < customers:
        size = min(customers - serial, _size(_household_rng(seed, index)))
        yield HouseholdSlot(index, serial, size)
        serial += size
        index += 1


def draw(seed: int, slot: HouseholdSlot, window: Window, names: NameBook) -> Household:
    """Draws the household in `slot`: the same people whatever else is drawn, and in any order."""
    rng = _household_rng(seed, slot.index)
    _size(rng)
    return draw_household(rng, seed, slot, window, names)


def draw_household(
    rng: Random, seed: int, slot: HouseholdSlot, window: Window, names: NameBook
) -> Household:
    """Draws one household with its shared address, devices and habits."""
    market = rng.choices(MARKETS, MARKET_WEIGHTS)[0]
    family = names.family_name(rng, market)
    address = names.address(rng, market)
    home_ip = f"{rng.choice(market.ip_prefixes)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    household = Household(seed, slot.index, market, family, address, home_ip, [])
    for member in range(slot.size):
        serial = slot.first_serial + member
        household.members.append(_draw_person(rng, household, serial, member, window, names))
    _share_family_things(rng, household)
    return household


def _draw_person(
    rng: Random, household: Household, serial: int, member: int, window: Window, names: NameBook
) -> Person:
    market = household.market
    persona = rng.choices(PERSONAS, PERSONA_WEIGHTS)[0]
    female = rng.random() < 0.52
    name = names.member_name(rng, market, household.family, female)
    existing = rng.random() < persona.existing_share
    active_from, active_until = _active_period(rng, persona, existing, window)
    person = Person(
        household.seed,
        serial,
        household.index,
        member,
        market,
        name,
        persona,
        active_from,
        active_until,
        existing,
    )
    online = persona.name != "store_only"
    if rng.random() < (0.95 if online else 0.65):
        domain = rng.choice(market.email_domains)
        style = rng.randrange(5)
        person.email = ids.email_address(
            name.latin_first, name.latin_last, domain, style, household.seed, serial
        )
        person.account = rng.random() < persona.account_share
        if person.account and rng.random() < 0.05:  # a second account, on another address
            other = rng.choice([d for d in market.email_domains if d != domain])
            second = ids.email_address(
                name.latin_first, name.latin_last, other, style, household.seed, serial
            )
            person.second_email = second
    if rng.random() < 0.85:
        person.phone = ids.mobile_number(rng, market, household.seed, serial)
    if rng.random() < persona.card_share:
        person.loyalty_card = ids.loyalty_card(household.seed, household.index, member)
    if person.loyalty_card or (person.account and rng.random() < 0.3):
        person.crm_id = ids.crm_id(household.seed, household.index, member)
    person.email_opt_in = person.email is not None and rng.random() < 0.7
    person.sms_opt_in = person.phone is not None and rng.random() < 0.35
    person.social = online and rng.random() < (0.3 if persona.name == "loyal" else 0.12)
    if online:
        person.devices = _draw_devices(rng, person, window)
    return person


def _active_period(
    rng: Random, persona: Persona, existing: bool, window: Window
) -> tuple[float, float]:
    """When a person is active online: from their arrival to the end, or until they lapse."""
    if existing:
        start = window.start + rng.uniform(0, 14) * DAY
    else:
        start = rng.uniform(window.start, window.end - 10 * DAY)
    if persona.name == "lapsed":
        return start, start + (window.end - start) * rng.uniform(0.25, 0.55)
    if persona.name == "one_time":
        return start, min(window.end, start + rng.uniform(10, 60) * DAY)
    return start, window.end


def _draw_devices(rng: Random, person: Person, window: Window) -> list[Device]:
    devices: list[Device] = []
    market = person.market
    if rng.random() < 0.6:
        devices.append(web_device(rng, "desktop", window))
    if not devices or rng.random() < 0.7:
        devices.append(web_device(rng, "mobile", window))
    if rng.random() < person.persona.app_share:
        platform = "ios" if rng.random() < _IOS_SHARE[market.country] else "android"
        devices.append(app_device(rng, platform, window))
    return devices


def _share_family_things(rng: Random, household: Household) -> None:
    """Some families share an iPad, an e-mail address or one loyalty card."""
    online = [p for p in household.members if p.devices]
    market = household.market
    if len(online) >= 2 and rng.random() < 0.25:
        ipad = family_ipad(rng)
        for person in online[:2]:
            person.devices.append(ipad)
            for anonymous_id in ipad.anonymous_ids:
                person.share("anonymousIds", anonymous_id)
            person.share("deviceIds", ipad.device_id or "")
    if len(household.members) >= 2 and rng.random() < 0.12:
        family = ids.ascii_name(household.family.latin_last)
        word = _FAMILY_WORDS[market.country]
        # One mailbox per family, however common the name: the number is the household's.
        number = ids.scrambled(household.index, 6, household.seed, spread=3_571)
        local = f"{family}{word}{number}" if market.country == "TR" else f"{word}.{family}{number}"
        email = f"{local}@{rng.choice(market.email_domains)}"
        for person in household.members[:2]:
            person.email = email
            person.share("emails", email)
    carded = [p for p in household.members if p.loyalty_card]
    if len(carded) >= 2 and rng.random() < 0.3:
        card = carded[0].loyalty_card or ""
        for person in carded:
            person.loyalty_card = card
            person.share("loyaltyCards", card)
