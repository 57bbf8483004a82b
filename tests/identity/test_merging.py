"""Merge rules, guard rails, the merge log and unmerge, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from omnicx.identity import service
from tests.identity.helpers import configure, feed, partition, profile_of, sighting

U1, U2 = ("user_id", "u-1"), ("user_id", "u-2")
A1, A2, A3 = ("anonymous_id", "a-1"), ("anonymous_id", "a-2"), ("anonymous_id", "a-3")
E1 = ("email", "ada@example.com")
CARD = ("loyalty_card", "71000004318")


def test_a_journey_across_channels_ends_in_one_profile(engine: Engine) -> None:
    feed(
        engine,
        [
            sighting(1, 0, A1),  # anonymous browsing on the web
            sighting(2, 5, A1, U1),  # signs up
            sighting(3, 60, A2),  # the app, anonymous
            sighting(4, 61, A2, U1),  # logs in in the app
            sighting(5, 120, CARD, E1),  # pays in store with the card, e-receipt by e-mail
            sighting(6, 130, U1, E1),  # the account's e-mail
            sighting(7, 200, E1),  # clicks an e-mail
        ],
        batch=1,  # event by event, as a live stream: existing profiles merge
    )
    assert partition(engine) == {frozenset({A1, A2, U1, E1, CARD})}
    with engine.connect() as connection:
        profile = service.lookup(connection, "email", "  ADA@Example.com ")
        assert service.lookup(connection, "loyalty_card", "7100-0004-318") == profile
        merges = [c for c in service.changes_of(connection, profile) if c.kind == "merged"]
    # Every join of two existing profiles is logged with the identifier and event that did it.
    assert merges
    assert all(m.event_id is not None and m.identifier is not None for m in merges)


def test_two_user_ids_never_share_a_profile(engine: Engine) -> None:
    feed(engine, [sighting(1, 0, A1, U1), sighting(2, 10, A1, U2)])
    assert partition(engine) == {frozenset({A1, U1}), frozenset({U2})}
    with engine.connect() as connection:
        conflicts = service.conflicts_of(connection, service.lookup(connection, *U1))
    assert [(c.identifier, c.anchor, c.reason) for c in conflicts] == [(A1, U2, "limit")]
    assert "user_id: at most 1 per profile" in conflicts[0].detail


def test_a_higher_priority_identifier_keeps_its_profile_and_drops_the_rest(engine: Engine) -> None:
    # e-mail belongs to u-1's profile; an event with u-2 and that e-mail must not move it.
    feed(engine, [sighting(1, 0, U1, E1), sighting(2, 10, U2, E1, A3)])
    assert partition(engine) == {frozenset({U1, E1}), frozenset({U2, A3})}


def test_limits_per_type_are_configurable(engine: Engine) -> None:
    configure(engine, "[identifiers.anonymous_id]\nlimit = 2\n")
    feed(engine, [sighting(1, 0, U1, A1), sighting(2, 1, U1, A2), sighting(3, 2, U1, A3)])
    assert partition(engine) == {frozenset({U1, A1, A2}), frozenset({A3})}


def test_a_limit_with_a_window_counts_only_recent_values(engine: Engine) -> None:
    configure(engine, "[identifiers.anonymous_id]\nlimit = 1\nwindow_days = 1\n")
    day = 24 * 60
    feed(
        engine,
        [
            sighting(1, 0, A1),
            sighting(2, 1, U1, A1),
            sighting(3, 2 * day, A2),
            sighting(4, 2 * day + 1, U1, A2),  # a day later: allowed
            sighting(5, 2 * day + 2, A3),
            sighting(6, 2 * day + 3, U1, A3),  # same day as a-2: refused
        ],
    )
    assert partition(engine) == {frozenset({U1, A1, A2}), frozenset({A3})}


@pytest.mark.parametrize("value", ["null", "undefined", "anonymous", "-1", "0", "0000-0000"])
def test_blocked_values_never_reach_the_graph(engine: Engine, value: str) -> None:
    from omnicx.identity.config import default_config
    from omnicx.identity.extract import Extractor

    extractor = Extractor(default_config())
    found = extractor.extract({"userId": value, "anonymousId": "a-1"}, "web")
    assert found.identifiers == (A1,)
    assert found.blocked == 1


def test_an_identifier_seen_with_too_many_people_is_shared_and_links_nothing(
    engine: Engine,
) -> None:
    configure(engine, "[blocked]\nmax_people = 2\n")
    tablet = ("device_id", "store-tablet")
    feed(engine, [sighting(1, 0, tablet, U1), sighting(2, 1, tablet, ("email", "b@x.org"))])
    assert partition(engine) == {frozenset({tablet, U1, ("email", "b@x.org")})}
    # Two more people on the same tablet: it is shared now, and what it joined comes apart.
    feed(engine, [sighting(3, 2, tablet, U2), sighting(4, 3, tablet, ("user_id", "u-3"))])
    assert partition(engine) == {
        frozenset({U1}),
        frozenset({U2}),
        frozenset({("user_id", "u-3")}),
        frozenset({("email", "b@x.org")}),
    }
    with engine.connect() as connection:
        with pytest.raises(service.IdentityError) as error:
            service.lookup(connection, "device_id", "store-tablet")
        assert error.value.code == "shared"
        shared = [c for c in service.changes_since(connection, 0) if c.kind == "shared"]
    assert [c.identifier for c in shared] == [tablet]


def test_unmerge_splits_the_profile_back_and_keeps_it_apart(engine: Engine) -> None:
    feed(engine, [sighting(1, 0, U1, A1), sighting(2, 5, E1, A2), sighting(3, 10, A1, A2)], batch=1)
    assert partition(engine) == {frozenset({U1, A1, E1, A2})}
    before = profile_of(engine, *U1)
    with engine.connect() as connection:
        (merge,) = [c for c in service.changes_of(connection, before) if c.kind == "merged"]
    assert merge.event_id == 3
    with engine.begin() as connection:
        result = service.unmerge(connection, merge.id, actor="test")
    assert partition(engine) == {frozenset({U1, A1}), frozenset({E1, A2})}
    # The merged-away profile gets its old id back.
    assert profile_of(engine, *E1) == merge.other_profile_id == result.restored_profile_id
    assert profile_of(engine, *U1) == merge.profile_id
    # A later event joining them again is refused and recorded as a conflict.
    feed(engine, [sighting(4, 20, A1, A2)])
    assert partition(engine) == {frozenset({U1, A1}), frozenset({E1, A2})}
    kept = profile_of(engine, *U1)
    with engine.connect() as connection:
        reasons = {c.reason for c in service.conflicts_of(connection, kept)}
        log = service.changes_of(connection, kept)
        with pytest.raises(service.IdentityError) as error:
            service.unmerge(connection, merge.id, actor="test")
    assert reasons == {"separated"}
    assert [c.kind for c in log if c.kind == "unmerged"] == ["unmerged"]
    assert error.value.code == "already_undone"


def test_a_late_event_gives_the_same_profiles_as_in_order(engine: Engine) -> None:
    configure(engine, "[identifiers.anonymous_id]\nlimit = 1\n")
    in_order = [sighting(1, 0, U1, A1), sighting(2, 10, U1, A2)]
    feed(engine, list(reversed(in_order)), batch=1)
    # u-1 took a-1 first in event time, so a-2 is the one left out, whatever came first.
    assert partition(engine) == {frozenset({U1, A1}), frozenset({A2})}


def test_a_late_event_inside_one_profile_can_change_what_happened_after_it(
    engine: Engine,
) -> None:
    configure(engine, "[identifiers.anonymous_id]\nlimit = 1\n")
    feed(engine, [sighting(2, 10, U1, E1), sighting(3, 20, E1, A1), sighting(4, 30, U1, A2)])
    assert partition(engine) == {frozenset({U1, E1, A1}), frozenset({A2})}
    feed(engine, [sighting(1, 0, U1, A2)])  # u-1 had a-2 before anything else
    assert partition(engine) == {frozenset({U1, E1, A2}), frozenset({A1})}


def test_reprocessing_a_batch_changes_nothing(engine: Engine) -> None:
    batch = [sighting(1, 0, U1, A1), sighting(2, 5, A1, E1)]
    feed(engine, batch)
    first = partition(engine)
    feed(engine, batch)
    assert partition(engine) == first


def test_lookup_errors_say_what_is_wrong(engine: Engine) -> None:
    with engine.connect() as connection:
        for type_name, value, code in [
            ("shoe_size", "42", "unknown_type"),
            ("email", "not-an-address", "invalid_value"),
            ("user_id", "null", "blocked_value"),
            ("email", "nobody@example.com", "not_found"),
        ]:
            with pytest.raises(service.IdentityError) as error:
                service.lookup(connection, type_name, value)
            assert error.value.code == code, (type_name, value)


def test_a_device_that_does_not_bridge_never_joins_two_known_people(engine: Engine) -> None:
    configure(
        engine,
        "[identifiers.device_id]\nbridges = false\n[identifiers.anonymous_id]\nbridges = false\n",
    )
    ipad = ("device_id", "family-ipad")
    phone = ("phone", "+31612345678")
    feed(
        engine,
        [
            sighting(1, 0, ipad, A1),  # anonymous use: fine
            sighting(2, 1, ipad, U1),  # one parent logs in: the iPad joins them
            sighting(3, 2, E1, phone),  # the other parent, known by e-mail and phone
            sighting(4, 3, ipad, E1),  # types that e-mail on the iPad: refused
        ],
        batch=1,
    )
    assert partition(engine) == {frozenset({ipad, A1, U1}), frozenset({E1, phone})}
    with engine.connect() as connection:
        conflicts = service.conflicts_of(connection, service.lookup(connection, *E1))
    assert {(c.identifier, c.reason) for c in conflicts} == {(ipad, "bridge")}
