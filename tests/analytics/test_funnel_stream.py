"""The funnel walk's inputs: anchors found through the person index, and the step events
sorted by person, time and event id (funnel_walk.read_stream: a counting sort by person,
then each person's events by insertion, or by two stable sorts for a person with many)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omnicx.analytics.funnel_events import StepEvents
from omnicx.analytics.funnel_walk import STEP_BITS, read_stream
from omnicx.analytics.person_index import PersonIndex, person_index


@pytest.fixture
def db() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    yield connection
    connection.close()


def _people(connection: duckdb.DuckDBPyConnection, rows: list[tuple[int, int]]) -> PersonIndex:
    connection.execute(
        "CREATE OR REPLACE TEMP TABLE known_people (anchor BIGINT, person_key BIGINT)"
    )
    if rows:
        connection.executemany("INSERT INTO known_people VALUES (?, ?)", rows)
    return person_index(connection)


@pytest.mark.parametrize("base", [1, 10**15, -(10**12)], ids=["dense", "sparse", "negative"])
def test_anchors_find_their_person_and_unknown_anchors_none(
    db: duckdb.DuckDBPyConnection, base: int, kernels: str
) -> None:
    # Two anchors of one person (a merge), one of another; the keys are the lake's hashes.
    index = _people(db, [(base, -7), (base + 5, 99), (base + 9, -7)])
    assert index.size == 2
    numbers = index.numbers(np.array([base + 9, base, base + 5, base + 1, base + 10**6]))
    assert list(index.keys[numbers[:3]]) == [-7, -7, 99]
    assert list(numbers[3:]) == [-1, -1]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    owners=st.lists(
        st.one_of(st.integers(-(2**63), 2**63 - 1), st.integers(-3, 3), st.just(2**62)),
        max_size=300,
    )
)
def test_people_are_numbered_densely_one_number_per_key(owners: list[int], kernels: str) -> None:
    connection = duckdb.connect()
    try:
        index = _people(connection, [(anchor, key) for anchor, key in enumerate(owners)])
    finally:
        connection.close()
    assert sorted(index.keys) == sorted(set(owners))  # each key once, numbered 0..n-1
    numbers = index.numbers(np.arange(len(owners) + 2, dtype=np.int64))
    assert [int(index.keys[n]) for n in numbers[: len(owners)]] == owners
    assert list(numbers[len(owners) :]) == [-1, -1]


def test_an_index_without_people_knows_no_anchor(db: duckdb.DuckDBPyConnection) -> None:
    index = _people(db, [])
    assert index.size == 0
    assert list(index.numbers(np.array([1, 2]))) == [-1, -1]


def _events(
    people: PersonIndex, person: list[int], time: list[int], ids: list[int], steps: list[int]
) -> StepEvents:
    size = len(person)
    return StepEvents(
        person=np.array(person, np.int64),
        time=np.array(time, np.int64),
        event_id=np.array(ids, np.int64),
        steps=np.array(steps, np.uint32),
        touch=None,
        breakdown=pa.chunked_array([pa.nulls(size, pa.string())]),
        people=people,
    )


@st.composite
def streams(draw: st.DrawFn) -> tuple[int, list[int], list[int], list[int], list[int]]:
    people = draw(st.integers(1, 9))
    # Up to 120 events, so that one person may have more than the insertion sort takes.
    size = draw(st.integers(0, 120))
    # Times from a few clustered values (ties broken by id) to far apart.
    spread = draw(st.sampled_from([3, 1_000, 2**40, 2**62]))
    person = draw(st.lists(st.integers(0, people - 1), min_size=size, max_size=size))
    time = draw(st.lists(st.integers(-spread, spread), min_size=size, max_size=size))
    ids = draw(st.permutations(range(1, size + 1)))
    steps = draw(st.lists(st.integers(0, 3), min_size=size, max_size=size))
    return people, person, time, list(ids), steps


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=streams(), strict=st.booleans())
def test_the_stream_is_each_persons_sequenced_events_by_time_then_id(
    case: tuple[int, list[int], list[int], list[int], list[int]], strict: bool, kernels: str
) -> None:
    people_count, person, time, ids, steps = case
    keys = np.arange(people_count, dtype=np.int64) * 1000
    people = PersonIndex(keys, np.arange(people_count, dtype=np.int64), np.arange(people_count))
    events = _events(people, person, time, ids, steps)
    touch = [ids[r] % 2 == 0 for r in range(len(person))]  # some other touchpoints
    if strict:
        events = replace(events, touch=np.array(touch, np.bool_))
    stream = read_stream(events, strict=strict)
    sequenced = [r for r in range(len(person)) if steps[r] or (strict and touch[r])]
    expected = sorted(sequenced, key=lambda r: (person[r], time[r], ids[r]))
    assert list(stream.packed >> STEP_BITS) == expected  # the rows
    assert list(stream.time) == [time[r] for r in expected]
    assert list(stream.packed & ((1 << STEP_BITS) - 1)) == [steps[r] for r in expected]
    # Person p's events are at starts[p]:starts[p + 1].
    owners = [p for p in range(people_count) for _ in range(stream.starts[p], stream.starts[p + 1])]
    assert owners == [person[r] for r in expected]
