"""The evaluator on hand-picked cases: every operator on every kind of value, window edges,
time-based entry and exit, event matching, and facts taken from a profile document."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from omnicx.audiences import (
    COMPUTED_TRAITS,
    EventFact,
    MissingEventTimes,
    PersonFacts,
    evaluate,
    event_conditions,
    event_times,
    facts_of_profile,
    matches,
    next_change_at,
    parse_definition,
)
from omnicx.audiences.facts import consents_in_force
from omnicx.profiles.schemas import (
    ComputedTraits,
    ConsentOut,
    IdentityOut,
    LastOrder,
    OpenCartOut,
    ProfileDocument,
    RfmOut,
    TraitOut,
)

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
TICK = timedelta(microseconds=1)

MISSING = object()

# (operator, condition value, the profile's value, expected); MISSING: no such trait.
OPERATORS: list[tuple[str, Any, Any, bool]] = [
    # eq / neq: text ignores case; numbers read numeric text; true/false read yes/no.
    ("eq", "Ankara", "Ankara", True),
    ("eq", "Ankara", "ANKARA", True),
    ("eq", "İzmir", "i̇zmir", True),
    ("eq", "Ankara", "Ankaram", False),
    ("eq", "Ankara", MISSING, False),
    ("eq", "30", 30, False),
    ("eq", 30, "30", True),
    ("eq", 30, 30.0, True),
    ("eq", 30, " 30 ", True),
    ("eq", 30, "thirty", False),
    ("eq", 1, True, False),
    ("eq", True, "yes", True),
    ("eq", True, 1, True),
    ("eq", False, "no", True),
    ("eq", True, "maybe", False),
    ("eq", "2026-03-01", "2026-03-01T23:59:00Z", True),
    ("eq", "2026-03-01", "2026-03-01T23:30:00-01:00", False),
    ("eq", "2026-03-01T10:00:00Z", "2026-03-01T13:00:00+03:00", True),
    ("eq", "a", ["a", "b"], False),
    ("neq", "Ankara", "İzmir", True),
    ("neq", "Ankara", "ankara", False),
    ("neq", "Ankara", MISSING, True),
    ("neq", 30, "abc", True),
    # in / not_in: one of the values; a list value matches when any element is listed.
    ("in", ("Ankara", "İzmir"), "ANKARA", True),
    # Case is ignored the Unicode way, not the Turkish way: İ is i + a dot, I is i.
    ("in", ("Ankara", "İzmir"), "izmir", False),
    ("in", ("Ankara", "İzmir"), "İZMİR", False),
    ("in", ("a", 30), "30", True),
    ("in", ("a", "b"), ["c", "b"], True),
    ("in", ("a", "b"), [], False),
    ("in", ("a",), MISSING, False),
    ("not_in", ("a", "b"), "c", True),
    ("not_in", ("a", "b"), "A", False),
    ("not_in", ("a",), MISSING, True),
    # contains: text inside text, or an element of a list (or a set, or an object's key).
    ("contains", "kar", "Ankara", True),
    ("contains", "KAR", "Ankara", True),
    ("contains", "x", "Ankara", False),
    ("contains", "b", ["a", "b"], True),
    ("contains", 30, [30.0, 1], True),
    ("contains", "store_pos", frozenset({"web", "store_pos"}), True),
    ("contains", "web", {"web": 3}, True),
    ("contains", "a", MISSING, False),
    ("contains", 3, "123", False),
    ("contains", "2026", "2026-03-01", True),
    # starts_with: text only, ignoring case.
    ("starts_with", "an", "Ankara", True),
    ("starts_with", "ka", "Ankara", False),
    ("starts_with", "2026-03", "2026-03-01", True),
    ("starts_with", "1", 123, False),
    # gt / gte / lt / lte: numbers, days (a date) or instants (a date-time).
    ("gt", 30, 31, True),
    ("gt", 30, 30, False),
    ("gt", 30, "31.5", True),
    ("gt", 30, "abc", False),
    ("gt", 0, True, False),
    ("gte", 30, 30, True),
    ("gte", 30, MISSING, False),
    ("lt", 30, 29.9, True),
    ("lt", 30, [1], False),
    ("lte", 30, 30, True),
    ("lte", 30, 30.01, False),
    ("lte", "2026-03-01", "2026-03-01T23:59:59Z", True),
    ("lte", "2026-03-01", datetime(2026, 3, 2, tzinfo=UTC), False),
    ("gt", "2026-03-01", "2026-03-02", True),
    ("gte", "2026-03-01T12:00:00Z", datetime(2026, 3, 1, 12, tzinfo=UTC), True),
    ("gt", "2026-03-01T12:00:00Z", datetime(2026, 3, 1, 12, tzinfo=UTC), False),
    ("lt", "2026-03-01T12:00:00Z", "2026-03-01", True),
    ("gt", "2026-03-01", "not a date", False),
    # between: both ends included.
    ("between", (1, 5), 1, True),
    ("between", (1, 5), 5, True),
    ("between", (1, 5), 5.5, False),
    ("between", (1, 5), "3", True),
    ("between", ("2026-03-01", "2026-03-31"), "2026-03-31T23:00:00Z", True),
    ("between", ("2026-03-01", "2026-03-31"), "2026-04-01", False),
    ("between", ("2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z"), "2026-03-02", True),
    ("between", (1, 5), MISSING, False),
    # exists / not_exists.
    ("exists", None, "x", True),
    ("exists", None, [], True),
    ("exists", None, False, True),
    ("exists", None, MISSING, False),
    ("not_exists", None, MISSING, True),
    ("not_exists", None, 0, False),
]


def trait_facts(actual: Any) -> PersonFacts:
    return PersonFacts(traits={} if actual is MISSING else {"x": actual})


@pytest.mark.parametrize(("op", "value", "actual", "expected"), OPERATORS)
def test_every_operator(op: str, value: Any, actual: Any, expected: bool) -> None:
    compared: dict[str, Any] = {"op": op}
    if value is not None:
        compared["value"] = list(value) if isinstance(value, tuple) else value
    definition = parse_definition({"trait": "x", **compared})
    assert evaluate(definition, trait_facts(actual), NOW) is expected
    # As an event's property, the same rules hold.
    event = parse_definition({"event": "E", "where": [{"property": "x", **compared}]})
    properties = {} if actual is MISSING else {"x": actual}
    facts = PersonFacts(events=event_times(event, [EventFact("E", NOW, "web", properties)]))
    assert evaluate(event, facts, NOW) is expected


def test_every_operator_is_in_the_table() -> None:
    from omnicx.audiences.values import TRAIT_OPS

    assert {op for op, *_ in OPERATORS} == set(TRAIT_OPS)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"computed": "orders", "op": "gte", "value": 2}, True),
        ({"computed": "channels", "op": "contains", "value": "store_pos"}, True),
        ({"computed": "channels", "op": "contains", "value": "ios"}, False),
        ({"computed": "open_cart", "op": "exists"}, False),
        ({"computed": "rfm.code", "op": "starts_with", "value": "5"}, True),
        ({"computed": "last_order.at", "op": "gte", "value": "2026-03-01"}, True),
        ({"computed": "last_order.value", "op": "between", "value": [10, 50]}, True),
        ({"identity": "email"}, True),
        ({"identity": "phone"}, False),
        ({"identity": "phone", "present": False}, True),
        ({"consent": {"channel": "sms", "purpose": "marketing"}}, False),
        ({"consent": {"channel": "sms", "purpose": "marketing"}, "granted": False}, True),
        ({"consent": {"channel": "email", "purpose": "marketing"}}, True),
        ({"consent": {"channel": "push", "purpose": "tracking"}, "granted": False}, True),
        ({"segment": "vip"}, True),
        ({"segment": "lapsed"}, False),
        ({"segment": "lapsed", "member": False}, True),
        ({"not": {"segment": "vip"}}, False),
        ({"any": [{"segment": "lapsed"}, {"identity": "email"}]}, True),
        ({"all": [{"segment": "lapsed"}, {"identity": "email"}]}, False),
    ],
)
def test_computed_identity_consent_segment(condition: dict[str, Any], expected: bool) -> None:
    facts = PersonFacts(
        computed={
            "orders": 2,
            "channels": frozenset({"web", "store_pos"}),
            "open_cart": None,
            "rfm.code": "545",
            "last_order.at": datetime(2026, 3, 1, 9, tzinfo=UTC),
            "last_order.value": 49.9,
        },
        identities={"email": {"ada@example.com"}, "phone": set()},
        consents={("sms", "marketing"): False, ("email", "marketing"): True},
        memberships=frozenset({"vip"}),
    )
    assert evaluate(parse_definition(condition), facts, NOW) is expected


def did(within: dict[str, Any] | None = None, **more: Any) -> Any:
    document: dict[str, Any] = {"event": "Order Completed", **more}
    if within is not None:
        document["within"] = within
    return parse_definition(document)


def facts_at(definition: Any, *times: datetime) -> PersonFacts:
    events = [EventFact("Order Completed", t, "web") for t in times]
    return PersonFacts(events=event_times(definition, events))


@pytest.mark.parametrize(
    ("age", "inside"),
    [
        (timedelta(0), True),  # at now: in
        (timedelta(days=7) - TICK, True),
        (timedelta(days=7), False),  # exactly 7 days old: out
        (timedelta(days=8), False),
        (-TICK, False),  # stamped in the future: not yet
    ],
)
def test_last_days_edges(age: timedelta, inside: bool) -> None:
    definition = did({"last_days": 7})
    assert evaluate(definition, facts_at(definition, NOW - age), NOW) is inside


@pytest.mark.parametrize(
    ("when", "inside"),
    [
        (datetime(2026, 1, 1, tzinfo=UTC), True),  # the start date's midnight is in
        (datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC), False),
        (datetime(2026, 2, 1, 23, 59, 59, tzinfo=UTC), True),  # the end date's whole day is in
        (datetime(2026, 2, 2, tzinfo=UTC), False),
    ],
)
def test_between_dates_edges(when: datetime, inside: bool) -> None:
    definition = did({"between": ["2026-01-01", "2026-02-01"]})
    assert evaluate(definition, facts_at(definition, when), NOW) is inside


def test_between_date_times_end_is_excluded() -> None:
    definition = did({"between": ["2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"]})
    end = datetime(2026, 2, 1, tzinfo=UTC)
    assert evaluate(definition, facts_at(definition, end - TICK), NOW)
    assert not evaluate(definition, facts_at(definition, end), NOW)


def test_between_counts_only_what_has_happened() -> None:
    definition = did({"between": ["2026-03-01", "2026-03-31"]})
    later = NOW + timedelta(days=1)
    facts = facts_at(definition, later)
    assert not evaluate(definition, facts, NOW)
    assert next_change_at(definition, facts, NOW) == later
    assert evaluate(definition, facts, later)


@pytest.mark.parametrize(
    ("count", "times", "expected"),
    [
        ({"op": "gte", "value": 2}, 2, True),
        ({"op": "gte", "value": 2}, 1, False),
        ({"op": "lte", "value": 2}, 0, True),  # "at most" includes never
        ({"op": "lte", "value": 2}, 3, False),
        ({"op": "eq", "value": 0}, 0, True),
        ({"op": "gt", "value": 1}, 2, True),
        ({"op": "lt", "value": 1}, 0, True),
        ({"op": "between", "value": [1, 2]}, 2, True),
        ({"op": "between", "value": [1, 2]}, 3, False),
    ],
)
def test_counts(count: dict[str, Any], times: int, expected: bool) -> None:
    definition = did({"last_days": 30}, count=count)
    facts = facts_at(definition, *(NOW - timedelta(days=i + 1) for i in range(times)))
    assert evaluate(definition, facts, NOW) is expected


def test_did_not() -> None:
    definition = did({"last_days": 7}, did=False)
    assert evaluate(definition, facts_at(definition), NOW)
    assert evaluate(definition, facts_at(definition, NOW - timedelta(days=9)), NOW)
    assert not evaluate(definition, facts_at(definition, NOW - timedelta(days=1)), NOW)


def test_time_based_exit() -> None:
    definition = did({"last_days": 7})
    last = NOW - timedelta(days=2)
    facts = facts_at(definition, NOW - timedelta(days=5), last)
    assert evaluate(definition, facts, NOW)
    leaves = next_change_at(definition, facts, NOW)
    assert leaves == last + timedelta(days=7)
    assert evaluate(definition, facts, leaves - TICK)
    assert not evaluate(definition, facts, leaves)
    assert next_change_at(definition, facts, leaves) is None


def test_time_based_exit_of_a_count() -> None:
    definition = did({"last_days": 7}, count={"op": "gte", "value": 2})
    times = [NOW - timedelta(days=d) for d in (6, 4, 1)]
    facts = facts_at(definition, *times)
    # Three orders in the window; the count falls below two when the second one leaves.
    assert next_change_at(definition, facts, NOW) == times[1] + timedelta(days=7)


def test_time_based_entry() -> None:
    # An abandoned cart: added in the last day, but not in the last hour, and no order since.
    definition = parse_definition(
        {
            "all": [
                {"event": "Product Added", "within": {"last_hours": 24}},
                {"event": "Product Added", "did": False, "within": {"last_hours": 1}},
                {"computed": "open_cart", "op": "exists"},
            ]
        }
    )
    added = NOW - timedelta(minutes=10)
    facts = PersonFacts(
        computed={"open_cart": {"value": 20.0}},
        events=event_times(definition, [EventFact("Product Added", added, "web")]),
    )
    assert not evaluate(definition, facts, NOW)
    enters = next_change_at(definition, facts, NOW)
    assert enters == added + timedelta(hours=1)
    assert evaluate(definition, facts, enters)
    assert next_change_at(definition, facts, enters) == added + timedelta(hours=24)


def test_nothing_changes_by_itself() -> None:
    definition = parse_definition(
        {"all": [{"trait": "city", "op": "eq", "value": "Ankara"}, {"event": "Order Completed"}]}
    )
    facts = facts_at(definition, NOW - timedelta(days=300))
    assert next_change_at(definition, facts, NOW) is None


def test_naive_now_is_utc() -> None:
    definition = did({"last_days": 1})
    facts = facts_at(definition, NOW - timedelta(hours=23))
    naive = NOW.replace(tzinfo=None)
    assert evaluate(definition, facts, naive)
    assert next_change_at(definition, facts, naive) == NOW + timedelta(hours=1)


def test_missing_event_times_are_an_error() -> None:
    with pytest.raises(MissingEventTimes, match="'Order Completed'"):
        evaluate(did(), PersonFacts(), NOW)


def test_matches() -> None:
    definition = parse_definition(
        {
            "event": "Order Completed",
            "channel": ["store_pos", "web"],
            "where": [
                {"property": "total", "op": "gt", "value": 100},
                {"property": "store.city", "op": "eq", "value": "Ankara"},
            ],
        }
    )
    good = {"total": "120.5", "store": {"city": "ankara"}}
    assert matches(definition, "Order Completed", "store_pos", good)
    assert not matches(definition, "order completed", "store_pos", good)
    assert not matches(definition, "Order Completed", "ios", good)
    assert not matches(definition, "Order Completed", "web", {**good, "total": 100})
    assert not matches(definition, "Order Completed", "web", {"total": 120})
    # A key with a dot is read as it is before it is read as a path.
    assert matches(definition, "Order Completed", "web", {"total": 101, "store.city": "Ankara"})


def test_event_times_per_condition() -> None:
    definition = parse_definition(
        {
            "any": [
                {"event": "A", "within": {"last_days": 1}},
                {"event": "A", "did": False, "within": {"last_days": 30}},
                {"event": "A", "channel": "web"},
            ]
        }
    )
    keys = list(event_conditions(definition))
    assert len(keys) == 2  # the first two differ only in window and `did`: one key
    t1, t2 = NOW - timedelta(days=2), NOW - timedelta(days=1)
    found = event_times(definition, [EventFact("A", t2, "web"), EventFact("A", t1, "ios")])
    assert found == {keys[0]: [t1, t2], keys[1]: [t2]}


def test_facts_of_a_profile_document() -> None:
    at = datetime(2026, 3, 1, tzinfo=UTC)
    document = ProfileDocument(
        id="p1",
        identities={
            "email": [IdentityOut(value="ada@example.com", first_seen_at=at, last_seen_at=at)]
        },
        traits={
            "city": TraitOut(
                value="Ankara",
                source="crm",
                channel="crm",
                event_id=1,
                message_id="m1",
                observed_at=at,
            )
        },
        computed=ComputedTraits(
            first_seen_at=at,
            last_seen_at=at,
            events=3,
            channels={"web": 2, "store_pos": 1},
            preferred_channel="web",
            orders=1,
            lifetime_value=99.5,
            last_order=LastOrder(
                at=at, order_id="o1", value=99.5, currency="EUR", channel="store_pos", event_id=2
            ),
            open_cart=OpenCartOut(items=[], value=12.0, updated_at=at),
            rfm=RfmOut(recency=5, frequency=1, monetary=4, code="514"),
        ),
        consents=[],
    )
    definition = parse_definition(
        {
            "all": [
                {"trait": "city", "op": "eq", "value": "ankara"},
                {"identity": "email"},
                {"computed": "channels", "op": "contains", "value": "store_pos"},
                {"computed": "last_order.channel", "op": "eq", "value": "store_pos"},
                {"computed": "open_cart.value", "op": "gt", "value": 10},
                {"computed": "rfm.recency", "op": "eq", "value": 5},
                {"segment": "vip"},
            ]
        }
    )
    facts = facts_of_profile(document, memberships=frozenset({"vip"}))
    assert evaluate(definition, facts, NOW)
    assert set(facts.computed) == set(COMPUTED_TRAITS)


def test_consents_for_all_channels() -> None:
    def consent(channel: str, granted: bool, day: int) -> ConsentOut:
        return ConsentOut(
            channel=channel,
            purpose="marketing",
            granted=granted,
            occurred_at=datetime(2026, 3, day, tzinfo=UTC),
            signal="api",
        )

    found = consents_in_force(
        [consent("sms", True, 1), consent("all", False, 2), consent("email", True, 3)]
    )
    assert found[("sms", "marketing")] is False  # the later "all" refusal wins
    assert found[("email", "marketing")] is True  # the later e-mail consent wins
    assert found[("push", "marketing")] is False
    assert found[("all", "marketing")] is False
    assert consents_in_force([consent("sms", True, 2), consent("all", False, 2)])[
        ("sms", "marketing")
    ]
