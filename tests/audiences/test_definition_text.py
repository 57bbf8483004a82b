"""The text form: examples of every kind of condition, parentheses only where needed."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from omnicx.audiences import parse_definition, render
from omnicx.audiences.phrases import PHRASES

DOCS = Path(__file__).resolve().parents[2] / "docs" / "audiences-definitions.md"

EXAMPLES: list[tuple[Any, str]] = [
    (
        {
            "all": [
                {"computed": "orders", "op": "gte", "value": 2},
                {
                    "event": "Order Completed",
                    "count": {"op": "gte", "value": 2},
                    "within": {"last_days": 7},
                    "where": [{"property": "total", "op": "gt", "value": 100}],
                    "channel": "store_pos",
                },
                {"not": {"consent": {"channel": "sms", "purpose": "marketing"}}},
            ]
        },
        'orders ≥ 2 AND did "Order Completed" at least 2 times in the last 7 days on store_pos '
        "where total > 100 AND NOT (consent sms/marketing granted)",
    ),
    # Traits say `trait`; texts are quoted, numbers, true/false and dates are not.
    ({"trait": "city", "op": "eq", "value": "Ankara"}, 'trait city = "Ankara"'),
    ({"trait": "age", "op": "neq", "value": 30}, "trait age ≠ 30"),
    ({"trait": "zip", "op": "eq", "value": "34000"}, 'trait zip = "34000"'),
    ({"trait": "vip", "op": "eq", "value": True}, "trait vip = true"),
    ({"trait": "signup", "op": "gte", "value": "2026-01-01"}, "trait signup ≥ 2026-01-01"),
    ({"trait": "age", "op": "lt", "value": 18.5}, "trait age < 18.5"),
    ({"trait": "age", "op": "lte", "value": 65}, "trait age ≤ 65"),
    ({"trait": "age", "op": "gt", "value": 65}, "trait age > 65"),
    ({"trait": "age", "op": "between", "value": [18, 65]}, "trait age between 18 and 65"),
    (
        {"trait": "city", "op": "in", "value": ["Ankara", "İzmir"]},
        'trait city is one of ("Ankara", "İzmir")',
    ),
    ({"trait": "plan", "op": "not_in", "value": ["free"]}, 'trait plan is not one of ("free")'),
    ({"trait": "email", "op": "contains", "value": "@acme"}, 'trait email contains "@acme"'),
    ({"trait": "zip", "op": "starts_with", "value": "34"}, 'trait zip starts with "34"'),
    ({"trait": "company", "op": "exists"}, "trait company is set"),
    ({"trait": "company", "op": "not_exists"}, "trait company is not set"),
    # Names that are not plain words, or are our words, are quoted.
    ({"trait": "first name", "op": "exists"}, 'trait "first name" is set'),
    ({"trait": "and", "op": "exists"}, 'trait "and" is set'),
    ({"trait": 'say "hi"', "op": "exists"}, 'trait "say \\"hi\\"" is set'),
    (
        {"computed": "last_order.at", "op": "lt", "value": "2026-01-01T00:00:00Z"},
        "last_order.at < 2026-01-01T00:00:00Z",
    ),
    ({"computed": "channels", "op": "contains", "value": "ios"}, 'channels contains "ios"'),
    # Events.
    ({"event": "App Opened"}, 'did "App Opened"'),
    ({"event": "App Opened", "did": False}, 'did not do "App Opened"'),
    (
        {"event": "Order Completed", "count": {"op": "lte", "value": 1}},
        'did "Order Completed" at most 1 time',
    ),
    (
        {"event": "Order Completed", "count": {"op": "eq", "value": 3}},
        'did "Order Completed" exactly 3 times',
    ),
    (
        {"event": "Order Completed", "count": {"op": "gt", "value": 3}},
        'did "Order Completed" more than 3 times',
    ),
    (
        {"event": "Order Completed", "count": {"op": "lt", "value": 3}},
        'did "Order Completed" fewer than 3 times',
    ),
    (
        {"event": "Order Completed", "count": {"op": "between", "value": [2, 5]}},
        'did "Order Completed" between 2 and 5 times',
    ),
    ({"event": "X", "within": {"last_days": 1}}, 'did "X" in the last day'),
    ({"event": "X", "within": {"last_hours": 1}}, 'did "X" in the last hour'),
    ({"event": "X", "within": {"last_hours": 24}}, 'did "X" in the last 24 hours'),
    (
        {"event": "X", "within": {"between": ["2026-01-01", "2026-02-01T12:00:00Z"]}},
        'did "X" between 2026-01-01 and 2026-02-01T12:00:00Z',
    ),
    (
        {
            "event": "X AND Y",
            "channel": ["ios", "android"],
            "where": [
                {"property": "total", "op": "between", "value": [10, 20]},
                {"property": "coupon", "op": "exists"},
            ],
        },
        'did "X AND Y" on ios or android where total between 10 and 20 and coupon is set',
    ),
    # Identities, consent, segments.
    ({"identity": "email"}, "has email"),
    ({"identity": "phone", "present": False}, "has no phone"),
    (
        {"consent": {"channel": "email", "purpose": "advertising"}, "granted": False},
        "consent email/advertising not granted",
    ),
    ({"segment": "vip"}, "in segment vip"),
    ({"segment": "big spenders", "member": False}, 'not in segment "big spenders"'),
    # Parentheses: around a group inside a group of the other kind, and after NOT.
    (
        {"any": [{"segment": "a"}, {"all": [{"segment": "b"}, {"segment": "c"}]}]},
        "in segment a OR (in segment b AND in segment c)",
    ),
    (
        {"all": [{"segment": "a"}, {"all": [{"segment": "b"}, {"segment": "c"}]}]},
        "in segment a AND in segment b AND in segment c",
    ),
    (
        {"all": [{"any": [{"segment": "a"}, {"segment": "b"}]}, {"segment": "c"}]},
        "(in segment a OR in segment b) AND in segment c",
    ),
    ({"all": [{"any": [{"segment": "a"}]}, {"segment": "c"}]}, "in segment a AND in segment c"),
    ({"all": [{"segment": "a"}]}, "in segment a"),
    (
        {"not": {"any": [{"segment": "a"}, {"segment": "b"}]}},
        "NOT (in segment a OR in segment b)",
    ),
    (
        {"any": [{"not": {"segment": "a"}}, {"not": {"not": {"segment": "b"}}}]},
        "NOT (in segment a) OR NOT (NOT (in segment b))",
    ),
]


@pytest.mark.parametrize(("document", "text"), EXAMPLES)
def test_render(document: Any, text: str) -> None:
    assert render(parse_definition(document)) == text


def test_the_classic_segments() -> None:
    bought_in_store_never_app = {
        "all": [
            {"event": "Order Completed", "channel": "store_pos"},
            {"event": "Application Opened", "did": False},
        ]
    }
    assert render(parse_definition(bought_in_store_never_app)) == (
        'did "Order Completed" on store_pos AND did not do "Application Opened"'
    )


def test_every_word_comes_from_the_phrases() -> None:
    # Upper-case every phrase outside its {fields}: only names and values stay as they are.
    shouted = {
        key: re.sub(r"(^|\})([^{]*)", lambda m: m[1] + m[2].upper(), value)
        for key, value in PHRASES.items()
    }
    definition = parse_definition(EXAMPLES[0][0])
    text = render(definition, shouted)
    assert render(definition) != text  # the default words are back after a translation
    assert text == (
        'orders ≥ 2 AND DID "Order Completed" AT LEAST 2 TIMES IN THE LAST 7 DAYS ON store_pos '
        "WHERE total > 100 AND NOT (CONSENT sms/marketing GRANTED)"
    )


def test_the_documentation_examples() -> None:
    """Every JSON example of the docs is a valid definition, and the text block right after
    one shows what `render` says."""
    fence = re.compile(r"```json\n(.*?)```\s*(?:```text\n(.*?)```)?", re.DOTALL)
    checked = 0
    for found in fence.finditer(DOCS.read_text()):
        decoder, text, documents = json.JSONDecoder(), found[1].strip(), []
        while text:
            document, end = decoder.raw_decode(text)
            documents.append(document)
            text = text[end:].strip()
        definitions = [parse_definition(d) for d in documents]
        if found[2] is not None:
            assert len(definitions) == 1
            assert render(definitions[0]) == found[2].strip()
            checked += 1
    assert checked >= 4
