"""Online shopping sessions: browse, sign up or in, fill a cart, check out or walk away."""

from __future__ import annotations

from typing import Any

from omnicx.demo import identifiers as ids
from omnicx.demo.catalog import PRODUCTS
from omnicx.demo.state import PersonState
from omnicx.demo.timeline import iso
from omnicx.demo.visits import Visit, product_properties

_VAT = {"TR": 0.20, "NL": 0.21, "LV": 0.21, "IR": 0.10, "GB": 0.20}
_FREE_SHIPPING_EUR = 50.0
_REFERRERS = (
    "",
    "",
    "https://www.google.com/",
    "https://www.google.com/",
    "https://www.instagram.com/",
    "https://www.bing.com/",
)
_PAID = (
    {"source": "google", "medium": "cpc", "name": "brand-search"},
    {"source": "instagram", "medium": "social", "name": "spring-lookbook"},
    {"source": "facebook", "medium": "paid_social", "name": "retargeting"},
)


def shop(
    state: PersonState,
    device_index: int,
    instant: float,
    intent: str,
    campaign: dict[str, str] | None = None,
) -> list[int]:
    """Simulates one session with `intent` (browse, buy, abandon); returns an abandoned cart."""
    person, rng = state.person, state.rng
    device = person.devices[device_index]
    at_home = device.kind in ("desktop", "ipad") or rng.random() < 0.6
    ip = state.household.home_ip if at_home else _mobile_ip(state)
    referrer = ""
    if campaign is None and device.channel == "web":
        roll = rng.random()
        if roll < 0.15:
            campaign = rng.choice(_PAID)
        else:
            referrer = rng.choice(_REFERRERS)
    visit = Visit(
        state.out,
        state.ledger,
        person.market,
        device,
        instant,
        user_id=state.signed_in.get(device_index),
        ip=ip,
        carrier=state.carrier,
        campaign=campaign,
        referrer=referrer,
    )
    if not visit.web:
        visit.track(
            "Application Opened", {"from_background": rng.random() < 0.5, "version": "4.12.0"}
        )
    if rng.random() < 0.5:
        visit.view("Home", "/", "Home")
    _account_moments(state, visit, device_index, intent)
    viewed = _browse(state, visit)
    if intent == "browse":
        if person.account or not person.email_opt_in or state.subscribed_from is not None:
            return []
        if rng.random() < 0.3:
            _newsletter(state, visit)
        return []
    cart = _fill_cart(state, visit, viewed)
    if intent == "abandon":
        if rng.random() < 0.4:
            visit.track("Checkout Started", _order(state, cart))
        return cart
    _checkout(state, visit, device_index, cart, campaign)
    return []


def _mobile_ip(state: PersonState) -> str:
    rng = state.rng
    prefix = rng.choice(state.person.market.ip_prefixes)
    return f"{prefix}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def _account_moments(state: PersonState, visit: Visit, device_index: int, intent: str) -> None:
    """Signs up when the person's account is due, or signs in on a device not yet signed in."""
    person, rng = state.person, state.rng
    if not person.account or device_index in state.signed_in:
        return
    if state.user_id is None:
        if intent == "buy" or rng.random() < 0.25:
            sign_up(state, visit, device_index, person.user_ids[0], state.typed_email() or "")
        return
    if len(person.user_ids) > 1 and device_index == 0 and rng.random() < 0.3:
        second = ids.written_email(rng, person.second_email or "")
        sign_up(state, visit, device_index, person.user_ids[1], second)
        return
    if intent == "buy" or rng.random() < 0.35:
        visit.view("Sign In", "/account/login", "Sign in")
        visit.identify(state.user_id, {"email": state.typed_email()})
        visit.track("Signed In", {"method": "email"})
        state.signed_in[device_index] = state.user_id


def sign_up(state: PersonState, visit: Visit, device_index: int, user_id: str, email: str) -> None:
    """Creates a web shop account: the anonymous visitor becomes a known customer."""
    person, rng = state.person, state.rng
    visit.view("Sign Up", "/account/register", "Create account")
    traits: dict[str, Any] = {
        "email": email,
        "firstName": person.name.first,
        "lastName": person.name.last,
        "createdAt": iso(visit.instant),
    }
    if person.phone and rng.random() < 0.6:
        traits["phone"] = ids.any_written_phone(rng, person.market, person.phone)
    if rng.random() < 0.3:
        address = state.household.address
        traits["address"] = {
            "street": address.street,
            "postalCode": address.postcode,
            "city": address.city,
            "country": person.market.country,
        }
    visit.identify(user_id, traits)
    visit.track("Signed Up", {"method": "email", "marketing_opt_in": person.email_opt_in})
    state.signed_in[device_index] = user_id
    if state.user_id is None:
        state.user_id = user_id
    if person.email_opt_in and state.subscribed_from is None:
        state.subscribed_from = visit.instant


def _newsletter(state: PersonState, visit: Visit) -> None:
    """An anonymous visitor leaves an e-mail address in the newsletter form."""
    email = state.typed_email()
    visit.identify_anonymous({"email": email})
    visit.track("Newsletter Subscribed", {"list": "newsletter", "source": "footer"})
    state.subscribed_from = visit.instant


def _browse(state: PersonState, visit: Visit) -> list[int]:
    rng = state.rng
    viewed: list[int] = []
    if visit.web and rng.random() < 0.25:
        query = rng.choice(PRODUCTS[rng.choice(state.favourites)].name.split()).lower()
        visit.view("Search", f"/search?q={query}", f"Search: {query}")
        visit.track("Products Searched", {"query": query})
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
        index = rng.choice(state.favourites) if rng.random() < 0.6 else rng.randrange(len(PRODUCTS))
        props = product_properties(state.person.market, index)
        visit.view(
            "Product", f"/p/{props['sku'].lower()}", props["name"], category=props["category"]
        )
        visit.track("Product Viewed", props)
        viewed.append(index)
    return viewed


def _fill_cart(state: PersonState, visit: Visit, viewed: list[int]) -> list[int]:
    rng = state.rng
    cart = rng.sample(viewed, min(len(viewed), rng.choice((1, 1, 2, 3))))
    for index in cart:
        props = product_properties(state.person.market, index)
        visit.track("Product Added", {**props, "quantity": 1, "cart_id": _cart_id(state)})
    visit.view("Cart", "/cart", "Cart")
    visit.track("Cart Viewed", {"cart_id": _cart_id(state), "products": _lines(state, cart)})
    return cart


def _cart_id(state: PersonState) -> str:
    return f"cart-{state.person.serial}-{state.orders}"


def _lines(state: PersonState, cart: list[int]) -> list[dict[str, Any]]:
    market = state.person.market
    return [
        {k: product_properties(market, i)[k] for k in ("product_id", "sku", "name", "price")}
        | {"quantity": 1}
        for i in cart
    ]


def _order(state: PersonState, cart: list[int]) -> dict[str, Any]:
    """The e-commerce spec's checkout properties for a cart."""
    market = state.person.market
    subtotal = round(sum(product_properties(market, i)["price"] for i in cart), 2)
    shipping_threshold = _FREE_SHIPPING_EUR * market.price_factor
    shipping = 0.0 if subtotal >= shipping_threshold else round(4.95 * market.price_factor, 2)
    tax = round(subtotal * _VAT[market.country] / (1 + _VAT[market.country]), 2)
    return {
        "checkout_id": _cart_id(state),
        "value": subtotal,
        "revenue": subtotal,
        "shipping": shipping,
        "tax": tax,
        "currency": market.currency,
        "products": _lines(state, cart),
    }


def _checkout(
    state: PersonState,
    visit: Visit,
    device_index: int,
    cart: list[int],
    campaign: dict[str, str] | None,
) -> None:
    person = state.person
    if visit.user_id is None and state.user_id is not None:
        visit.identify(state.user_id, {"email": state.typed_email()})
        state.signed_in[device_index] = state.user_id
    visit.view("Checkout", "/checkout", "Checkout")
    checkout = _order(state, cart)
    visit.track("Checkout Started", checkout)
    order_id = f"{person.market.country}{state.next_reference()}"
    total = round(checkout["value"] + checkout["shipping"], 2)
    order = {"order_id": order_id, "total": total, **checkout}
    if visit.user_id is None and person.email:  # guest checkout: the address comes with it
        visit.identify_anonymous(
            {
                "email": state.typed_email(),
                "firstName": person.name.first,
                "lastName": person.name.last,
            }
        )
    if campaign is not None and campaign.get("medium") in ("email", "sms"):
        order["coupon"] = "KERVAN15"
    visit.track("Order Completed", order)
    visit.view("Order Confirmation", "/checkout/confirmation", "Thank you")
