"""The DuckDB batch evaluator (audiences.batch_sql) gives `evaluate`'s answer for every person
and every segment: on random definitions and people (the strategies of
test_evaluate_reference), on random values of every kind under every operator, on computed
traits, on the 100 benchmark segments, and on hand-picked edges."""

from __future__ import annotations

import json
import math
import random
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

from omnicx.audiences import (
    COMPUTED_TRAITS,
    Definition,
    EventFact,
    PersonFacts,
    evaluate,
    event_conditions,
    event_times,
    parse_definition,
)
from omnicx.audiences.batch_sql import (
    HITS_SCHEMA,
    PEOPLE_SCHEMA,
    compile_segments,
    evaluate_batch,
    evaluate_batch_arrow,
    facts_to_arrow,
    members_of,
    register_functions,
)
from omnicx.audiences.definition import AllOf, ComputedCondition, TraitCondition
from omnicx.audiences.values import KIND_OPS, TRAIT_OPS
from tests.audiences import reference_evaluate as ref
from tests.audiences.test_evaluate import MISSING, OPERATORS
from tests.audiences.test_evaluate_reference import DEFINITIONS, NOW, TIMED, people

DB = duckdb.connect()
DB.execute("SET threads = 2")

MANY = settings(
    deadline=None,
    max_examples=400,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
T0 = datetime(2026, 3, 2, tzinfo=UTC)


def expected_members(
    definitions: Sequence[tuple[str, Definition]], facts: Mapping[str, PersonFacts], now: datetime
) -> dict[str, set[str]]:
    """`evaluate` segment by segment, each seeing the answers of the ones before it."""
    keys = {key for key, _ in definitions}
    found: dict[str, set[str]] = {key: set() for key in keys}
    for person_id, person in facts.items():
        held = set(person.memberships) - keys
        for key, definition in definitions:
            if evaluate(definition, replace(person, memberships=frozenset(held)), now):
                held.add(key)
                found[key].add(person_id)
    return found


def batch_members(
    definitions: Sequence[tuple[str, Definition]], facts: Mapping[str, PersonFacts], now: datetime
) -> dict[str, set[str]]:
    keys = {key for key, _ in definitions}
    # Memberships in the table are of segments outside the run (batch_sql's schema).
    outside = {p: replace(f, memberships=f.memberships - keys) for p, f in facts.items()}
    people_table, hits_table = facts_to_arrow(outside)
    return evaluate_batch(DB, people_table, hits_table, definitions, now)


def assert_same(
    definitions: Sequence[tuple[str, Definition]], facts: Mapping[str, PersonFacts], now: datetime
) -> None:
    expected = expected_members(definitions, facts, now)
    found = batch_members(definitions, facts, now)
    for key, _ in definitions:
        wrong = found[key] ^ expected[key]
        assert not wrong, (key, {p: (p in expected[key], facts[p]) for p in sorted(wrong)})


def with_events(definitions: Sequence[Definition], person: ref.RawPerson) -> PersonFacts:
    events = [EventFact(e.name, e.ts, e.channel, e.properties) for e in person.events]
    return PersonFacts(
        traits=person.traits,
        computed=person.computed,
        identities=person.identities,
        consents=person.consents,
        memberships=frozenset(person.memberships),
        events=event_times(AllOf(all=tuple(definitions)), events),
    )


def renamed(document: Any, allowed: set[str]) -> Any:
    """The document with references to run segments not before it pointed elsewhere."""
    if isinstance(document, dict):
        if "segment" in document and document["segment"] not in allowed:
            return {**document, "segment": "gold"}
        return {k: renamed(v, allowed) for k, v in document.items()}
    if isinstance(document, list):
        return [renamed(v, allowed) for v in document]
    return document


def runs(documents: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[list[tuple[str, Any]]]:
    """1-4 definitions; some are the segments "vip" and "lapsed" that others refer to (the
    strategies' segment conditions name those), the rest read memberships."""
    # Strategies built once, not in each draw: building them inside a draw validates them
    # anew every time, which cost more than the test's own work.
    return _runs(st.lists(documents, min_size=1, max_size=4))


NAMED_ORDERS = st.permutations(["vip", "lapsed"])


@st.composite
def _runs(draw: st.DrawFn, lists: st.SearchStrategy[list[Any]]) -> list[tuple[str, Any]]:
    found = draw(lists)
    named = draw(NAMED_ORDERS)[: draw(st.integers(0, 2))]
    keys = [*named, *(f"s{i}" for i in range(len(found)))][: len(found)]
    run: list[tuple[str, Any]] = []
    for i, (key, document) in enumerate(zip(keys, found, strict=True)):
        # "gold" is never in the run: references that would come too early go there.
        allowed = set(keys[:i]) | ({"vip", "lapsed"} - set(keys))
        run.append((key, renamed(document, allowed)))
    return run


def check_runs(
    run: list[tuple[str, Any]], persons: list[ref.RawPerson], now: datetime, memberships: Any
) -> None:
    definitions = [(key, parse_definition(document)) for key, document in run]
    note(f"definitions: {run}")
    facts = {}
    for i, person in enumerate(persons):
        person.memberships |= memberships[i % len(memberships)]
        facts[f"p{i}"] = with_events([d for _, d in definitions], person)
    assert_same(definitions, facts, now)


@pytest.mark.slow
@MANY
@given(
    run=runs(DEFINITIONS),
    persons=st.lists(people(), min_size=1, max_size=12),
    now=NOW,
    memberships=st.lists(
        st.sets(st.sampled_from(["gold", "vip", "lapsed"])), min_size=1, max_size=3
    ),
)
def test_random_definitions_agree_with_evaluate(
    run: list[tuple[str, Any]], persons: list[ref.RawPerson], now: datetime, memberships: Any
) -> None:
    check_runs(run, persons, now, memberships)


@pytest.mark.slow
@MANY
@given(
    run=runs(TIMED),
    persons=st.lists(people(), min_size=1, max_size=12),
    now=NOW,
    recent=st.lists(st.tuples(st.sampled_from(["A", "B"]), st.integers(-80, 8)), max_size=8),
)
def test_windows_and_counts_agree_with_evaluate(
    run: list[tuple[str, Any]],
    persons: list[ref.RawPerson],
    now: datetime,
    recent: list[tuple[str, int]],
) -> None:
    # Events on the hour around `now`, some still to come: windows' edges fall on them.
    for person in persons:
        person.events += [ref.RawEvent(n, now + timedelta(hours=h), "web") for n, h in recent]
    check_runs(run, persons, now, [set()])


# Values of every kind a trait can hold, and operands of every kind a condition can have.
TEXTS = st.one_of(
    st.sampled_from(
        [
            "Ankara", "ANKARA", "İzmir", "i̇zmir", "izmir", "Straße", "STRASSE", "ss", "ß",
            "\u212a", "k", "ǅ", "ﬁ", "Σ", "ς", "", " ", "30", " 30 ", "\u00a030.5\u2003", "1_000",
            "1__0", "١٢", "１２", "inf", "NaN", "1e400", "-0", ".5", "5.", "0x10", "yes", " No ",
            "ON", "opt-in", "OPT-İN", "2026-03-01", "2026-03-01T23:30:00-01:00",
            "2026-03-02T00:00:00Z", "2026-03-01 12:00", "2026-03-01T12:00:00.5+05:30",
            "2026-02-30", "0000-01-01", "2026-03-01T24:00", "2026-03-01t12:00", "a\x00b",
        ]
    ),
    st.text(max_size=8),
)  # fmt: skip
SCALARS = st.one_of(
    TEXTS,
    st.booleans(),
    st.integers(-3, 40),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([30.0, 30.5, -0.0, 1.0, 0.0, 2.0**70]),
)
ELEMENTS = st.one_of(SCALARS, st.none(), st.just(math.nan), st.just([1, "a"]), st.just({"k": "v"}))
VALUES = st.one_of(
    SCALARS,
    st.none(),
    st.sampled_from([math.nan, math.inf, -math.inf, Decimal("30"), b"30", 2**70, -(2**64)]),
    st.datetimes(
        min_value=datetime(2026, 2, 27), max_value=datetime(2026, 3, 5), timezones=st.just(UTC)
    ),
    st.datetimes(min_value=datetime(2026, 2, 27), max_value=datetime(2026, 3, 5)),
    st.dates(min_value=date(2026, 2, 27), max_value=date(2026, 3, 5)),
    st.lists(ELEMENTS, max_size=4),
    st.tuples(SCALARS, SCALARS),
    st.frozensets(st.sampled_from(["web", "ios", "30", "2026-03-01", "Ankara"])),
    st.dictionaries(TEXTS, ELEMENTS, max_size=3),
)
ORDERED = st.one_of(
    st.integers(-3, 40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["2026-03-01", "2026-03-02", "2026-03-01T12:00:00Z", "2026-03-02T06:00+03"]),
)


# Built once, not in each draw (see `runs`).
SCALAR_LISTS = st.lists(SCALARS, min_size=1, max_size=4)
COMPARANDS = st.one_of(SCALARS, ORDERED)


@st.composite
def operands(draw: st.DrawFn, op: str) -> Any:
    """A condition value for `op` (what parse_definition would accept, and then some)."""
    if op in ("exists", "not_exists"):
        return None
    if op in ("in", "not_in"):
        return tuple(draw(SCALAR_LISTS))
    if op == "between":
        low, high = draw(ORDERED), draw(ORDERED)
        both = [low, high]
        assume(all(isinstance(v, str) for v in both) or not any(isinstance(v, str) for v in both))
        assume(not isinstance(low, str) or (len(low) == 10) == (len(high) == 10))
        return (low, high) if str(low) <= str(high) or not isinstance(low, str) else (high, low)
    return draw(COMPARANDS)


@st.composite
def trait_conditions(draw: st.DrawFn) -> TraitCondition:
    op = draw(st.sampled_from(TRAIT_OPS))
    return TraitCondition(trait="x", op=op, value=draw(operands(op)))


def answers(condition: Any, facts: Mapping[str, PersonFacts]) -> dict[str, bool] | None:
    """evaluate's answer per person; None when evaluate itself fails (a malformed value)."""
    try:
        return {p: evaluate(condition, f, T0) for p, f in facts.items()}
    except (TypeError, ValueError, OverflowError):
        return None


def check_conditions(conditions: list[Any], facts: dict[str, PersonFacts]) -> int:
    """Checks each condition evaluate can answer; returns how many those were."""
    usable = [(f"c{i}", c) for i, c in enumerate(conditions) if answers(c, facts) is not None]
    if not usable:
        return 0
    people_table, hits_table = facts_to_arrow(facts)
    found = evaluate_batch(DB, people_table, hits_table, usable, T0)
    for key, condition in usable:
        expected = {p for p, yes in (answers(condition, facts) or {}).items() if yes}
        assert found[key] == expected, (condition, {p: facts[p] for p in found[key] ^ expected})
    return len(usable)


@pytest.mark.slow
@MANY
@given(
    conditions=st.lists(trait_conditions(), min_size=1, max_size=12),
    values=st.lists(VALUES, min_size=1, max_size=12),
)
def test_every_operator_on_every_kind_of_value(
    conditions: list[TraitCondition], values: list[Any]
) -> None:
    facts = {f"p{i}": PersonFacts(traits={"x": v}) for i, v in enumerate(values)}
    assume(check_conditions(conditions, facts))


COMPUTED_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "instant": st.one_of(
        st.datetimes(
            min_value=datetime(2026, 2, 27), max_value=datetime(2026, 3, 5), timezones=st.just(UTC)
        ),
        st.dates(min_value=date(2026, 2, 27), max_value=date(2026, 3, 5)),
    ),
    "number": st.one_of(
        st.integers(0, 5), st.floats(allow_nan=True), st.sampled_from([30.5, 0.0, 1.0])
    ),
    "text": TEXTS,
    "set": st.frozensets(st.sampled_from(["web", "ios", "store_pos", "30", "2026-03-01", "İ"])),
    "object": st.one_of(st.just({"items": [], "value": 10.0}), st.just(math.nan)),
}


# Built once, not in each draw (see `runs`).
COMPUTED_NAMES = st.sampled_from(sorted(COMPUTED_TRAITS))
# Mostly the operators parse_definition allows for the kind, sometimes any other.
COMPUTED_OPS = {
    name: st.one_of(st.sampled_from(KIND_OPS[kind]), st.sampled_from(TRAIT_OPS))
    for name, kind in COMPUTED_TRAITS.items()
}
MAYBE_COMPUTED = {kind: st.one_of(st.none(), values) for kind, values in COMPUTED_VALUES.items()}


@st.composite
def computed_conditions(draw: st.DrawFn) -> ComputedCondition:
    name = draw(COMPUTED_NAMES)
    op = draw(COMPUTED_OPS[name])
    return ComputedCondition(computed=name, op=op, value=draw(operands(op)))


@st.composite
def computed_people(draw: st.DrawFn) -> PersonFacts:
    values = {name: draw(MAYBE_COMPUTED[kind]) for name, kind in COMPUTED_TRAITS.items()}
    return PersonFacts(computed={k: v for k, v in values.items() if draw(st.booleans())})


@pytest.mark.slow
@MANY
@given(
    conditions=st.lists(computed_conditions(), min_size=1, max_size=12),
    persons=st.lists(computed_people(), min_size=1, max_size=10),
)
def test_computed_traits_agree_with_evaluate(
    conditions: list[ComputedCondition], persons: list[PersonFacts]
) -> None:
    assume(check_conditions(conditions, {f"p{i}": f for i, f in enumerate(persons)}))


def single(op: str, value: Any) -> Definition:
    compared: dict[str, Any] = {"trait": "x", "op": op}
    if value is not None:
        compared["value"] = list(value) if isinstance(value, tuple) else value
    return parse_definition(compared)


def test_the_operator_table_of_test_evaluate() -> None:
    # Every case in one query: each is a segment, each value a person.
    definitions = [(f"c{i}", single(op, value)) for i, (op, value, _, _) in enumerate(OPERATORS)]
    facts = {
        f"p{i}": PersonFacts(traits={} if actual is MISSING else {"x": actual})
        for i, (_, _, actual, _) in enumerate(OPERATORS)
    }
    found = batch_members(definitions, facts, T0)
    for i, (op, value, actual, expected) in enumerate(OPERATORS):
        assert (f"p{i}" in found[f"c{i}"]) is expected, (op, value, actual)
    assert_same(definitions, facts, T0)  # and every case against every value


EDGES: list[Any] = [
    "Straße", "STRASSE", "\u212a", "ǅ", "ﬁ", "ΣΑΣ", "σας", "\u00a030\u2003", "1_000", "1__0",
    "١٢", "１２.５", "inf", "-Infinity", "NaN", "1e400", "1e-400", "-0", ".5", "5.", "+5", "0x10",
    " yes\u3000", "OPT-İN", "Y", "subscribed", "2026-03-01T23:30:00-01:00",
    "2026-03-01T12:00:00.5+05:30", "2026-03-01 12:00+0575", "2026-03-01T12:00+24:00",
    "2026-02-29", "2024-02-29", "0000-01-01", "2026-03-01T24:00", " 2026-03-01 ", "a\x00b",
    "\t30\n", "\x1c\x85yes\u2028", "\u20292026-03-01\x1f", "\x0b1_000\x0c",
    "0000-01-01T00:00Z",
    None, math.nan, math.inf, Decimal("1"), b"1", 2**70, 9007199254740993, -0.0, 1.0, True,
    datetime(2026, 3, 1, 23, 30, tzinfo=UTC), datetime(2026, 3, 1, 23, 30), date(2026, 3, 1),
    ["ß", "1_0", None, math.nan, [1], {"a": 1}, True, 1, "2026-03-01T12:00Z"], {"Straße": 1},
    ("yes", 1.0), frozenset({"2026-03-01", "web"}), [], {},
]  # fmt: skip
EDGE_OPERANDS: list[Any] = [
    "ss", "straße", "k", "ǆ", "fi", "σασ", "30", 30, 1000, 12, 12.5, 0, -0.0, 1, 2**70,
    9007199254740992, True, False, "yes", "2026-03-01", "2026-03-02", "2026-03-01T12:00:00Z",
    "a\x00", "", "İ",
]  # fmt: skip


@pytest.mark.parametrize("op", TRAIT_OPS)
def test_hand_picked_values_under_each_operator(op: str) -> None:
    if op in ("exists", "not_exists"):
        wanted: list[Any] = [None]
    elif op in ("in", "not_in"):
        wanted = [tuple(EDGE_OPERANDS[i : i + 3]) for i in range(0, len(EDGE_OPERANDS), 3)]
    elif op == "between":
        wanted = [
            (0, 30),
            (-0.0, 0),
            ("2026-03-01", "2026-03-02"),
            ("2026-03-01T12:00Z", "2026-03-02T00:00Z"),
        ]
    else:
        wanted = EDGE_OPERANDS
    conditions = [TraitCondition(trait="x", op=op, value=v) for v in wanted]
    facts = {f"p{i}": PersonFacts(traits={"x": v}) for i, v in enumerate(EDGES)}
    assert check_conditions(conditions, facts) == len(conditions)


def event_case(within: dict[str, Any] | None, times: list[datetime], **more: Any) -> bool:
    """Whether the batch says the one person did E (as evaluate must, checked too)."""
    definition = parse_definition({"event": "E", **({"within": within} if within else {}), **more})
    facts = {
        "p": PersonFacts(events=event_times(definition, [EventFact("E", t, "web") for t in times]))
    }
    assert_same([("s", definition)], facts, T0)
    return "p" in batch_members([("s", definition)], facts, T0)["s"]


TICK = timedelta(microseconds=1)


def test_sliding_window_edges() -> None:
    day = timedelta(days=1)
    assert not event_case({"last_days": 1}, [T0 - day])  # exactly a day old: out
    assert event_case({"last_days": 1}, [T0 - day + TICK])
    assert event_case({"last_days": 1}, [T0])  # now: in
    assert not event_case({"last_days": 1}, [T0 + TICK])  # the future: not yet
    assert not event_case(None, [T0 + TICK])
    assert event_case({"last_hours": 5}, [T0 - timedelta(hours=5) + TICK])


def test_fixed_window_edges() -> None:
    dates = {"between": ["2026-02-01", "2026-02-28"]}
    assert event_case(dates, [datetime(2026, 2, 28, 23, 59, 59, 999999, tzinfo=UTC)])
    assert not event_case(dates, [datetime(2026, 3, 1, tzinfo=UTC)])
    assert event_case(dates, [datetime(2026, 2, 1, tzinfo=UTC)])
    assert not event_case(dates, [datetime(2026, 2, 1, tzinfo=UTC) - TICK])
    instants = {"between": ["2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z"]}
    assert not event_case(instants, [T0])  # the end instant is out
    assert event_case(instants, [T0 - TICK])
    # A window still open: only what has happened counts.
    open_window = {"between": ["2026-03-01", "2026-03-05"]}
    assert not event_case(open_window, [T0 + TICK])
    assert event_case(open_window, [T0])


def test_counts_and_did_not() -> None:
    times = [T0 - timedelta(hours=h) for h in (1, 2, 3)]
    assert event_case({"last_days": 1}, times, count={"op": "eq", "value": 3})
    assert not event_case({"last_days": 1}, times, count={"op": "gt", "value": 3})
    assert event_case({"last_hours": 2}, times, count={"op": "between", "value": [1, 1]})
    assert event_case(None, times, count={"op": "lt", "value": 4})
    assert not event_case({"last_days": 1}, times, did=False)
    assert event_case({"last_days": 1}, [T0 + TICK], did=False)
    assert event_case(None, [], count={"op": "eq", "value": 0})


def test_the_benchmark_segments_agree_with_evaluate() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    import audiences_segments

    definitions = [(k, parse_definition(d)) for k, d in audiences_segments.segments().items()]
    rng = random.Random(7)
    now = datetime(2026, 11, 20, 15, tzinfo=UTC)
    names = [*audiences_segments.EVENTS, "Comment Posted"]
    channels = ["web", "ios", "android", "store_pos", "email", "social"]
    facts = {}
    for n in range(400):
        events = [
            EventFact(
                rng.choice(names),
                now - timedelta(minutes=rng.randint(-600, 200 * 24 * 60)),
                rng.choice(channels),
                {
                    "total": rng.choice([10, 25, 60, 120, 250, 1500, "180", None]),
                    "category": rng.choice(audiences_segments.CATEGORIES),
                },
            )
            for _ in range(rng.randint(0, 40))
        ]
        facts[f"p{n}"] = PersonFacts(
            traits={"firstName": "Ada"} if rng.random() < 0.5 else {},
            computed={
                "orders": rng.randint(0, 7),
                "lifetime_value": rng.uniform(0, 900),
                "channels": frozenset(rng.sample(channels, rng.randint(0, 3))),
                "preferred_channel": rng.choice([None, "web", "store_pos"]),
                "rfm.code": rng.choice([None, "555", "545", "111"]),
                "open_cart": rng.choice([None, {"items": [], "value": 5.0}]),
            },
            identities={"email": {"a@x"}} if rng.random() < 0.6 else {"phone": {"1"}},
            consents={("email", "marketing"): rng.random() < 0.5, ("sms", "marketing"): True},
            events=event_times(AllOf(all=tuple(d for _, d in definitions)), events),
        )
    assert_same(definitions, facts, now)


def test_the_answer_does_not_depend_on_the_session_time_zone() -> None:
    definition = parse_definition({"computed": "last_seen_at", "op": "eq", "value": "2026-03-01"})
    facts = {"p": PersonFacts(computed={"last_seen_at": datetime(2026, 3, 1, 23, 30, tzinfo=UTC)})}
    people_table, hits_table = facts_to_arrow(facts)
    db = duckdb.connect()
    db.execute("SET TimeZone = 'Pacific/Kiritimati'")
    assert evaluate_batch(db, people_table, hits_table, [("s", definition)], T0) == {"s": {"p"}}


def test_the_tables_have_the_documented_schema() -> None:
    facts = {
        "p": PersonFacts(
            traits={"city": "Ankara", "none": None, "at": datetime(2026, 3, 1, 12)},
            computed={"orders": 2, "channels": {"web"}, "last_seen_at": date(2026, 3, 1)},
            identities={"email": {"a@x"}, "phone": set()},
            consents={("email", "marketing"): True, ("sms", "marketing"): False},
            memberships=frozenset({"vip"}),
            events={"ev_1": [T0, T0 - TICK]},
        )
    }
    people_table, hits_table = facts_to_arrow(facts)
    assert people_table.schema == PEOPLE_SCHEMA
    assert hits_table.schema == HITS_SCHEMA
    row = people_table.to_pylist()[0]
    assert row["traits"] == [("city", '"Ankara"'), ("at", "@instant:2026-03-01T12:00:00")]
    assert row["orders"] == 2.0
    assert row["last_seen_at"] == datetime(2026, 3, 1, tzinfo=UTC)
    assert (row["identities"], row["consents"], row["memberships"]) == (
        ["email"],
        ["email/marketing"],
        ["vip"],
    )
    assert hits_table.num_rows == 2


@pytest.mark.parametrize(
    ("facts", "error"),
    [
        (PersonFacts(traits={"x": [date(2026, 3, 1)]}), ValueError),
        (PersonFacts(traits={"x": {1: "a"}}), ValueError),
        (PersonFacts(computed={"orders": "2"}), TypeError),
        (PersonFacts(computed={"orders": True}), TypeError),
        (PersonFacts(computed={"channels": ["web", 1]}), TypeError),
        (PersonFacts(consents={("a/b", "marketing"): True}), ValueError),
    ],
)
def test_facts_arrow_cannot_hold_are_refused(facts: PersonFacts, error: type[Exception]) -> None:
    with pytest.raises(error):
        facts_to_arrow({"p": facts})


def test_definitions_must_come_in_evaluation_order() -> None:
    later = parse_definition({"segment": "b"})
    with pytest.raises(ValueError, match="not before it"):
        compile_segments([("a", later), ("b", parse_definition({"identity": "email"}))], T0)
    with pytest.raises(ValueError, match="not before it"):
        compile_segments([("a", parse_definition({"segment": "a"}))], T0)
    with pytest.raises(ValueError, match="repeat"):
        compile_segments([("a", later), ("a", later)], T0)


def test_segments_of_segments_use_the_run_s_answers() -> None:
    run = [
        ("emailable", parse_definition({"identity": "email"})),
        ("vip", parse_definition({"trait": "tier", "op": "eq", "value": "gold"})),
        (
            "vip-emailable",
            parse_definition({"all": [{"segment": "vip"}, {"segment": "emailable"}]}),
        ),
        ("not-vip", parse_definition({"not": {"segment": "vip"}})),
        ("elsewhere", parse_definition({"segment": "kept"})),
    ]
    facts = {
        "a": PersonFacts(traits={"tier": "GOLD"}, identities={"email": {"a@x"}}),
        "b": PersonFacts(traits={"tier": "gold"}, memberships=frozenset({"kept"})),
        "c": PersonFacts(memberships=frozenset({"kept"})),
    }
    assert batch_members(run, facts, T0) == {
        "emailable": {"a"},
        "vip": {"a", "b"},
        "vip-emailable": {"a"},
        "not-vip": {"c"},
        "elsewhere": {"b", "c"},
    }


def test_the_arrow_result_and_an_empty_run() -> None:
    people_table, hits_table = facts_to_arrow({"p": PersonFacts(), "q": PersonFacts()})
    result = evaluate_batch_arrow(
        DB,
        people_table,
        hits_table,
        [("all-of-them", parse_definition({"segment": "x", "member": False}))],
        T0,
    )
    assert result.column_names == ["person_id", "all-of-them"]
    assert result.schema.field(1).type == pa.bool_()
    assert sorted(result.to_pylist(), key=lambda r: r["person_id"]) == [
        {"person_id": "p", "all-of-them": True},
        {"person_id": "q", "all-of-them": True},
    ]
    assert evaluate_batch(DB, people_table, hits_table, [], T0) == {}
    register_functions(DB)  # a second registration is harmless
    register_functions(DB)


def test_no_table_is_left_behind() -> None:
    before = DB.sql("SELECT count(*) FROM duckdb_views()").fetchall()
    people_table, hits_table = facts_to_arrow({"p": PersonFacts()})
    evaluate_batch(
        DB, people_table, hits_table, [("s", parse_definition({"identity": "email"}))], T0
    )
    assert DB.sql("SELECT count(*) FROM duckdb_views()").fetchall() == before


def test_the_query_runs_on_the_caller_s_own_tables() -> None:
    # The caller's bulk export: tables of its own naming (even names the query uses inside),
    # hits with dictionary-encoded ids, and only the columns the definitions read.
    definitions = [
        ("recent", parse_definition({"event": "E", "within": {"last_days": 1}})),
        ("named", parse_definition({"trait": "name", "op": "eq", "value": "STRASSE"})),
        ("both", parse_definition({"all": [{"segment": "recent"}, {"segment": "named"}]})),
    ]
    (ev,) = event_conditions(parse_definition({"event": "E"}))
    people_table = pa.table(
        {
            "person_id": ["a", "b", "c"],
            "traits": pa.array(
                [[("name", '"Straße"')], [("name", '"strasse"')], []],
                pa.map_(pa.string(), pa.string()),
            ),
        }
    )
    hits_table = pa.table(
        {
            "person_id": pa.array(["a", "c", "c"]).dictionary_encode(),
            "key": pa.array([ev, ev, ev]).dictionary_encode(),
            "ts": pa.array(
                [T0 - TICK, T0 - timedelta(days=1), T0 + TICK], pa.timestamp("us", "UTC")
            ),
        }
    )
    db = duckdb.connect()
    register_functions(db)
    db.register("base", people_table)
    db.register("counts", hits_table)
    query = compile_segments(definitions, T0, people="base", hits="counts")
    rows = sorted(db.sql(query).fetchall())
    assert rows == [("a", True, True, True), ("b", False, True, False), ("c", False, False, False)]
    result = evaluate_batch_arrow(db, people_table, hits_table, definitions, T0)
    assert {k: v.to_pylist() for k, v in members_of(result).items()} == {
        "recent": ["a"],
        "named": ["a", "b"],
        "both": ["a"],
    }


# Trait values as the database's JSON text gives them (PostgreSQL's jsonb output has spaces),
# JSON null among them: the same answers as the decoded values.
STORED_JSON = [
    "null", " null ", '"Ankara"', ' "ANKARA" ', "30", "30.0", "-0", "1E2", "1e400", "true",
    "false", '"yes"', '[1, "a", null, [2], {"k": 1}]', '{"a": 1, "Straße": [1, 2]}', "[]", "{}",
    '"2026-03-01T23:30:00-01:00"', '"\\u0130zmir"', "12345678901234567890123",
]  # fmt: skip


@pytest.mark.parametrize("op", TRAIT_OPS)
def test_stored_json_text_reads_like_its_value(op: str) -> None:
    wanted: list[Any]
    if op in ("exists", "not_exists"):
        wanted = [None]
    elif op in ("in", "not_in"):
        wanted = [("ankara", 30, True), ("a", "straße", 1e2), ("2026-03-02", 1.2345678901234568e22)]
    elif op == "between":
        wanted = [(0, 100), ("2026-03-01", "2026-03-02")]
    else:
        wanted = [*EDGE_OPERANDS, "ankara", 100, "2026-03-02", "a", "straße"]
    definitions = [
        (f"c{i}", TraitCondition(trait="x", op=op, value=v)) for i, v in enumerate(wanted)
    ]
    people_table = pa.table(
        {
            "person_id": [f"p{i}" for i in range(len(STORED_JSON))],
            "traits": pa.array(
                [[("x", text)] for text in STORED_JSON], PEOPLE_SCHEMA.field("traits").type
            ),
        }
    )
    hits_table = HITS_SCHEMA.empty_table()
    found = evaluate_batch(DB, people_table, hits_table, definitions, T0)
    for key, condition in definitions:
        expected = {
            f"p{i}"
            for i, text in enumerate(STORED_JSON)
            if evaluate(condition, PersonFacts(traits={"x": json.loads(text)}), T0)
        }
        assert found[key] == expected, condition
