"""The simulated people: deterministic, streamed, with identifiers as messy as real ones."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections import defaultdict
from random import Random
from typing import Any

import orjson

from omnicx.demo import identifiers as ids
from omnicx.demo.markets import MARKETS, local_price
from omnicx.demo.names import NameBook
from omnicx.demo.population import draw, slots
from omnicx.demo.producer import ChunkResult, chunks, simulated
from omnicx.demo.timeline import Window
from omnicx.demo.truth import KINDS, canonical
from tests.demo.helpers import UNTIL

WINDOW = Window.ending(UNTIL, 6)


def _e164(written: str, country: str) -> str:
    """A written phone number in E.164, undoing the habits the demo writes them with."""
    market = next(m for m in MARKETS if m.country == country)
    digits = re.sub(r"\D", "", written.replace("(0)", ""))
    if written.startswith("00"):
        return "+" + digits[2:]
    if written.startswith("+"):
        return "+" + digits
    return "+" + market.calling_code + digits.removeprefix("0")


def _people(seed: int, customers: int) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in _truth_of(seed, customers)]


def _truth_of(seed: int, customers: int, workers: int = 0) -> list[bytes]:
    async def collect() -> list[ChunkResult]:
        return [result async for result in simulated(chunks(seed, WINDOW, customers), workers)]

    return [line for result in asyncio.run(collect()) for line in result.truth]


def test_households_hold_exactly_the_customers_asked_for() -> None:
    for customers in (1, 2, 7, 500):
        laid_out = list(slots(5, customers))
        assert sum(slot.size for slot in laid_out) == customers
        assert [slot.index for slot in laid_out] == list(range(len(laid_out)))


def test_people_do_not_depend_on_the_population_size() -> None:
    small = _truth_of(3, 40)
    large = _truth_of(3, 120)
    assert small[:30] == large[:30]  # the last household of the small run may be cut short


def test_worker_processes_simulate_the_same_people() -> None:
    assert _truth_of(4, 250, workers=1) == _truth_of(4, 250, workers=0)


def test_a_person_is_drawn_the_same_in_any_order() -> None:
    names = NameBook(MARKETS)
    laid_out = list(slots(9, 30))
    forwards = [draw(9, slot, WINDOW, names).members[0].name for slot in laid_out]
    backwards = [draw(9, slot, WINDOW, names).members[0].name for slot in reversed(laid_out)]
    assert forwards == backwards[::-1]


def test_identifiers_belong_to_one_person_unless_marked_shared() -> None:
    owners: dict[tuple[str, str], set[str]] = defaultdict(set)
    shared: set[tuple[str, str]] = set()
    for person in _people(11, 1000):
        for kind in KINDS:
            for value in person[kind]:
                key = canonical(kind, value)
                if kind == "phones":
                    key = _e164(value, person["country"])
                    assert key == person["canonical"]["phone"], (value, person["canonical"])
                owners[(kind, key)].add(person["person"])
        for kind, values in person["shared"].items():
            shared.update((kind, canonical(kind, v)) for v in values)
    reused = {key for key, people in owners.items() if len(people) > 1}
    assert reused <= shared, sorted(reused - shared)[:5]
    assert any(kind == "anonymousIds" for kind, _ in shared)  # a family iPad
    assert any(kind == "emails" for kind, _ in shared)  # a family mailbox


def test_identifiers_come_in_the_forms_people_write() -> None:
    people = _people(2, 300)
    emails = {e for person in people for e in person["emails"]}
    assert any(e != e.strip() for e in emails)
    assert any(e.strip() != e.strip().lower() for e in emails)
    phones = {p for person in people for p in person["phones"]}
    assert any(p.startswith("+") for p in phones)
    assert any(p.startswith("0") for p in phones)
    cards = {c for person in people for c in person["loyaltyCards"]}
    assert any(" " in c for c in cards)
    assert any(c.isdigit() for c in cards)


def test_phone_habits_fill_every_digit() -> None:
    for market in MARKETS:
        national = ids.mobile_number(Random(1), market, 1, 12345)
        assert len(national) == market.subscriber_digits
        for template in range(len(market.phone_templates)):
            written = ids.written_phone(market, national, template)
            assert re.sub(r"\D", "", written).endswith(national)


def test_random_uuids_are_version_4() -> None:
    value = ids.random_uuid(Random(3))
    assert value == str(uuid.UUID(int=Random(3).getrandbits(128), version=4))
    assert uuid.UUID(value).version == 4


def test_loyalty_cards_pass_the_luhn_check() -> None:
    card = ids.loyalty_card(1, 4567, 2)
    total = sum(
        int(d) if i % 2 == 0 else sum(divmod(int(d) * 2, 10)) for i, d in enumerate(reversed(card))
    )
    assert total % 10 == 0


def test_shelf_prices_look_like_shelf_prices() -> None:
    prices = {m.currency: local_price(m, 24.95) for m in MARKETS}
    assert prices["EUR"] == 24.95
    assert str(prices["TRY"]).endswith(".9")
    assert prices["IRR"] % 10_000 == 0
