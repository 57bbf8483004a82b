"""Traits with provenance: the latest value wins, unless a source is trusted first."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from omnicx.profiles import consumer
from omnicx.profiles.settings import ProfileSettingsError, load_text, store
from tests.profiles.helpers import Shop, identify, track


def test_the_latest_value_wins_and_says_where_it_came_from(engine: Engine) -> None:
    shop = Shop(engine)
    shop.send(
        "crm", identify("u-1", traits={"email": "old@example.com", "firstName": "Ada"}, days=5)
    )
    shop.send("web", identify("u-1", traits={"email": "new@example.com"}, days=9))
    # Arrives last but happened first: it loses.
    shop.send("ios", identify("u-1", traits={"email": "oldest@example.com"}, days=1))
    traits = shop.profile("user_id", "u-1").traits
    assert traits["email"].value == "new@example.com"
    assert (traits["email"].source, traits["email"].channel) == ("web", "web")
    assert traits["email"].observed_at.day == 10
    assert traits["email"].message_id.startswith("m-")
    assert traits["firstName"].value == "Ada"
    assert traits["firstName"].source == "crm"


def test_a_trusted_source_wins_over_a_later_one(engine: Engine) -> None:
    shop = Shop(engine)
    shop.send("crm", identify("u-1", traits={"email": "crm@example.com", "city": "Riga"}, days=1))
    shop.send("web", identify("u-1", traits={"email": "web@example.com", "city": "Oslo"}, days=2))
    assert shop.profile("user_id", "u-1").traits["email"].value == "web@example.com"
    with engine.begin() as connection:
        store(connection, '[traits.email]\nsources = ["crm", "web"]\n', name="test")
        assert consumer.rerank_traits(connection) == 1
    traits = shop.profile("user_id", "u-1").traits
    assert traits["email"].value == "crm@example.com"  # existing profiles follow at once
    assert traits["city"].value == "Oslo"  # other traits: still the latest
    shop.send("web", identify("u-1", traits={"email": "web2@example.com"}, days=3))
    shop.send("crm", identify("u-1", traits={"email": "crm2@example.com"}, days=0.5))
    # Among the CRM's own values the latest still wins.
    assert shop.profile("user_id", "u-1").traits["email"].value == "crm@example.com"


def test_a_default_priority_applies_to_traits_without_their_own(engine: Engine) -> None:
    shop = Shop(engine)
    with engine.begin() as connection:
        store(
            connection,
            '[traits."*"]\nsources = ["crm"]\n[traits.nickname]\nsources = []\n',
            name="test",
        )
    shop.send("crm", identify("u-1", traits={"city": "Riga", "nickname": "a"}, days=1))
    shop.send("web", identify("u-1", traits={"city": "Oslo", "nickname": "b"}, days=2))
    traits = shop.profile("user_id", "u-1").traits
    assert (traits["city"].value, traits["nickname"].value) == ("Riga", "b")


def test_context_traits_count_and_group_traits_do_not(engine: Engine) -> None:
    shop = Shop(engine)
    shop.send(
        "email",
        track(
            "Email Opened",
            "u-1",
            context={"traits": {"email": "ctx@example.com", "plan": "gold"}},
            days=1,
        ),
        {
            "type": "group",
            "messageId": "g-1",
            "userId": "u-1",
            "groupId": "acme",
            "traits": {"plan": "enterprise", "name": "Acme"},
            "timestamp": "2026-01-05T00:00:00Z",
        },
        identify(
            "u-1",
            traits={"plan": "silver", "nothing": None},
            context={"traits": {"plan": "ignored"}},
            days=2,
        ),
    )
    traits = shop.profile("user_id", "u-1").traits
    assert traits["email"].value == "ctx@example.com"
    assert traits["email"].channel == "email"
    assert traits["plan"].value == "silver"  # the identify's own traits outrank its context
    assert "name" not in traits and "nothing" not in traits


def test_trait_values_keep_their_json_type(engine: Engine) -> None:
    shop = Shop(engine)
    address = {"city": "Istanbul", "country": "TR"}
    shop.send("web", identify("u-1", traits={"age": 42, "vip": True, "address": address}))
    traits = shop.profile("user_id", "u-1").traits
    assert (traits["age"].value, traits["vip"].value, traits["address"].value) == (
        42,
        True,
        address,
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[traits.email]\nsource = ['crm']\n", "traits.email.source"),
        ("[traits.email]\nsources = 'crm'\n", "traits.email.sources"),
        ("[traits.email]\nsources = ['crm', 'crm']\n", "listed twice"),
        ("colour = 1\n", "unknown setting"),
        ("[traits\n", "not valid TOML"),
    ],
)
def test_settings_name_the_bad_key(text: str, problem: str) -> None:
    with pytest.raises(ProfileSettingsError, match=problem):
        load_text(text)
