"""Consent per channel and purpose, from events and from the API, with its history."""

from __future__ import annotations

from sqlalchemy import Engine

from omnicx.profiles import service
from tests.profiles.helpers import Shop, api, identify, token, track


def _in_force(shop: Shop, user_id: str) -> dict[tuple[str, str], bool]:
    return {(c.channel, c.purpose): c.granted for c in shop.profile("user_id", user_id).consents}


def test_opt_in_traits_and_unsubscribes_set_marketing_consent(engine: Engine) -> None:
    shop = Shop(engine)
    shop.send("crm", identify("u-1", traits={"emailOptIn": True, "smsOptIn": "no"}, days=1))
    assert _in_force(shop, "u-1") == {("email", "marketing"): True, ("sms", "marketing"): False}
    shop.send("email", track("Unsubscribed", "u-1", {"campaign_id": "c-9"}, days=3))
    assert _in_force(shop, "u-1")[("email", "marketing")] is False
    # An older opt-in arriving later does not override the newer unsubscribe.
    shop.send("crm", identify("u-1", traits={"emailOptIn": True}, days=2))
    consent = next(c for c in shop.profile("user_id", "u-1").consents if c.channel == "email")
    assert (consent.granted, consent.signal, consent.source) == (
        False,
        "event Unsubscribed",
        "email",
    )
    with engine.connect() as connection:
        history = service.consents(connection, shop.profile_id("user_id", "u-1")).history
    assert [(h.channel, h.granted, h.signal) for h in history] == [
        ("email", True, "traits.emailOptIn"),
        ("sms", False, "traits.smsOptIn"),
        ("email", True, "traits.emailOptIn"),
        ("email", False, "event Unsubscribed"),
    ]
    assert all(h.event_id and h.message_id for h in history)


def test_newsletter_events_and_consent_categories(engine: Engine) -> None:
    shop = Shop(engine)
    preferences = {"consent": {"categoryPreferences": {"Analytics": True, "Advertising": False}}}
    shop.send(
        "web",
        track("Newsletter Subscribed", "u-1", days=1),
        track("Product Viewed", "u-1", days=2, context=preferences),
        track("Product Viewed", "u-1", days=3, context=preferences),
    )
    assert _in_force(shop, "u-1") == {
        ("email", "marketing"): True,
        ("web", "tracking"): True,
        ("web", "advertising"): False,
    }
    with engine.connect() as connection:
        history = service.consents(connection, shop.profile_id("user_id", "u-1")).history
    # The banner's choice comes with every event; only a change is a new signal.
    assert len(history) == 3


def test_consent_through_the_api_is_recorded_with_who_gave_it(
    engine: Engine, database_url: str
) -> None:
    shop = Shop(engine)
    shop.send("crm", identify("u-1", traits={"emailOptIn": False}, days=1))
    profile_id = shop.profile_id("user_id", "u-1")
    with api(database_url) as client:
        answer = client.put(
            f"/api/profiles/{profile_id}/consents",
            json={
                "channel": "email",
                "purpose": "marketing",
                "granted": True,
                "note": "phone call",
            },
            headers=token(engine, "marketer"),
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["consents"] == [
            {
                "channel": "email",
                "purpose": "marketing",
                "granted": True,
                "occurred_at": body["consents"][0]["occurred_at"],
                "signal": "api",
                "source": None,
                "event_id": None,
                "message_id": None,
                "actor": "api:marketer:marketer test",
                "note": "phone call",
            }
        ]
        assert [h["signal"] for h in body["history"]] == ["traits.emailOptIn", "api"]
        reader = token(engine, "analyst")
        read = client.get(f"/api/profiles/{profile_id}/consents", headers=reader)
        assert read.json() == body
        refused = client.put(
            f"/api/profiles/{profile_id}/consents",
            json={"channel": "pigeon", "purpose": "marketing", "granted": True},
            headers=token(engine, "support"),
        )
        assert refused.status_code == 422
        assert refused.json()["code"] == "invalid_consent"
        assert "pigeon" in refused.json()["message"]
        assert (
            client.put(
                f"/api/profiles/{profile_id}/consents",
                json={"channel": "email", "purpose": "marketing", "granted": False},
                headers=reader,
            ).status_code
            == 403
        )
    # A later event still wins over the API's consent.
    shop.send("email", track("Unsubscribed", "u-1", days=400))
    assert _in_force(shop, "u-1")[("email", "marketing")] is False
