"""Property: the profiles depend on the events, not on the order or batches they came in.

Any permutation of the same events, cut into batches of any size, gives the same partition of
identifiers into profiles as replaying the resolution rule once over all of them in event
time; and a rebuild from the raw observations gives it again.
"""

from __future__ import annotations

import os
from datetime import datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from omnicx.identity import graph
from omnicx.identity.config import IdentityConfig, default_config, load_text
from omnicx.identity.resolve import Evidence, Known, resolve
from tests.identity.helpers import at, clear, configure, feed, partition

UNIVERSE = (
    [("user_id", f"u{i}") for i in range(3)]
    + [("email", f"e{i}@x.org") for i in range(3)]
    + [("anonymous_id", f"a{i}") for i in range(4)]
    + [("loyalty_card", f"{i}00") for i in range(2)]
    + [("device_id", f"d{i}") for i in range(2)]
)
SETTINGS = [
    "",
    "[identifiers.anonymous_id]\nlimit = 1\n",
    "[identifiers.email]\nlimit = 1\n[identifiers.anonymous_id]\nlimit = 2\n",
    "[blocked]\nmax_people = 1\n",
    "[identifiers.loyalty_card]\nlimit = 1\n[blocked]\nmax_people = 1\n",
    "[identifiers.anonymous_id]\nlimit = 1\nwindow_days = 1\n",
    "[identifiers.device_id]\nbridges = false\n[identifiers.anonymous_id]\nbridges = false\n",
]

events_strategy = st.lists(
    st.tuples(
        st.integers(0, 3000),  # minutes: about two days, so windows matter
        st.sets(st.sampled_from(UNIVERSE), min_size=1, max_size=3),
    ),
    min_size=1,
    max_size=14,
)

Ident = tuple[str, str]


def expected_partition(
    config: IdentityConfig, events: list[tuple[int, set[Ident]]]
) -> set[frozenset[Ident]]:
    """The rule replayed once over everything, with shared identifiers left out."""
    person_keys = {i for i in UNIVERSE if config.types[i[0]].is_person_key}
    seen_with: dict[tuple[Ident, str], set[Ident]] = {}
    for _, ids in events:
        for key in ids & person_keys:
            for other in ids - {key}:
                seen_with.setdefault((other, key[0]), set()).add(key)
    shared = {i for (i, _), keys in seen_with.items() if len(keys) > config.max_people}
    numbers = {ident: n for n, ident in enumerate(UNIVERSE)}
    first_seen: dict[Ident, datetime] = {}
    for minutes, ids in events:
        for ident in ids:
            first_seen[ident] = min(first_seen.get(ident, at(minutes)), at(minutes))
    known = {numbers[i]: Known(i[0], i[1], first_seen[i]) for i in first_seen if i not in shared}
    evidence = [
        Evidence(at(minutes), order, order, tuple(numbers[i] for i in ids))
        for order, (minutes, ids) in enumerate(events)
        if len(ids) > 1
    ]
    resolution = resolve(config, known, evidence)
    return {frozenset(UNIVERSE[n] for n in group) for group in resolution.profiles}


@settings(
    max_examples=int(os.environ.get("OMNICX_PROPERTY_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    events=events_strategy,
    settings_text=st.sampled_from(SETTINGS),
    data=st.data(),
)
def test_any_arrival_order_gives_the_same_profiles(
    engine: Engine, events: list[tuple[int, set[Ident]]], settings_text: str, data: st.DataObject
) -> None:
    clear(engine)
    config = configure(engine, settings_text) if settings_text else default_config()
    arrival = data.draw(st.permutations(range(len(events))), label="arrival order")
    batch = data.draw(st.integers(1, len(events)), label="batch size")
    # Stream positions follow arrival; the order key belongs to the event itself.
    sightings = [
        graph.Sighting(position + 1, at(events[n][0]), n, tuple(events[n][1]))
        for position, n in enumerate(arrival)
    ]
    feed(engine, sightings, batch=batch)
    assert partition(engine) == expected_partition(config, events)


def test_the_reference_is_itself_order_free() -> None:
    config = load_text("[identifiers.anonymous_id]\nlimit = 1\n")
    events = [(10, {UNIVERSE[0], UNIVERSE[6]}), (5, {UNIVERSE[0], UNIVERSE[7]})]
    assert expected_partition(config, events) == expected_partition(config, events[::-1])
    assert expected_partition(config, events) == {
        frozenset({UNIVERSE[0], UNIVERSE[7]}),
        frozenset({UNIVERSE[6]}),
    }
