"""Re-attribution: merges combine profiles, unmerges split them back, rebuilds start again,
and the incremental path always equals a recompute from the events."""

from __future__ import annotations

import random
from typing import Any

import pytest
from sqlalchemy import Engine, select

from omnicx.collect.processing import checkpoint, reset
from omnicx.identity import service as identity
from omnicx.profiles import consumer
from omnicx.profiles import repository as repo
from omnicx.profiles.tables import profile_consents, profile_stats, profile_traits
from tests.profiles.helpers import Shop, api, identify, page, token, track

CART = {"product_id": "p-1", "name": "Lamp", "price": 30.0}


def derived(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every derived row (traits, computed traits, consents), comparable."""
    with engine.connect() as connection:
        return {
            table.name: sorted(
                tuple(v for k, v in row._mapping.items() if k != "updated_at")
                for row in connection.execute(select(table))
            )
            for table in (profile_traits, profile_stats, profile_consents)
        }


def recomputed(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """The derived rows a recompute of every profile from its events gives."""
    with engine.begin() as connection:
        position = checkpoint(connection, consumer.CONSUMER_NAME)
        profiles = [
            p for group in identity.partition(connection) for p in [_profile(connection, group)]
        ]
        everyone = set(profiles) | set(
            connection.execute(select(profile_stats.c.profile_id)).scalars()
        )
        consumer.recompute(connection, everyone, bound=position, sources=consumer.SourceNames())
    return derived(engine)


def _profile(connection: Any, group: frozenset[tuple[str, str]]) -> str:
    type_name, value = next(iter(group))
    return identity.lookup(connection, type_name, value)


def _two_people(shop: Shop) -> None:
    shop.send(
        "web",
        page("Home", anonymous_id="a-1", days=1),
        track("Product Added", None, CART, anonymous_id="a-1", days=1.1),
        identify(None, "a-1", {"firstName": "Ada", "city": "Izmir"}, days=1.2),
    )
    shop.send(
        "crm",
        identify(
            "u-1", traits={"email": "ada@example.com", "emailOptIn": True, "city": "Ankara"}, days=2
        ),
    )
    shop.send(
        "store_pos",
        track("Order Completed", "u-1", {"order_id": "R-1", "total": 80}, days=0.5),
    )


def test_merge_combines_and_unmerge_splits_back_exactly(engine: Engine, database_url: str) -> None:
    shop = Shop(engine)
    _two_people(shop)
    anonymous = shop.profile("anonymous_id", "a-1")
    known = shop.profile("user_id", "u-1")
    assert anonymous.id != known.id
    with api(database_url) as client:
        # A consent given to the anonymous profile follows it through the merge and back.
        given = client.put(
            f"/api/profiles/{anonymous.id}/consents",
            json={"channel": "sms", "purpose": "marketing", "granted": True},
            headers=token(engine, "support"),
        )
        assert given.status_code == 200
    anonymous = shop.profile("anonymous_id", "a-1")

    shop.send("web", identify("u-1", "a-1", {"lastName": "Lovelace"}, days=3))  # signs in
    merged = shop.profile("user_id", "u-1")
    assert shop.profile("anonymous_id", "a-1").id == merged.id
    assert set(merged.identities) == {"user_id", "email", "anonymous_id"}
    computed = merged.computed
    assert computed.events == anonymous.computed.events + known.computed.events + 1
    assert computed.channels == {"web": 4, "crm": 1, "store_pos": 1}
    assert computed.orders == 1 and computed.lifetime_value == 80
    assert computed.open_cart is not None  # the lamp was added after the till order
    assert computed.first_seen_at == known.computed.first_seen_at
    traits = {name: t.value for name, t in merged.traits.items()}
    assert traits["firstName"] == "Ada" and traits["lastName"] == "Lovelace"
    assert traits["city"] == "Ankara"  # the later value of the two
    consents = {(c.channel, c.purpose): c.granted for c in merged.consents}
    assert consents == {("email", "marketing"): True, ("sms", "marketing"): True}
    assert derived(engine) == recomputed(engine)

    with api(database_url) as client:
        headers = token(engine, "support")
        changes = client.get(f"/api/profiles/{merged.id}/merges", headers=headers).json()
        merge = next(c for c in changes if c["kind"] == "merged")
        answer = client.post(f"/api/identity/changes/{merge['id']}/unmerge", headers=headers)
        assert answer.status_code == 200, answer.text
        again = client.post(f"/api/identity/changes/{merge['id']}/unmerge", headers=headers)
        assert (again.status_code, again.json()["code"]) == (409, "already_undone")
        missing = client.post("/api/identity/changes/999999/unmerge", headers=headers)
        assert (missing.status_code, missing.json()["code"]) == (404, "not_found")

    # Applied at once, without waiting for new events. (The anonymous id was last seen in
    # the sign-in, so only its last_seen_at differs.)
    restored = shop.profile("anonymous_id", "a-1")
    assert restored.model_copy(update={"identities": anonymous.identities}) == anonymous
    after = shop.profile("user_id", "u-1")
    assert after.id == known.id
    assert after.computed.events == known.computed.events + 1  # the sign-in stays with u-1
    assert {n: t.value for n, t in after.traits.items()} == {
        **{n: t.value for n, t in known.traits.items()},
        "lastName": "Lovelace",
    }
    assert after.consents == known.consents
    assert derived(engine) == recomputed(engine)


def _random_history(
    seed: int, people: int = 12, events: int = 240
) -> list[tuple[str, dict[str, Any]]]:
    rng = random.Random(seed)
    messages: list[tuple[str, dict[str, Any]]] = []
    for _ in range(events):
        person = rng.randrange(people)
        device = f"a-{person}-{rng.randrange(3)}"
        user = f"u-{person}" if rng.random() < 0.4 else None
        days = rng.uniform(0, 200)
        source = rng.choice(["web", "ios", "email", "crm", "store_pos"])
        roll = rng.random()
        if roll < 0.2:
            traits: dict[str, Any] = {"city": rng.choice(["Riga", "Oslo", "Bursa"])}
            if rng.random() < 0.5:
                traits["email"] = f"p{person}@example.com"
            if rng.random() < 0.3:
                traits["emailOptIn"] = rng.random() < 0.5
            message = identify(user, device, traits, days=days)
        elif roll < 0.35:
            message = track(
                "Product Added",
                user,
                {**CART, "product_id": f"p-{rng.randrange(4)}"},
                anonymous_id=device,
                days=days,
            )
        elif roll < 0.45:
            message = track(
                "Order Completed",
                user,
                {"revenue": rng.randrange(1, 300)},
                anonymous_id=device,
                days=days,
            )
        elif roll < 0.5:
            message = track("Unsubscribed", user, anonymous_id=device, days=days)
        else:
            message = page("Home", user, anonymous_id=device, days=days)
        messages.append((source, message))
    return messages


@pytest.mark.parametrize("batch_size", [10, 60])
def test_batches_of_any_size_give_what_a_recompute_gives(engine: Engine, batch_size: int) -> None:
    shop = Shop(engine)
    history = _random_history(seed=batch_size, events=150)
    for start in range(0, len(history), 50):
        shop.send_all(history[start : start + 50], process=False)
        shop.process(batch_size=batch_size)
    assert derived(engine)["profile_stats"]
    assert derived(engine) == recomputed(engine)


def test_a_rebuild_or_a_reset_starts_again_and_ends_the_same(engine: Engine) -> None:
    shop = Shop(engine)
    shop.send_all(_random_history(seed=7, events=80), process=False)
    shop.process(batch_size=25)
    before = derived(engine)
    with engine.begin() as connection:
        identity.rebuild(connection, downstream=[consumer.CONSUMER_NAME], actor="test")
    shop.process(batch_size=25)
    assert derived(engine) == before
    with engine.begin() as connection:
        reset(connection, [consumer.CONSUMER_NAME])
    shop.process(batch_size=25)
    assert derived(engine) == before
    # A rebuild that leaves the builder where it is: it starts again on its next batch.
    with engine.begin() as connection:
        identity.rebuild(connection, actor="test")
    shop.send("web", page("Home", "u-1", days=300))
    assert derived(engine) == recomputed(engine)
    with engine.connect() as connection:
        assert repo.positions(connection)[repo.EVENTS] == checkpoint(
            connection, consumer.CONSUMER_NAME
        )
