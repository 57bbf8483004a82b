"""Customer journeys: each person's months planned, then lived in time order across channels."""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field
from random import Random
from typing import Any

from omnicx.demo import contacts, messaging, stores
from omnicx.demo.campaigns import Campaign, language
from omnicx.demo.catalog import ABANDONED_CART_SUBJECT, PRODUCTS, WELCOME_SUBJECT
from omnicx.demo.outbox import Outbox
from omnicx.demo.population import Household, Person
from omnicx.demo.shopping import shop
from omnicx.demo.state import PersonState, World
from omnicx.demo.timeline import DAY, HOUR, MINUTE, MONTH, at_local_hour, random_day
from omnicx.demo.truth import truth_record

Action = Callable[[float], None]


@dataclass(slots=True)
class HouseholdOutput:
    """Everything one household produced: messages, export rows and truth records."""

    out: Outbox
    truth: list[dict[str, Any]] = field(default_factory=list)


def simulate_household(world: World, household: Household, rng: Random) -> HouseholdOutput:
    """Lives every member's months; the output is deterministic for the household's generator."""
    result = HouseholdOutput(Outbox(rng, world.window.end))
    for person in household.members:
        state = PersonState(world, household, person, result.out)
        Journey(state).live()
        result.truth.append(truth_record(household, person, state.ledger))
    return result


def _count(rng: Random, mean: float) -> int:
    """A whole number of occurrences around `mean` (floor plus a coin for the fraction)."""
    mean *= rng.uniform(0.5, 1.5)
    whole = int(mean)
    return whole + (rng.random() < mean - whole)


class Journey:
    """Plans one person's activities over the window, then plays them in time order."""

    def __init__(self, state: PersonState) -> None:
        self.state = state
        self.rng = state.rng
        self.person: Person = state.person
        self.window = state.world.window
        self.open_rate = self.rng.uniform(0.08, 0.55)
        self._agenda: list[tuple[float, int, Action]] = []
        self._scheduled = 0

    def live(self) -> None:
        """Plans and plays the person's months, then writes their CRM record."""
        person, state, rng = self.person, self.state, self.rng
        market = person.market
        state.carrier = rng.choice(market.carriers)
        state.favourites = tuple(rng.sample(range(len(PRODUCTS)), 6))
        if person.account and person.existing:
            state.user_id = person.user_ids[0]
            for index in range(len(person.devices)):
                if rng.random() < 0.75:
                    state.signed_in[index] = state.user_id
        if person.existing or person.persona.name == "store_only":
            state.subscribed_from = self.window.start if person.email_opt_in else None
        self._plan_sessions()
        self._plan_campaigns()
        self._plan_store_visits()
        self._plan_contacts()
        while self._agenda:
            instant, _, action = heapq.heappop(self._agenda)
            action(instant)
        member_since = person.active_from
        if person.existing:
            member_since -= rng.uniform(30, 900) * DAY
        stores.crm_record(state, member_since)

    def _add(self, instant: float, action: Action) -> None:
        """Schedules an action; actions may schedule follow-ups while the agenda plays."""
        if instant < self.window.end:
            self._scheduled += 1
            heapq.heappush(self._agenda, (instant, self._scheduled, action))

    def _local(self, start: float, end: float, store: bool = False) -> float:
        day = random_day(self.rng, start, end)
        return at_local_hour(self.rng, day, self.person.market.utc_offset_hours, store)

    def _plan_sessions(self) -> None:
        person, rng = self.person, self.rng
        if not person.devices:
            return
        persona = person.persona
        months = (person.active_until - person.active_from) / MONTH
        sessions = max(1, _count(rng, persona.sessions_per_month * months))
        weights = [
            1.6 if d.channel != "web" else 1.2 if d.kind == "mobile" else 1.0
            for d in person.devices
        ]
        buy_at = rng.randrange(sessions) if persona.name == "one_time" else -1
        for number in range(sessions):
            instant = self._local(person.active_from, person.active_until)
            device = rng.choices(range(len(person.devices)), weights)[0]
            roll = rng.random()
            if number == buy_at or roll < persona.purchase_share:
                intent = "buy"
            elif roll < persona.purchase_share + persona.abandon_share:
                intent = "abandon"
            else:
                intent = "browse"
            self._add(instant, self._session(device, intent))

    def _session(self, device: int, intent: str, campaign: dict[str, str] | None = None) -> Action:
        def run(instant: float) -> None:
            had_account = self.state.user_id is not None
            cart = shop(self.state, device, instant, intent, campaign)
            if cart:
                self._after_abandon(instant, cart)
            if not had_account and self.state.user_id is not None and self.person.email_opt_in:
                subject = WELCOME_SUBJECT[language(self.person.market)]
                self._add(instant + 10 * MINUTE, self._flow_email("flow-welcome", subject))

        return run

    def _after_abandon(self, instant: float, cart: list[int]) -> None:
        """An abandoned cart: a reminder e-mail, and sometimes the purchase happens in store."""
        state, rng = self.state, self.rng
        if state.subscribed_from is not None:
            subject = ABANDONED_CART_SUBJECT[language(self.person.market)]
            reminder = self._flow_email("flow-abandoned-cart", subject)
            self._add(instant + rng.uniform(1, 4) * HOUR, reminder)
        if self.person.loyalty_card and rng.random() < 0.35:
            day = instant + rng.uniform(1, 6) * DAY
            offset = self.person.market.utc_offset_hours
            self._add(at_local_hour(rng, day - day % DAY, offset, True), self._store_visit(cart))

    def _flow_email(self, flow: str, subject: str) -> Action:
        def run(instant: float) -> None:
            if self.state.subscribed_from is not None:
                self._email(instant, flow, subject)

        return run

    def _email(self, instant: float, campaign_id: str, subject: str) -> None:
        open_rate = self.open_rate if instant < self.person.active_until else self.open_rate * 0.15
        clicked = messaging.email(self.state, instant, campaign_id, subject, open_rate)
        if clicked is not None and instant < self.person.active_until:
            self._click_through(
                clicked,
                {"source": "newsletter", "medium": "email", "name": campaign_id, "content": "cta"},
            )

    def _click_through(self, instant: float, campaign: dict[str, str]) -> None:
        web = [i for i, d in enumerate(self.person.devices) if d.channel == "web"]
        if not web:
            return
        mobile = [i for i in web if self.person.devices[i].kind == "mobile"]
        device = self.rng.choice(mobile or web)
        intent = "buy" if self.rng.random() < 0.15 else "browse"
        self._add(instant + self.rng.uniform(2, 40), self._session(device, intent, campaign))

    def _plan_campaigns(self) -> None:
        person = self.person
        for campaign in self.state.world.campaigns[person.market.country]:
            if campaign.sent_at < person.active_from and not person.existing:
                continue  # not a customer yet
            if campaign.channel == "email" and person.email_opt_in:
                self._add(campaign.sent_at, self._campaign_email(campaign))
            elif campaign.channel == "sms" and person.sms_opt_in:
                self._add(campaign.sent_at, self._campaign_sms(campaign))

    def _campaign_email(self, campaign: Campaign) -> Action:
        def run(instant: float) -> None:
            if self.state.subscribed_from is not None and self.state.subscribed_from <= instant:
                self._email(instant + self.rng.uniform(0, 20) * MINUTE, campaign.id, campaign.name)

        return run

    def _campaign_sms(self, campaign: Campaign) -> Action:
        def run(instant: float) -> None:
            tapped = messaging.sms(self.state, instant, campaign.id, campaign.name)
            if tapped is not None and instant < self.person.active_until:
                self._click_through(tapped, {"source": "sms", "medium": "sms", "name": campaign.id})

        return run

    def _plan_store_visits(self) -> None:
        person, rng = self.person, self.rng
        if person.loyalty_card is None:
            return
        start = person.active_from
        end = self.window.end if person.persona.name == "store_only" else person.active_until
        visits = _count(rng, person.persona.store_visits_per_month * (end - start) / MONTH)
        for _ in range(visits):
            basket = [
                rng.choice(self.state.favourites)
                if rng.random() < 0.5
                else rng.randrange(len(PRODUCTS))
                for _ in range(rng.choice((1, 1, 2, 3, 4)))
            ]
            self._add(self._local(start, end, store=True), self._store_visit(basket))

    def _store_visit(self, basket: list[int]) -> Action:
        def run(instant: float) -> None:
            stores.store_purchase(self.state, instant, basket)

        return run

    def _plan_contacts(self) -> None:
        person, rng = self.person, self.rng
        start, end = person.active_from, min(self.window.end, person.active_until + 20 * DAY)
        months = (end - start) / MONTH
        if person.social:
            for _ in range(1 + _count(rng, 0.4 * months)):
                self._add(self._local(start, end), lambda t: contacts.social(self.state, t))
        for _ in range(_count(rng, 0.1 * months)):
            self._add(self._local(start, end), lambda t: contacts.support(self.state, t))
