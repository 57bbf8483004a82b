"""`evaluate` and `next_change_at` against the naive reference, on random definitions and
random people. Times sit on an hour grid and windows are whole hours or days, so events fall
exactly on window edges often."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from omnicx.audiences import (
    EventFact,
    PersonFacts,
    evaluate,
    event_times,
    next_change_at,
    parse_definition,
)
from tests.audiences import reference_evaluate as ref

T0 = datetime(2026, 3, 2, tzinfo=UTC)
HOURS = 24 * 3  # events and "now" within three days of T0
TICK = timedelta(microseconds=1)

SETTINGS = settings(
    deadline=None,
    max_examples=300,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

DATES = ["2026-02-28", "2026-03-01", "2026-03-03", "2026-03-05"]
INSTANTS = ["2026-03-01T12:00:00Z", "2026-03-02T00:00:00Z", "2026-03-04T06:00:00+03:00"]
SCALARS = st.sampled_from(
    ["Ankara", "ankara", "İzmir", "a", "b", "30", "yes", 30, 30.5, 0, 1, True, False, *DATES]
)
ORDERED = st.sampled_from([0, 1, 2, 30, 30.5, 100, *DATES, *INSTANTS])


def compared(name_key: str, names: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """A trait, computed or property condition with a value that suits its operator."""

    def build(op: str) -> st.SearchStrategy[dict[str, Any]]:
        base = st.fixed_dictionaries({name_key: st.sampled_from(names), "op": st.just(op)})
        if op in ("exists", "not_exists"):
            value: st.SearchStrategy[Any] = st.nothing()
            return base
        if op in ("in", "not_in"):
            value = st.lists(SCALARS, min_size=1, max_size=3)
        elif op == "starts_with":
            value = st.sampled_from(["a", "An", "İ", "3", "2026-03"])
        elif op in ("gt", "gte", "lt", "lte"):
            value = ORDERED
        elif op == "between":
            value = st.sampled_from(
                [[0, 30], [1, 1], [30, 100], DATES[:2], DATES[1:3], INSTANTS[:2], INSTANTS[1:]]
            )
        else:
            value = SCALARS
        return st.builds(lambda b, v: {**b, "value": v}, base, value)

    ops = ["eq", "neq", "in", "not_in", "contains", "starts_with", "gt", "gte", "lt", "lte"]
    # One strategy per operator, built on first use: a strategy built inside a draw is
    # validated anew every time, which cost more than the tests' own work.
    return st.sampled_from([*ops, "between", "exists", "not_exists"]).flatmap(
        functools.cache(build)
    )


TRAITS = ["city", "age", "vip", "signup", "tags"]
TRAIT_VALUES = {
    "city": st.sampled_from(["Ankara", "ANKARA", "İzmir", "Bağcılar", 5]),
    "age": st.sampled_from([30, "30", 30.0, 29.5, "abc", True, 100]),
    "vip": st.sampled_from([True, False, "yes", "no", 1, 0, "maybe"]),
    "signup": st.sampled_from(
        [
            "2026-03-01",
            "2026-03-01T23:30:00-01:00",
            "2026-03-02T00:00:00Z",
            datetime(2026, 3, 1, 12, tzinfo=UTC),
            "soon",
        ]
    ),
    "tags": st.sampled_from([["a", "b"], [], ["Ankara", 30], "a", {"a": 1}]),
}


def computed_condition() -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        st.builds(
            lambda op, v: {"computed": "orders", "op": op, "value": v},
            st.sampled_from(["eq", "neq", "gt", "gte", "lt", "lte"]),
            st.integers(0, 3),
        ),
        st.builds(
            lambda op, v: {"computed": "last_seen_at", "op": op, "value": v},
            st.sampled_from(["eq", "gt", "gte", "lt", "lte"]),
            st.sampled_from(DATES + INSTANTS),
        ),
        st.builds(
            lambda v: {"computed": "channels", "op": "contains", "value": v},
            st.sampled_from(["web", "store_pos"]),
        ),
        st.builds(
            lambda op, v: {"computed": "channels", "op": op, "value": v},
            st.sampled_from(["in", "not_in"]),
            st.sampled_from([["web"], ["web", "ios"]]),
        ),
        st.builds(
            lambda op: {"computed": "open_cart", "op": op},
            st.sampled_from(["exists", "not_exists"]),
        ),
        st.builds(
            lambda op, v: {"computed": "rfm.code", "op": op, "value": v},
            st.sampled_from(["eq", "starts_with", "contains"]),
            st.sampled_from(["545", "5", "1"]),
        ),
    )


def event_condition(
    windows: tuple[str, ...] = ("none", "days", "hours", "between"),
) -> st.SearchStrategy[dict[str, Any]]:
    # Built once, outside the draw (see `compared`).
    wheres = st.lists(compared("property", ["total", "kind", "item.size"]), max_size=2)

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        c: dict[str, Any] = {"event": draw(st.sampled_from(["A", "B"]))}
        did = draw(st.booleans())
        if not did:
            c["did"] = False
        elif draw(st.booleans()):
            op = draw(st.sampled_from(["eq", "gt", "gte", "lt", "lte", "between"]))
            if op == "between":
                low = draw(st.integers(0, 3))
                c["count"] = {"op": op, "value": [low, low + draw(st.integers(0, 2))]}
            else:
                c["count"] = {"op": op, "value": draw(st.integers(1 if op == "lt" else 0, 3))}
        window = draw(st.sampled_from(windows))
        if window == "days":
            c["within"] = {"last_days": draw(st.integers(1, 3))}
        elif window == "hours":
            c["within"] = {"last_hours": draw(st.sampled_from([1, 5, 24, 36]))}
        elif window == "between":
            start = draw(st.sampled_from(DATES[:3] + INSTANTS[:2]))
            later = [d for d in DATES + INSTANTS if ref.as_instant(d) > ref.as_instant(start)]
            c["within"] = {"between": [start, draw(st.sampled_from(later))]}
        if draw(st.booleans()):
            c["channel"] = draw(st.sampled_from(["web", "store_pos", ["web", "ios"]]))
        if draw(st.booleans()):
            c["where"] = draw(wheres)
        return c

    return build()


LEAVES = st.one_of(
    compared("trait", TRAITS),
    computed_condition(),
    event_condition(),
    event_condition(),
    st.builds(
        lambda t, p: {"identity": t, "present": p},
        st.sampled_from(["email", "phone"]),
        st.booleans(),
    ),
    st.builds(
        lambda ch, g: {"consent": {"channel": ch, "purpose": "marketing"}, "granted": g},
        st.sampled_from(["sms", "email"]),
        st.booleans(),
    ),
    st.builds(
        lambda s, m: {"segment": s, "member": m}, st.sampled_from(["vip", "lapsed"]), st.booleans()
    ),
)


def definitions(leaves: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.builds(lambda xs: {"all": xs}, st.lists(children, min_size=1, max_size=3)),
            st.builds(lambda xs: {"any": xs}, st.lists(children, min_size=1, max_size=3)),
            st.builds(lambda x: {"not": x}, children),
        ),
        max_leaves=6,
    )


DEFINITIONS = definitions(LEAVES)
SLIDING = event_condition(("none", "days", "hours", "hours", "hours", "between"))
TIMED = definitions(st.integers(0, 9).flatmap(lambda i: SLIDING if i < 7 else LEAVES))
"""Mostly event conditions, mostly with sliding windows: the ones that change with time."""


def instant(hours: int, minutes: int = 0) -> datetime:
    return T0 + timedelta(hours=hours, minutes=minutes)


EVENTS = st.lists(
    st.builds(
        ref.RawEvent,
        name=st.sampled_from(["A", "B", "A", "B", "C"]),
        ts=st.integers(-HOURS, HOURS).map(instant),
        channel=st.sampled_from(["web", "store_pos", "ios", "email"]),
        properties=st.fixed_dictionaries(
            {},
            optional={
                "total": st.sampled_from([0, 30, 100, "100", 30.5, "x", None]),
                "kind": st.sampled_from(["a", "Ankara", "2026-03-01"]),
                "item": st.sampled_from([{"size": 30}, {"size": "M"}, {}]),
            },
        ),
    ),
    max_size=12,
)


# A person's parts, built once rather than in each draw (see `compared`).
PERSON_TRAITS = st.fixed_dictionaries({}, optional=TRAIT_VALUES)
PERSON_COMPUTED = st.fixed_dictionaries(
    {},
    optional={
        "orders": st.integers(0, 3),
        "last_seen_at": st.integers(-HOURS, HOURS).map(instant),
        "channels": st.frozensets(st.sampled_from(["web", "ios", "store_pos"])),
        "open_cart": st.just({"items": [], "value": 10.0}),
        "rfm.code": st.sampled_from(["545", "111", "515"]),
    },
)
PERSON_IDENTITIES = st.dictionaries(
    st.sampled_from(["email", "phone"]), st.sets(st.sampled_from(["x", "y"]))
)
PERSON_CONSENTS = st.dictionaries(
    st.tuples(st.sampled_from(["sms", "email"]), st.just("marketing")), st.booleans()
)
PERSON_MEMBERSHIPS = st.sets(st.sampled_from(["vip", "lapsed"]))


@st.composite
def people(draw: st.DrawFn) -> ref.RawPerson:
    traits = draw(PERSON_TRAITS)
    computed = draw(PERSON_COMPUTED)
    identities = draw(PERSON_IDENTITIES)
    consents = draw(PERSON_CONSENTS)
    memberships = draw(PERSON_MEMBERSHIPS)
    return ref.RawPerson(traits, computed, identities, consents, memberships, draw(EVENTS))


NOW = st.builds(instant, st.integers(-HOURS, HOURS), st.sampled_from([0, 0, 0, 30]))


def facts_for(definition: Any, person: ref.RawPerson) -> PersonFacts:
    events = [EventFact(e.name, e.ts, e.channel, e.properties) for e in person.events]
    return PersonFacts(
        traits=person.traits,
        computed=person.computed,
        identities=person.identities,
        consents=person.consents,
        memberships=frozenset(person.memberships),
        events=event_times(definition, events),
    )


@SETTINGS
@given(document=DEFINITIONS, person=people(), now=NOW)
def test_evaluate_agrees_with_the_reference(
    document: dict[str, Any], person: ref.RawPerson, now: datetime
) -> None:
    definition = parse_definition(document)
    note(f"definition: {document}")
    expected = ref.holds(document, person, now)
    assert evaluate(definition, facts_for(definition, person), now) == expected


def probes(document: dict[str, Any], person: ref.RawPerson, now: datetime) -> set[datetime]:
    """Instants worth checking: every event time and every window length after each, with
    their neighbours a microsecond away (found naively, from the JSON)."""
    spans = {timedelta(0)}
    text = str(document)
    spans |= {timedelta(days=d) for d in range(1, 4) if f"'last_days': {d}" in text}
    spans |= {timedelta(hours=h) for h in (1, 5, 24, 36) if f"'last_hours': {h}" in text}
    found = set()
    for e in person.events:
        for span in spans:
            at = e.ts + span
            found |= {at - TICK, at, at + TICK}
    return {at for at in found if at > now}


@SETTINGS
@given(
    document=TIMED,
    person=people(),
    now=NOW,
    recent=ref.RECENT_EVENTS,
    offsets=ref.OFFSETS,
)
def test_next_change_at_is_the_first_change(
    document: dict[str, Any],
    person: ref.RawPerson,
    now: datetime,
    recent: list[tuple[str, int, str]],
    offsets: list[int],
) -> None:
    # Events around `now` (some still to come), so that windows open and close after it.
    person.events += [ref.RawEvent(n, now + timedelta(hours=h), c) for n, h, c in recent]
    definition = parse_definition(document)
    facts = facts_for(definition, person)
    change = next_change_at(definition, facts, now)
    note(f"definition: {document}; change at {change}")
    before = ref.holds(document, person, now)
    checked = probes(document, person, now) | {now + timedelta(microseconds=o) for o in offsets}
    if change is None:
        for at in checked:
            assert ref.holds(document, person, at) == before, at
        return
    assert change > now
    assert ref.holds(document, person, change - TICK) == before
    assert ref.holds(document, person, change) != before
    assert evaluate(definition, facts, change) != before
    for at in checked:
        if at < change:
            assert ref.holds(document, person, at) == before, at
