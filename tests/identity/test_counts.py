"""Counting customer profiles (identity.counts), on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import Engine

from omnicx.identity.counts import count_profiles
from tests.profiles.helpers import Shop, identify, track


def test_counts_the_profiles_identifiers_belong_to(engine: Engine) -> None:
    with engine.connect() as connection:
        assert count_profiles(connection) == 0
    shop = Shop(engine)
    shop.send("web", identify("u1"), identify("u2"), track("Viewed", anonymous_id="a1"))
    with engine.connect() as connection:
        assert count_profiles(connection) == 3
    # The visitor signs in: two profiles merge into one.
    shop.send("web", track("Signed In", "u1", anonymous_id="a1"))
    with engine.connect() as connection:
        assert count_profiles(connection) == 2
