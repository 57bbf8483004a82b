"""The segment builder's form and the definition's JSON form: every definition shows as rows
that build the same definition back; typed values keep their type; problems land on the row
and field they are about."""

from __future__ import annotations

from typing import Any

import pytest

from omnicx.audiences.definition import to_json
from omnicx.audiences.definition_text import render
from omnicx.audiences.errors import Problem
from omnicx.audiences.validation import parse_definition
from omnicx.console.audiences_form import (
    Row,
    apply_action,
    blank_form,
    build,
    list_text,
    parse_list,
    parse_value,
    place_problems,
    rows_from_definition,
    rows_from_form,
    value_text,
)

DEFINITIONS: list[dict[str, Any]] = [
    {"event": "Order Completed", "channel": "store_pos"},
    {"all": [
        {"computed": "open_cart", "op": "exists"},
        {"event": "Product Added", "within": {"last_hours": 24}},
        {"event": "Product Added", "did": False, "within": {"last_hours": 1}},
        {"identity": "phone"},
        {"consent": {"channel": "sms", "purpose": "marketing"}},
    ]},
    {"all": [
        {"trait": "lifecycle_stage", "op": "eq", "value": "MQL"},
        {"trait": "lead_source", "op": "in", "value": ["linkedin_ads", "webinar, live", "12"]},
        {"not": {"any": [
            {"trait": "email", "op": "contains", "value": "@gmail."},
            {"trait": "age", "op": "between", "value": [18, 65.5]},
        ]}},
    ]},
    {"event": "Order Completed", "count": {"op": "between", "value": [2, 5]},
     "within": {"between": ["2026-01-01", "2026-01-31T12:00:00Z"]},
     "where": [{"property": "total", "op": "gt", "value": 100},
               {"property": "store.city", "op": "not_in", "value": ["Izmir", "Ankara"]}],
     "channel": ["web", "ios"]},
    {"not": {"not": {"segment": "vip"}}},
    {"any": [{"segment": "vip", "member": False}, {"identity": "email", "present": False},
             {"consent": {"channel": "all", "purpose": "advertising"}, "granted": False},
             {"all": [{"trait": "vip", "op": "eq", "value": True},
                      {"trait": "zip", "op": "eq", "value": "01234"}]}]},
]  # fmt: skip


def _form(root: Row) -> dict[str, list[str]]:
    """The fields a browser would post for these rows."""
    form: dict[str, list[str]] = {}
    for row in root.walk():
        form[f"{row.path}.kind"] = [row.kind]
        if row.negate:
            form[f"{row.path}.negate"] = ["on"]
        if row.is_group:
            form[f"{row.path}.match"] = [row.match]
            continue
        for name, value in row.values.items():
            form[f"{row.path}.{name}"] = [value]
        form[f"{row.path}.channel"] = list(row.channels)
        for i, check in enumerate(row.filters):
            for name, value in check.items():
                form[f"{row.path}.where-{i}.{name}"] = [value]
    return form


@pytest.mark.parametrize("number", range(len(DEFINITIONS)))
def test_a_definition_shows_as_rows_that_build_it_back(number: int) -> None:
    document = to_json(parse_definition(DEFINITIONS[number]))
    rows = rows_from_definition(document)
    assert build(rows).problems == []
    rebuilt = parse_definition(build(rows).document)
    assert render(rebuilt) == render(parse_definition(document))
    # Through the posted form as well: the browser sends the fields the rows show.
    posted = rows_from_form(_form(rows))
    assert render(parse_definition(build(posted).document)) == render(rebuilt)


def test_one_condition_is_saved_without_a_group_around_it() -> None:
    rows = rows_from_definition({"event": "Signed Up"})
    assert [r.path for r in rows.walk()] == ["c", "c-0"]
    assert build(rows).document == {"event": "Signed Up"}


@pytest.mark.parametrize(
    ("text", "value"),
    [("12", 12), ("12.5", 12.5), ("-3", -3), ("1e3", 1000.0), ("true", True), ("FALSE", False),
     ("01234", "01234"), ('"12"', "12"), ("Ankara", "Ankara"), ("2026-01-31", "2026-01-31"),
     ('"say \\"hi\\""', 'say "hi"')],
)  # fmt: skip
def test_typed_values_keep_their_type(text: str, value: Any) -> None:
    assert parse_value(text) == value
    assert type(parse_value(text)) is type(value)
    assert parse_value(value_text(value)) == value


def test_lists_are_comma_separated_and_quoted_when_they_hold_commas() -> None:
    values = ["a, b", 12, "12", True, "plain"]
    assert parse_list(list_text(values)) == values
    assert parse_list("x,, y ,") == ["x", "y"]


def test_buttons_add_and_remove_rows_and_filters() -> None:
    rows = blank_form()
    assert apply_action(rows, "group:c")
    assert apply_action(rows, "add:c-1")
    assert apply_action(rows, "filter:c-0")
    assert [r.path for r in rows.walk()] == ["c", "c-0", "c-1", "c-1-0", "c-1-1"]
    assert len(rows.children[0].filters) == 1
    assert apply_action(rows, "unfilter:c-0:0") and rows.children[0].filters == []
    assert apply_action(rows, "remove:c-1-0")
    assert apply_action(rows, "add:c-1")
    assert [r.path for r in rows.walk()] == ["c", "c-0", "c-1", "c-1-1", "c-1-2"]
    assert not apply_action(rows, "remove:c")  # the outer group stays
    assert not apply_action(rows, "add:c-9")
    assert apply_action(rows, "group:c-1")
    assert not apply_action(rows, "group:c-1-3")  # three levels at most


def test_tampered_forms_give_rows_the_domain_can_judge() -> None:
    rows = rows_from_form({"c.kind": ["group"], "c-0.kind": ["bogus"], "c-0-0.kind": ["trait"],
                           "x.kind": ["event"], "c-7-1.kind": ["event"]})  # fmt: skip
    assert [r.path for r in rows.walk()] == ["c", "c-0"]
    assert rows.children[0].kind == "event"
    assert rows_from_form({}).children[0].kind == "event"


def test_problems_land_on_their_row_and_field() -> None:
    rows = rows_from_definition(
        {"all": [{"event": "X", "within": {"last_days": 3}},
                 {"not": {"any": [{"trait": "a", "op": "eq", "value": 1},
                                  {"event": "Y", "where": [{"property": "p", "op": "eq",
                                                            "value": 1}]}]}}]}
    )  # fmt: skip
    rows.children[1].children[1].filters.insert(0, {"property": "", "op": "eq", "value": ""})
    build(rows)
    left = place_problems(
        rows,
        [
            Problem("all[0].within.last_days", "bad window"),
            Problem("all[1].not.any[0].value", "bad value"),
            Problem("all[1].not.any[1].where[0].value", "bad filter"),
            Problem("all[1].not.any", "bad group"),
            Problem("", "too many"),
        ],
    )
    first, group = rows.children
    assert [(e.field, e.message) for e in first.errors] == [("span", "bad window")]
    assert [(e.field, e.message) for e in group.children[0].errors] == [("value", "bad value")]
    assert [(e.field, e.message) for e in group.children[1].errors] == [("where-1", "bad filter")]
    assert [(e.field, e.message) for e in group.errors] == [(None, "bad group")]
    assert [(e.field, e.message) for e in rows.errors] == [(None, "too many")]
    assert left == []


def test_did_not_with_a_count_is_the_builders_own_problem() -> None:
    rows = blank_form()
    rows.children[0].values.update(event="X", did="did_not", times="gte", n="2")
    built = build(rows)
    assert built.document == {"event": "X", "did": False}
    assert [(r.path, e.field, e.code) for r, e in built.problems] == [
        ("c-0", "times", "did_not_count")
    ]
