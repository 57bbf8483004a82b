"""What the retailer's e-mail and SMS platforms report: deliveries, opens, clicks."""

from __future__ import annotations

from omnicx.demo import identifiers as ids
from omnicx.demo.state import PersonState, Touchpoint
from omnicx.demo.timeline import HOUR, MINUTE

_ESP_LIBRARY = {"name": "kervan-esp-webhooks", "version": "2.3.0"}
_SMS_LIBRARY = {"name": "kervan-sms-gateway", "version": "1.8.2"}


def known_as(state: PersonState, contact: str) -> tuple[str | None, str | None]:
    """(userId, anonymousId) a platform sends: the shop account once there is one, else its own."""
    if state.user_id is not None:
        return state.user_id, None
    return None, contact


def email(
    state: PersonState, instant: float, campaign_id: str, subject: str, open_rate: float
) -> float | None:
    """Delivers an e-mail; maybe opened, maybe clicked. Returns when the link was clicked."""
    rng = state.rng
    if state.esp_contact is None:
        state.esp_contact = f"esp-{rng.getrandbits(64):016x}"
    context = {"traits": {"email": state.typed_email()}, "library": _ESP_LIBRARY}
    esp = Touchpoint(state, "email", *known_as(state, state.esp_contact), context)
    properties = {
        "campaign_id": campaign_id,
        "email_subject": subject,
        "email_id": f"{campaign_id}/{state.person.serial}",
    }
    esp.track(instant, "Email Delivered", properties)
    if rng.random() >= open_rate:
        if rng.random() < 0.004:
            esp.track(instant + HOUR, "Unsubscribed", properties)
            state.subscribed_from = None
        return None
    opened = instant + rng.expovariate(1 / (6 * HOUR))
    esp.track(opened, "Email Opened", properties)
    if rng.random() >= 0.22:
        return None
    clicked = opened + rng.uniform(5, 300)
    link = f"https://{state.person.market.site}/?utm_campaign={campaign_id}"
    esp.track(clicked, "Email Link Clicked", {**properties, "link_url": link})
    return clicked


def sms(state: PersonState, instant: float, campaign_id: str, text: str) -> float | None:
    """Delivers an SMS; sometimes its link is tapped. Returns when."""
    rng, person = state.rng, state.person
    if state.sms_contact is None:
        state.sms_contact = f"sms-{rng.getrandbits(48):012x}"
    phone = ids.e164(person.market, person.phone or "")
    context = {"traits": {"phone": phone}, "library": _SMS_LIBRARY}
    gateway = Touchpoint(state, "sms", *known_as(state, state.sms_contact), context)
    properties = {"campaign_id": campaign_id, "message_body": text}
    gateway.track(instant + rng.uniform(1, 90), "SMS Delivered", properties)
    if rng.random() >= 0.07:
        return None
    tapped = instant + rng.expovariate(1 / (40 * MINUTE))
    gateway.track(tapped, "SMS Link Clicked", properties)
    return tapped
