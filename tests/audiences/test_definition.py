"""Parsing and checking definitions: the JSON form, every validation error's message (with
its JSON path), cycles between segments, and the stable keys of event conditions."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from omnicx.audiences import (
    DefinitionError,
    check_cycles,
    event_conditions,
    parse_definition,
    segment_references,
    to_json,
)
from omnicx.audiences.definition import AllOf, EventCondition, NotOf, TraitCondition
from omnicx.audiences.errors import MAX_CONDITIONS, MAX_DEPTH, Wording
from omnicx.audiences.phrases import ERRORS

ORDERS = "Order Completed"

# (the message's code in phrases.ERRORS, the document, parse_definition's options, the error)
ERROR_CASES: list[tuple[str, Any, dict[str, Any], str]] = [
    (
        "not_json",
        '{"all": [',
        {},
        "definition: not valid JSON: unexpected end of data: line 1 column 10 (char 9)",
    ),
    (
        "not_a_condition",
        {"all": [{"trait": "city", "op": "exists"}, {"city": "Ankara"}]},
        {},
        "all[1]: not a condition: expected an object with one of the keys all, any, not, trait, "
        "computed, event, identity, consent, segment (docs/audiences-definitions.md)",
    ),
    (
        "two_kinds",
        {"trait": "city", "op": "exists", "event": ORDERS},
        {},
        "definition: a condition takes only one of all, any, not, trait, computed, event, "
        "identity, consent, segment: put several conditions in an `all`",
    ),
    (
        "unknown_key",
        {"event": ORDERS, "within": {"last_dayz": 7, "last_days": 1}},
        {},
        "within: unknown key 'last_dayz' (did you mean 'last_days'?); expected last_days, "
        "last_hours, between",
    ),
    ("missing", {"trait": "city"}, {}, "op: is required"),
    ("empty_group", {"any": []}, {}, "any: must list at least one condition"),
    ("not_object", {"event": ORDERS, "within": 7}, {}, "within: must be an object"),
    ("not_list", {"all": {"trait": "city", "op": "exists"}}, {}, "all: must be a list"),
    ("not_text", {"event": 42}, {}, "event: must be a text"),
    ("not_bool", {"identity": "email", "present": "yes"}, {}, "present: must be true or false"),
    ("too_long", {"segment": "x" * 201}, {}, "segment: is longer than 200 characters"),
    ("empty_text", {"event": ""}, {}, "event: must not be empty"),
    (
        "empty_channels",
        {"event": ORDERS, "channel": []},
        {},
        "channel: must name at least one channel",
    ),
    (
        "unknown_event",
        {"event": "Order Complete"},
        {"events": [ORDERS, "Product Added"]},
        "event: unknown event 'Order Complete' (did you mean 'Order Completed'?)",
    ),
    (
        "unknown_trait",
        {"trait": "cty", "op": "eq", "value": "Ankara"},
        {"traits": ["city", "country"]},
        "trait: unknown trait 'cty' (did you mean 'city'?)",
    ),
    (
        "unknown_computed",
        {"computed": "last_order_at", "op": "gte", "value": "2026-01-01"},
        {},
        "computed: unknown computed trait 'last_order_at' (did you mean 'last_order.at'?); "
        "choose one of: first_seen_at, last_seen_at, events, channels, preferred_channel, "
        "orders, lifetime_value, last_order.at, last_order.value, last_order.currency, "
        "last_order.channel, open_cart, open_cart.value, open_cart.updated_at, rfm.recency, "
        "rfm.frequency, rfm.monetary, rfm.code",
    ),
    (
        "unknown_op",
        {"trait": "city", "op": "eqq", "value": "Ankara"},
        {},
        "op: unknown operator 'eqq' (did you mean 'eq'?); use one of: eq, neq, in, not_in, "
        "contains, starts_with, gt, gte, lt, lte, between, exists, not_exists",
    ),
    (
        "op_for_kind",
        {"computed": "channels", "op": "eq", "value": "web"},
        {},
        "op: channels is a set of names: use one of contains, in, not_in, exists, not_exists",
    ),
    (
        "unknown_channel",
        {"event": ORDERS, "channel": ["web", "store"]},
        {},
        "channel[1]: unknown channel 'store' (did you mean 'store_pos'?); choose one of: web, "
        "ios, android, store_pos, email, sms, social, chat, phone, support, crm, other",
    ),
    (
        "unknown_consent_channel",
        {"consent": {"channel": "text", "purpose": "marketing"}},
        {},
        "consent.channel: unknown consent channel 'text'; choose one of: web, ios, android, "
        "store_pos, email, sms, social, chat, phone, support, crm, other, push, whatsapp, post, "
        "all",
    ),
    (
        "unknown_purpose",
        {"consent": {"channel": "sms", "purpose": "marketting"}},
        {},
        "consent.purpose: unknown consent purpose 'marketting' (did you mean 'marketing'?); "
        "choose one of: marketing, tracking, advertising, personalisation, data_sharing",
    ),
    (
        "unknown_identity",
        {"identity": "mail"},
        {},
        "identity: unknown identifier type 'mail' (did you mean 'email'?); choose one of: "
        "anonymous_id, device_id, email, loyalty_card, phone, user_id",
    ),
    (
        "unknown_segment",
        {"segment": "vipp"},
        {"segments": ["vip", "lapsed"]},
        "segment: unknown segment 'vipp' (did you mean 'vip'?)",
    ),
    (
        "self_reference",
        {"any": [{"segment": "vip"}]},
        {"key": "vip"},
        "any[0].segment: the segment refers to itself",
    ),
    ("value_missing", {"trait": "city", "op": "eq"}, {}, "value: `eq` needs a value"),
    (
        "value_forbidden",
        {"trait": "city", "op": "exists", "value": True},
        {},
        "value: `exists` takes no value",
    ),
    (
        "value_scalar",
        {"trait": "city", "op": "eq", "value": ["Ankara"]},
        {},
        "value: `eq` needs a text, a number or true/false",
    ),
    (
        "value_list",
        {"trait": "city", "op": "in", "value": "Ankara"},
        {},
        "value: `in` needs a non-empty list of texts, numbers or true/false (at most 1000)",
    ),
    (
        "value_text",
        {"trait": "zip", "op": "starts_with", "value": 34},
        {},
        "value: `starts_with` needs a text",
    ),
    (
        "value_ordered",
        {"trait": "age", "op": "gt", "value": "thirty"},
        {},
        "value: `gt` needs a number or an ISO date such as 2026-01-31",
    ),
    (
        "value_between",
        {"trait": "age", "op": "between", "value": [18, "2026-01-01"]},
        {},
        "value: `between` needs two numbers or two ISO dates: [low, high]",
    ),
    (
        "value_between_order",
        {"trait": "age", "op": "between", "value": [65, 18]},
        {},
        "value: `between` starts at 65 but ends below it, at 18",
    ),
    (
        "value_for_kind",
        {"computed": "last_seen_at", "op": "gte", "value": 30},
        {},
        "value: last_seen_at is a date-time: the value must be an ISO date or date-time such "
        "as 2026-01-31",
    ),
    (
        "count_value",
        {
            "all": [
                {"identity": "email"},
                {"identity": "phone"},
                {"event": ORDERS, "count": {"op": "gte", "value": -1}},
            ]
        },
        {},
        "all[2].count.value: must be a whole number >= 0",
    ),
    (
        "count_lt",
        {"event": ORDERS, "count": {"op": "lt", "value": 0}},
        {},
        "count.value: must be a whole number >= 1 (fewer than 0 times is impossible)",
    ),
    (
        "count_between",
        {"event": ORDERS, "count": {"op": "between", "value": [1]}},
        {},
        "count.value: must be two whole numbers >= 0: [low, high]",
    ),
    (
        "did_not_count",
        {"event": ORDERS, "did": False, "count": {"op": "gte", "value": 1}},
        {},
        'count: `did: false` means never: drop `count`, or keep `did: true` with {"op": "lte", '
        '"value": N} for "at most N times"',
    ),
    (
        "window_one",
        {"event": ORDERS, "within": {"last_days": 7, "last_hours": 2}},
        {},
        "within: give exactly one of last_days, last_hours or between",
    ),
    (
        "window_positive",
        {"event": ORDERS, "within": {"last_days": 0}},
        {},
        "within.last_days: must be a whole number > 0 (at most 3650)",
    ),
    (
        "window_between",
        {"event": ORDERS, "within": {"between": ["2026-01-01", "soon"]}},
        {},
        "within.between: must be two ISO dates or date-times: [start, end]",
    ),
    (
        "window_order",
        {"event": ORDERS, "within": {"between": ["2026-02-01", "2026-01-01"]}},
        {},
        "within.between: the window ends (2026-01-01) before it starts (2026-02-01)",
    ),
    (
        "too_deep",
        {
            "not": {
                "not": {
                    "not": {
                        "not": {
                            "not": {
                                "not": {"not": {"not": {"not": {"not": {"not": {"segment": "x"}}}}}}
                            }
                        }
                    }
                }
            }
        },
        {},
        "not.not.not.not.not.not.not.not.not.not: conditions are nested deeper than 10 levels",
    ),
    (
        "too_many",
        {"any": [{"segment": f"s{i}"} for i in range(MAX_CONDITIONS)]},
        {},
        "definition: the definition has more than 500 conditions",
    ),
]


@pytest.mark.parametrize(
    ("document", "options", "expected"),
    [case[1:] for case in ERROR_CASES],
    ids=[case[0] for case in ERROR_CASES],
)
def test_validation_errors(document: Any, options: dict[str, Any], expected: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_definition(document, **options)
    assert str(caught.value) == expected


def test_every_error_message_is_tested() -> None:
    tested = {case[0] for case in ERROR_CASES} | {"cycle", "suggestion"}  # cycle: below
    assert tested == set(ERRORS)


@pytest.mark.parametrize(("code", "document", "options"), [case[:3] for case in ERROR_CASES])
def test_each_problem_keeps_its_messages_code(
    code: str, document: Any, options: dict[str, Any]
) -> None:
    # The console writes a problem from its wording, in the reader's language.
    with pytest.raises(DefinitionError) as caught:
        parse_definition(document, **options)
    problems = caught.value.problems
    assert code in {p.wording.code for p in problems if p.wording}
    assert all(p.wording.text() == p.message for p in problems if p.wording)


def test_a_wording_is_written_with_a_catalog_keeping_the_users_names() -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_definition({"trait": "emial", "op": "eq", "value": 1}, traits={"email"})
    [problem] = caught.value.problems
    assert problem.wording is not None
    fields = dict(problem.wording.fields)
    assert (problem.wording.code, fields["name"]) == ("unknown_trait", "emial")
    assert isinstance(fields["suggestion"], Wording)  # translated too, unlike the names
    shouting = {
        ERRORS["unknown_trait"]: "UNKNOWN TRAIT {name!r}{suggestion}",
        ERRORS["suggestion"]: " (MEANT {name!r}?)",
    }
    assert problem.wording.text(lambda t: shouting.get(t, t)) == (
        "UNKNOWN TRAIT 'emial' (MEANT 'email'?)"
    )
    # A translation that lost a field gives the English rather than an error page.
    assert problem.wording.text(lambda t: t.replace("{name!r}", "{nmae}")) == problem.message


def test_the_depth_limit_is_inclusive() -> None:
    document: dict[str, Any] = {"segment": "x"}
    for _ in range(MAX_DEPTH):
        document = {"all": [document]}
    parse_definition(document)


def test_every_problem_is_listed_with_its_path() -> None:
    document = {
        "all": [
            {"trait": "cty", "op": "eq", "value": "Ankara"},
            {"event": ORDERS, "did": False, "count": {"op": "gte", "value": 2}},
            {"not": {"event": ORDERS, "within": {"last_days": -7}, "channel": "pos"}},
        ]
    }
    with pytest.raises(DefinitionError) as caught:
        parse_definition(document, traits={"city"})
    assert [(p.path, p.message[:30]) for p in caught.value.problems] == [
        ("all[0].trait", "unknown trait 'cty' (did you m"),
        ("all[1].count", "`did: false` means never: drop"),
        ("all[2].not.channel", "unknown channel 'pos' (did you"),
        ("all[2].not.within.last_days", "must be a whole number > 0 (at"),
    ]


def test_configured_identifier_types() -> None:
    parse_definition({"identity": "crm_id"}, identifier_types={"email", "crm_id"})
    with pytest.raises(DefinitionError, match="unknown identifier type 'crm_id'"):
        parse_definition({"identity": "crm_id"})


def test_json_text_and_the_json_form_round_trip() -> None:
    text = """{"all": [
        {"trait": "city", "op": "in", "value": ["Ankara", "İzmir"]},
        {"computed": "orders", "op": "gte", "value": 2},
        {"event": "Order Completed", "did": true, "count": {"op": "gte", "value": 2},
         "within": {"last_days": 7}, "where": [{"property": "total", "op": "gt", "value": 100}],
         "channel": "store_pos"},
        {"not": {"consent": {"channel": "sms", "purpose": "marketing"}, "granted": true}},
        {"identity": "email", "present": true},
        {"segment": "vip", "member": false}
    ]}"""
    definition = parse_definition(text)
    assert isinstance(definition, AllOf)
    assert isinstance(definition.all[3], NotOf)
    document = to_json(definition)
    assert document["all"][2] == {
        "event": "Order Completed",
        "count": {"op": "gte", "value": 2},
        "within": {"last_days": 7},
        "where": [{"property": "total", "op": "gt", "value": 100}],
        "channel": "store_pos",
    }
    assert document["all"][5] == {"segment": "vip", "member": False}
    assert parse_definition(document) == definition


def test_definitions_are_frozen() -> None:
    definition = parse_definition({"trait": "city", "op": "in", "value": ["a", "b"]})
    assert isinstance(definition, TraitCondition)
    assert definition.value == ("a", "b")
    with pytest.raises(ValueError, match="frozen"):
        definition.op = "eq"  # type: ignore[misc]


def test_event_condition_keys_are_stable() -> None:
    def key(**more: Any) -> str:
        condition = parse_definition({"event": ORDERS, **more})
        assert isinstance(condition, EventCondition)
        return condition.key

    total = {"property": "total", "op": "gt", "value": 100}
    city = {"property": "city", "op": "eq", "value": "Ankara"}
    base = key(where=[total, city], channel=["web", "store_pos"])
    # The same events, whatever the count, window, `did` or the order of filters and channels.
    assert base == key(where=[city, total], channel=["store_pos", "web"], did=False)
    assert base == key(where=[total, city], channel=["web", "store_pos"], within={"last_days": 2})
    # Other events: another key.
    assert base != key(where=[total], channel=["web", "store_pos"])
    assert base != key(where=[total, city], channel="web")
    assert key() != key(channel="web")
    # The same across processes: a hash of the JSON, not Python's hash().
    assert key() == "ev_" + hashlib.sha256(b'["Order Completed",[],[]]').hexdigest()[:20]


def test_event_conditions_and_segment_references() -> None:
    definition = parse_definition(
        {
            "any": [
                {"event": "A", "within": {"last_days": 1}},
                {"not": {"event": "A"}},
                {"event": "B"},
                {"segment": "vip"},
                {"all": [{"segment": "lapsed"}, {"segment": "vip", "member": False}]},
            ]
        }
    )
    assert [c.event for c in event_conditions(definition).values()] == ["A", "B"]
    assert segment_references(definition) == {"vip": "any[3]", "lapsed": "any[4].all[0]"}


def test_check_cycles_orders_segments() -> None:
    definitions = {
        "buyers": parse_definition({"event": ORDERS}),
        "vip": parse_definition({"all": [{"segment": "buyers"}, {"segment": "unknown"}]}),
        "vip_lapsed": parse_definition({"all": [{"segment": "vip"}, {"segment": "buyers"}]}),
    }
    order = check_cycles(definitions)
    assert sorted(order) == sorted(definitions)
    assert order.index("buyers") < order.index("vip") < order.index("vip_lapsed")


def test_check_cycles_names_the_cycle() -> None:
    definitions = {
        "a": parse_definition({"all": [{"identity": "email"}, {"segment": "b"}]}),
        "b": parse_definition({"not": {"segment": "c"}}),
        "c": parse_definition({"segment": "a"}),
    }
    with pytest.raises(DefinitionError) as caught:
        check_cycles(definitions)
    assert str(caught.value) == (
        "segment 'a': all[1].segment: segments refer to each other in a cycle: a → b → c → a"
    )
    assert caught.value.problems[0].segment == "a"


def test_check_cycles_finds_a_segment_referring_to_itself() -> None:
    definitions = {"a": parse_definition({"any": [{"identity": "email"}, {"segment": "a"}]})}
    with pytest.raises(DefinitionError, match=r"^segment 'a': any\[1\]\.segment: the segment"):
        check_cycles(definitions)
