"""Links made by a person or an accepted match: they merge through the same rules, are logged,
can be undone, outlive a rebuild; the review queue."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from omnicx.collect.processing import process_available
from omnicx.identity import links, service
from omnicx.identity.consumer import IdentityResolution
from tests.identity.helpers import feed, partition, profile_of, sighting

U1, U2 = ("user_id", "u-1"), ("user_id", "u-2")
E1, E2 = ("email", "ada@example.com"), ("email", "bob@example.com")
CARD = ("loyalty_card", "4400")


def test_a_link_merges_two_profiles_and_is_logged(engine: Engine) -> None:
    feed(engine, [sighting(1, 0, U1, E1), sighting(2, 5, CARD)])
    with engine.begin() as connection:
        done = links.link_profiles(
            connection,
            service.lookup(connection, *E1),
            service.lookup(connection, *CARD),
            reason="store list matched by name and birth date (p=0.991)",
            actor="test",
            probability=0.991,
        )
    assert done.joined
    assert partition(engine) == {frozenset({U1, E1, CARD})}
    with engine.connect() as connection:
        [merge] = [
            c for c in service.changes_of(connection, done.profile_ids[0]) if c.kind == "merged"
        ]
    assert merge.rule.startswith("store list matched")
    assert merge.actor == "test"
    # Undone like any merge.
    with engine.begin() as connection:
        service.unmerge(connection, merge.id, actor="test")
    assert partition(engine) == {frozenset({U1, E1}), frozenset({CARD})}


def test_a_link_cannot_break_a_limit(engine: Engine) -> None:
    feed(engine, [sighting(1, 0, U1, E1), sighting(2, 5, U2, E2)])
    with engine.begin() as connection:
        done = links.link_profiles(
            connection,
            service.lookup(connection, *U1),
            service.lookup(connection, *U2),
            reason="by hand",
            actor="test",
        )
    assert not done.joined
    assert partition(engine) == {frozenset({U1, E1}), frozenset({U2, E2})}


def test_links_outlive_a_rebuild(engine: Engine) -> None:
    from tests.collect.helpers import add_source, basic, running_app

    key = add_source(engine)
    batch = [
        {"type": "identify", "userId": "u-1", "traits": {"email": "ada@example.com"}},
        {"type": "track", "event": "Order Completed", "anonymousId": "till-9",
         "context": {"traits": {"loyaltyCard": "4400"}}},
    ]  # fmt: skip
    url = engine.url.render_as_string(hide_password=False)
    with running_app(url, run_processing=False) as client:
        assert (
            client.post("/v1/batch", json={"batch": batch}, headers=basic(key)).status_code == 200
        )
    process_available(engine, [IdentityResolution()])
    with engine.begin() as connection:
        links.link_profiles(
            connection,
            service.lookup(connection, *E1),
            service.lookup(connection, *CARD),
            reason="by hand",
            actor="test",
        )
    before = partition(engine)
    assert frozenset({U1, E1, CARD, ("anonymous_id", "till-9")}) in before
    with engine.begin() as connection:
        service.rebuild(connection, actor="test")
    process_available(engine, [IdentityResolution()])
    assert partition(engine) == before


def test_the_review_queue(engine: Engine) -> None:
    feed(engine, [sighting(1, 0, E1), sighting(2, 5, CARD), sighting(3, 6, E2)])
    ada, card, bob = (profile_of(engine, *i) for i in (E1, CARD, E2))
    with engine.begin() as connection:
        added = links.queue_for_review(
            connection,
            [
                (ada, card, 0.93, {"name": ["Ada", "ADA"]}),
                (bob, card, 0.81, {}),
                (card, ada, 0.93, {}),
            ],
        )
        assert added == 2  # the same pair either way round is one review
        queue = links.reviews(connection)
    assert [(r.probability, r.status) for r in queue] == [(0.93, "pending"), (0.81, "pending")]
    with engine.begin() as connection:
        accepted = links.decide(connection, queue[0].id, accept=True, actor="test")
        rejected = links.decide(connection, queue[1].id, accept=False, actor="test")
        with pytest.raises(links.LinkError) as error:
            links.decide(connection, queue[1].id, accept=True, actor="test")
    assert (accepted.status, rejected.status) == ("accepted", "rejected")
    assert error.value.code == "already_decided"
    assert partition(engine) == {frozenset({E1, CARD}), frozenset({E2})}
