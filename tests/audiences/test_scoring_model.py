"""Scoring models: the JSON form, every validation error's message (with its JSON path), the
defaults, and the model's text form."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from omnicx.audiences import (
    DefinitionError,
    ModelError,
    ScoringModel,
    model_event_conditions,
    model_to_json,
    parse_model,
    render_model,
    to_json,
)
from omnicx.audiences.scoring_model import DEFAULT_STAGES, STAGE_LADDER
from omnicx.audiences.scoring_phrases import SCORING_ERRORS, SCORING_PHRASES

DOCS = Path(__file__).resolve().parents[2] / "docs" / "lead-scoring.md"
DEMO = {"id": "demo", "points": 25, "when": {"event": "Demo Requested"}}
TITLE = {"id": "title", "points": 10, "when": {"trait": "job_title", "op": "exists"}}


def model(*rules: dict[str, Any], **more: Any) -> dict[str, Any]:
    """A valid model document with these rules (DEMO alone by default)."""
    return {"key": "b2b", "name": "B2B", "rules": list(rules or [DEMO]), **more}


# (the message's code in scoring_phrases.SCORING_ERRORS, the document, the error)
ERROR_CASES: list[tuple[str, Any, str]] = [
    ("not_object", [DEMO], "model: must be an object"),
    ("not_number", model({**DEMO, "points": "25"}), "rules[0].points: must be a number"),
    (
        "bad_key",
        model(stages=[{"stage": "Lead", "min": 10}]),
        "stages[0].stage: use lower-case letters, digits, - and _ (starting with a letter or "
        "digit)",
    ),
    ("no_rules", {"key": "b2b", "name": "B2B", "rules": []}, "rules: must list at least one rule"),
    ("no_stages", model(stages=[]), "stages: must list at least one stage"),
    (
        "too_many_rules",
        model(*({**DEMO, "id": f"r{i}"} for i in range(201))),
        "rules: a model has at most 200 rules",
    ),
    (
        "too_many_stages",
        model(stages=[{"stage": f"s{i}", "min": i} for i in range(21)]),
        "stages: a model has at most 20 stages",
    ),
    (
        "points",
        model({**DEMO, "points": 0}),
        "rules[0].points: must be a number other than 0, at most 1000000 either way",
    ),
    (
        "cap",
        model({**DEMO, "cap": -10}),
        "rules[0].cap: must be a number of points > 0 (at most 1000000); it limits negative "
        "rules too",
    ),
    (
        "cap_person",
        model(DEMO, {**TITLE, "cap": 10}),
        "rules[1].cap: only rules on events take a cap: a rule on the person gives its points once",
    ),
    (
        "half_life",
        model(half_life_days=0),
        "half_life_days: must be a number of days > 0 (at most 3650), or null for no decay",
    ),
    (
        "half_life_person",
        model({**TITLE, "half_life_days": None}),
        "rules[0].half_life_days: only rules on events decay: a rule on the person gives its "
        "points while it holds",
    ),
    (
        "duplicate_rule",
        model(DEMO, {**TITLE, "id": "demo"}),
        "rules[1].id: the rule id 'demo' is already used by rules[0]",
    ),
    (
        "did_not",
        model({**DEMO, "when": {"event": "Demo Requested", "did": False}}),
        "rules[0].when.did: a rule on events gives points for each matching event: drop "
        "`did: false` (points fade by themselves with a half-life)",
    ),
    (
        "count",
        model({**DEMO, "when": {"event": "Demo Requested", "count": {"op": "gte", "value": 2}}}),
        "rules[0].when.count: a rule on events gives points for each matching event: drop "
        "`count` and use the rule's `cap` to limit its points",
    ),
    (
        "event_in_person_rule",
        model({**TITLE, "when": {"all": [TITLE["when"], {"event": "Demo Requested"}]}}),
        "rules[0].when.all[1]: a rule on the person cannot test events: give events points "
        "with a rule whose `when` is a single event condition",
    ),
    (
        "duplicate_stage",
        model(stages=[{"stage": "lead", "min": 10}, {"stage": "lead", "min": 20}]),
        "stages[1].stage: the stage 'lead' is already used by stages[0]",
    ),
    (
        "stage_order",
        model(stages=[{"stage": "mql", "min": 10}, {"stage": "lead", "min": 20}]),
        "stages[1].stage: stage 'lead' cannot come after 'mql': the ladder goes subscriber → "
        "lead → mql → sql → customer, lowest first",
    ),
    (
        "stage_min",
        model(stages=[{"stage": "lead", "min": 10}, {"stage": "mql", "min": 10}]),
        "stages[1].min: must be above the previous stage's minimum (10)",
    ),
]


@pytest.mark.parametrize(
    ("document", "expected"), [case[1:] for case in ERROR_CASES], ids=[c[0] for c in ERROR_CASES]
)
def test_validation_errors(document: Any, expected: str) -> None:
    with pytest.raises(ModelError) as caught:
        parse_model(document)
    assert str(caught.value) == expected


def test_every_error_message_is_tested() -> None:
    assert {case[0] for case in ERROR_CASES} == set(SCORING_ERRORS)


@pytest.mark.parametrize("code", sorted(SCORING_ERRORS))
def test_every_error_message_is_documented(code: str) -> None:
    # Its beginning (up to a field or a code span), as the table of docs/lead-scoring.md has it.
    start = re.split(r"\{|`", SCORING_ERRORS[code])[0][:40]
    assert f"`{start}" in DOCS.read_text(), code


# Errors that come from the definitions' own messages (phrases.ERRORS), at the model's paths.
SHARED_CASES: list[tuple[Any, dict[str, Any], str]] = [
    ("{", {}, "model: not valid JSON: unexpected end of data: line 1 column 2 (char 1)"),
    ({"key": "b2b", "rules": [DEMO]}, {}, "name: is required"),
    (model({"points": 5, "when": DEMO["when"]}), {}, "rules[0].id: is required"),
    (
        model(DEMO, extra=1),
        {},
        "model: unknown key 'extra'; expected key, name, half_life_days, rules, stages, base_stage",
    ),
    (
        model({**DEMO, "lable": "Demo"}),
        {},
        "rules[0]: unknown key 'lable' (did you mean 'label'?); expected id, label, points, "
        "when, cap, half_life_days",
    ),
    (
        model(stages=[{"stage": "lead", "mn": 1}]),
        {},
        "stages[0].min: is required\n"
        "stages[0]: unknown key 'mn' (did you mean 'min'?); expected stage, min",
    ),
    (model(name=""), {}, "name: must not be empty"),
    (model({**DEMO, "label": 5}), {}, "rules[0].label: must be a text"),
    (model(rules="all"), {}, "rules: must be a list"),
    (model("demo"), {}, "rules[0]: must be an object"),
    (
        model({**DEMO, "when": "Demo Requested"}),
        {},
        "rules[0].when: not a condition: expected an object with one of the keys all, any, "
        "not, trait, computed, event, identity, consent, segment "
        "(docs/audiences-definitions.md)",
    ),
    (
        model({**TITLE, "when": {"trait": "jobtitle", "op": "exists"}}),
        {"traits": ["job_title"]},
        "rules[0].when.trait: unknown trait 'jobtitle' (did you mean 'job_title'?)",
    ),
    (
        model({**DEMO, "when": {"event": "Demo Requested", "within": {"last_days": 0}}}),
        {"events": ["Demo Requested"]},
        "rules[0].when.within.last_days: must be a whole number > 0 (at most 3650)",
    ),
    (
        model({**DEMO, "when": {"event": "Demo Request"}}),
        {"events": ["Demo Requested"]},
        "rules[0].when.event: unknown event 'Demo Request' (did you mean 'Demo Requested'?)",
    ),
    (
        model({**TITLE, "when": {"not": {"segment": "vipp"}}}),
        {"segments": ["vip"]},
        "rules[0].when.not.segment: unknown segment 'vipp' (did you mean 'vip'?)",
    ),
]


@pytest.mark.parametrize(("document", "options", "expected"), SHARED_CASES)
def test_errors_shared_with_definitions(
    document: Any, options: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ModelError) as caught:
        parse_model(document, **options)
    assert str(caught.value) == expected


def test_every_problem_is_listed_with_its_path() -> None:
    document = model(
        {**DEMO, "points": 0, "when": {"event": "Demo Requested", "channel": "webb"}},
        {**TITLE, "id": "demo", "when": {"trait": "jobtitle", "op": "exists"}, "cap": 5},
        half_life_days=4000,
        stages=[{"stage": "lead", "min": 10}, {"stage": "mql", "min": 5}],
    )
    with pytest.raises(ModelError) as caught:
        parse_model(document, traits={"job_title"})
    assert isinstance(caught.value, DefinitionError)
    assert [(p.path, p.message[:25]) for p in caught.value.problems] == [
        ("half_life_days", "must be a number of days "),
        ("rules[0].points", "must be a number other th"),
        ("rules[0].when.channel", "unknown channel 'webb' (d"),
        ("rules[1].id", "the rule id 'demo' is alr"),
        ("rules[1].when.trait", "unknown trait 'jobtitle' "),
        ("stages[1].min", "must be above the previou"),
    ]


def test_the_base_stage_and_the_ladder() -> None:
    parse_model(model(base_stage="lead", stages=[{"stage": "mql", "min": 0}]))
    parse_model(model(stages=[{"stage": "lead", "min": -5}, {"stage": "opportunity", "min": 1}]))
    with pytest.raises(ModelError, match=r"stages\[0\]\.stage: the stage 'lead' is already"):
        parse_model(model(base_stage="lead", stages=[{"stage": "lead", "min": 0}]))
    with pytest.raises(ModelError, match=r"stages\[0\]\.stage: stage 'subscriber' cannot"):
        parse_model(model(base_stage="lead", stages=[{"stage": "subscriber", "min": 0}]))


def test_defaults() -> None:
    found = parse_model(model())
    assert found.stages == DEFAULT_STAGES
    assert found.stage_names == STAGE_LADDER
    assert found.thresholds == (10, 50, 100, 200)
    assert found.half_life_days is None
    assert found.rules[0].title == "demo"
    assert found.rules[0].on_events
    person = parse_model(model(TITLE)).rules[0]
    assert not person.on_events
    with pytest.raises(TypeError, match="rule on the person"):
        _ = person.event


def test_half_lives_the_rule_overrides() -> None:
    found = parse_model(
        model(
            DEMO,
            {**DEMO, "id": "slow", "half_life_days": 90},
            {**DEMO, "id": "never", "half_life_days": None},
            half_life_days=30,
        )
    )
    assert [found.half_life(rule) for rule in found.rules] == [30, 90, None]


def test_json_text_and_the_json_form_round_trip() -> None:
    text = """{"key": "b2b", "name": "B2B", "half_life_days": 30,
      "rules": [
        {"id": "demo", "label": "Demo", "points": 25, "cap": 75,
         "when": {"event": "Demo Requested", "did": true, "channel": ["web"],
                  "within": {"last_days": 90}}},
        {"id": "unsub", "points": -20, "half_life_days": null, "when": {"event": "Unsubscribed"}},
        {"id": "title", "points": 10.5, "when": {"identity": "email", "present": true}}
      ],
      "stages": [{"stage": "lead", "min": 10}, {"stage": "mql", "min": 50.5}],
      "base_stage": "visitor"}"""
    found = parse_model(text)
    document = model_to_json(found)
    assert document == {
        "key": "b2b",
        "name": "B2B",
        "half_life_days": 30,
        "rules": [
            {
                "id": "demo",
                "label": "Demo",
                "points": 25,
                "cap": 75,
                "when": {"event": "Demo Requested", "channel": "web", "within": {"last_days": 90}},
            },
            {
                "id": "unsub",
                "points": -20,
                "half_life_days": None,
                "when": to_json(found.rules[1].when),
            },
            {"id": "title", "points": 10.5, "when": {"identity": "email"}},
        ],
        "stages": [{"stage": "lead", "min": 10}, {"stage": "mql", "min": 50.5}],
        "base_stage": "visitor",
    }
    assert document["rules"][0]["when"]["within"] == {"last_days": 90}
    assert parse_model(document) == found
    assert found.half_life(found.rules[1]) is None
    assert "stages" not in model_to_json(parse_model(model()))


def test_models_are_frozen() -> None:
    found = parse_model(model())
    assert isinstance(found, ScoringModel)
    with pytest.raises(ValueError, match="frozen"):
        found.key = "b2c"  # type: ignore[misc]


def test_rules_on_the_same_events_share_their_times() -> None:
    found = parse_model(
        model(
            DEMO,
            {
                **DEMO,
                "id": "recent",
                "when": {"event": "Demo Requested", "within": {"last_days": 7}},
            },
            {**DEMO, "id": "web", "when": {"event": "Demo Requested", "channel": "web"}},
            TITLE,
        )
    )
    conditions = model_event_conditions(found)
    assert len(conditions) == 2
    assert [c.channel for c in conditions.values()] == [None, ("web",)]
    assert all(key == c.key for key, c in conditions.items())


RENDERED = [
    'Scoring model b2b ("B2B"), points halve every 30 days',
    '+25 demo: did "Demo Requested", each time',
    '-5 unsub "Unsubscribed": did "Unsubscribed" in the last 90 days on email, each time, '
    "at most 20 in all, no decay",
    '+2.5 quick: did "Page Viewed", each time, halving every 1 day',
    "+10 title: while trait job_title is set",
    "Stages: visitor below -5 → lead from -5 → mql from 12.5",
]


def test_render_model() -> None:
    found = parse_model(
        model(
            DEMO,
            {
                "id": "unsub",
                "label": "Unsubscribed",
                "points": -5,
                "cap": 20,
                "half_life_days": None,
                "when": {"event": "Unsubscribed", "within": {"last_days": 90}, "channel": "email"},
            },
            {"id": "quick", "points": 2.5, "half_life_days": 1, "when": {"event": "Page Viewed"}},
            TITLE,
            half_life_days=30,
            base_stage="visitor",
            stages=[{"stage": "lead", "min": -5}, {"stage": "mql", "min": 12.5}],
        )
    )
    assert render_model(found).splitlines() == RENDERED
    without_decay = render_model(parse_model(model()))
    assert without_decay.splitlines()[0] == 'Scoring model b2b ("B2B"), points do not decay'


def test_every_word_of_a_model_comes_from_the_phrases(monkeypatch: pytest.MonkeyPatch) -> None:
    shouted = {
        key: re.sub(r"(^|\})([^{]*)", lambda m: m[1] + m[2].upper(), value)
        for key, value in SCORING_PHRASES.items()
    }
    monkeypatch.setattr("omnicx.audiences.scoring_text.SCORING_PHRASES", shouted)
    found = parse_model(model(DEMO, {**DEMO, "id": "x", "cap": 5, "half_life_days": 2}))
    assert render_model(found) == (
        'SCORING MODEL b2b ("B2B"), POINTS DO NOT DECAY\n'
        '+25 demo: did "Demo Requested", EACH TIME\n'
        '+25 x: did "Demo Requested", EACH TIME, AT MOST 5 IN ALL, HALVING EVERY 2 DAYS\n'
        "STAGES: subscriber BELOW 10 → lead FROM 10 → mql FROM 50 → sql FROM 100 → customer "
        "FROM 200"
    )
