"""What systems that only export files record: store till receipts and the CRM's customer list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import orjson

from omnicx.demo import identifiers as ids
from omnicx.demo.catalog import PRODUCTS
from omnicx.demo.markets import Market, local_price
from omnicx.demo.state import PersonState
from omnicx.demo.timeline import HOUR, iso

POS_COLUMNS = (
    "receipt_id",
    "store_id",
    "store_name",
    "city",
    "country",
    "occurred_at",
    "loyalty_card",
    "customer_phone",
    "customer_email",
    "items",
    "item_count",
    "total",
    "currency",
    "payment_method",
)
"""The till export's columns, one row per receipt with a loyalty card scanned."""

CRM_COLUMNS = (
    "crm_id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "loyalty_card",
    "web_customer_id",
    "street",
    "postcode",
    "city",
    "country",
    "email_opt_in",
    "sms_opt_in",
    "member_since",
    "updated_at",
)
"""The CRM export's columns, one row per customer the CRM knows."""


def store_purchase(state: PersonState, instant: float, basket: list[int]) -> None:
    """A purchase at a till where the customer scans a loyalty card (and maybe gives a phone)."""
    person, rng = state.person, state.rng
    if instant >= state.out.end or person.loyalty_card is None:
        return
    market = person.market
    store = market.stores[person.serial % len(market.stores)]
    if rng.random() < 0.25:
        store = rng.choice(market.stores)
    lines = [(PRODUCTS[i].sku, 1, local_price(market, PRODUCTS[i].base_eur)) for i in basket]
    total = round(sum(price * qty for _, qty, price in lines), 2)
    card = ids.written_card(rng, person.loyalty_card)
    phone = ""
    if person.phone and rng.random() < 0.2:
        phone = ids.written_phone(market, person.phone, rng.randrange(2))
    email = ""
    if person.email and rng.random() < 0.1:
        email = ids.written_email(rng, person.email, 0.6)
    state.out.pos_rows.append(
        {
            "receipt_id": f"{store.id}-{state.next_reference()}",
            "store_id": store.id,
            "store_name": store.name,
            "city": store.city,
            "country": market.country,
            "occurred_at": _local_time(market, instant),
            "loyalty_card": card,
            "customer_phone": phone,
            "customer_email": email,
            "items": orjson.dumps(
                [{"sku": sku, "quantity": qty, "price": price} for sku, qty, price in lines]
            ).decode(),
            "item_count": str(len(lines)),
            "total": f"{total:.2f}",
            "currency": market.currency,
            "payment_method": rng.choice(("card", "card", "card", "cash", "mobile")),
        }
    )
    ledger = state.ledger
    ledger.count("store_pos")
    ledger.add("loyaltyCards", card)
    ledger.add("phones", phone)
    ledger.add("emails", email)


def crm_record(state: PersonState, member_since: float) -> None:
    """The person's row in the CRM export, typed in by store staff or synced from the shop."""
    person, rng = state.person, state.rng
    if person.crm_id is None:
        return
    market = person.market
    address = state.household.address
    email = ids.written_email(rng, person.email, 0.5) if person.email else ""
    phone = ""
    if person.phone:
        phone = ids.written_phone(market, person.phone, rng.randrange(len(market.phone_templates)))
    card = ids.written_card(rng, person.loyalty_card) if person.loyalty_card else ""
    linked = state.user_id if state.user_id is not None and rng.random() < 0.6 else ""
    state.out.crm_rows.append(
        {
            "crm_id": person.crm_id,
            "first_name": person.name.first,
            "last_name": person.name.last,
            "email": email,
            "phone": phone,
            "loyalty_card": card,
            "web_customer_id": linked,
            "street": address.street,
            "postcode": address.postcode,
            "city": address.city,
            "country": market.country,
            "email_opt_in": "yes" if person.email_opt_in else "no",
            "sms_opt_in": "yes" if person.sms_opt_in else "no",
            "member_since": datetime.fromtimestamp(member_since, UTC).date().isoformat(),
            "updated_at": iso(state.out.end - rng.uniform(1, 20) * HOUR),
        }
    )
    ledger = state.ledger
    ledger.count("crm")
    for kind, value in (
        ("crmIds", person.crm_id),
        ("emails", email),
        ("phones", phone),
        ("loyaltyCards", card),
        ("userIds", linked),
    ):
        ledger.add(kind, value)


def _local_time(market: Market, instant: float) -> str:
    """The till's clock: local time with its UTC offset, to the second."""
    zone = timezone(timedelta(hours=market.utc_offset_hours))
    return datetime.fromtimestamp(instant, zone).isoformat(timespec="seconds")
