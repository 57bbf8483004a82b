"""Scores on hand-picked cases: decay, caps after decay, negative points, windows, events
still to come, thresholds, rules on the person, explanations (text and JSON), stage changes,
and the worked example of docs/lead-scoring.md, checked against the code."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from omnicx.audiences import (
    STAGE_CHANGED_EVENT,
    EventFact,
    MissingEventTimes,
    PersonFacts,
    ScoringModel,
    model_event_times,
    next_stage_change_at,
    parse_model,
    render_model,
    render_score,
    score,
    score_to_json,
    stage_change,
    stage_changes,
    stage_of,
)
from omnicx.audiences.scoring_phrases import SCORING_PHRASES
from omnicx.audiences.scoring_text import points_text, total_text

DOCS = Path(__file__).resolve().parents[2] / "docs" / "lead-scoring.md"
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
TICK = timedelta(microseconds=1)
DAY = timedelta(days=1)


def scoring(*rules: dict[str, Any], **more: Any) -> ScoringModel:
    return parse_model({"key": "m", "name": "M", "rules": list(rules), **more})


def on(event: str, points: float, **more: Any) -> dict[str, Any]:
    """A rule on events named after its event."""
    when = {"event": event, **more.pop("when", {})}
    return {"id": event.lower().replace(" ", "-"), "points": points, "when": when, **more}


def facts(model: ScoringModel, *events: tuple[str, datetime], **more: Any) -> PersonFacts:
    found = [EventFact(name, at, more.pop("channel", "web")) for name, at in events]
    return PersonFacts(events=model_event_times(model, found), **more)


def test_points_halve_every_half_life() -> None:
    model = scoring(on("Demo", 25), half_life_days=30)
    person = facts(model, ("Demo", NOW - 30 * DAY), ("Demo", NOW - 60 * DAY), ("Demo", NOW))
    found = score(model, person, NOW)
    assert [c.decayed for c in found.rules[0].contributions] == [6.25, 12.5, 25.0]
    assert found.total == 43.75
    assert score(model, person, NOW + 30 * DAY).total == 43.75 / 2


def test_a_rule_may_not_decay() -> None:
    model = scoring(on("Demo", 25), on("Order", 100, half_life_days=None), half_life_days=7)
    person = facts(model, ("Demo", NOW - 7 * DAY), ("Order", NOW - 700 * DAY))
    assert [p.points for p in score(model, person, NOW).rules] == [12.5, 100]


def test_the_cap_applies_after_decay() -> None:
    model = scoring(on("Demo", 25, cap=40), half_life_days=1)
    person = facts(model, ("Demo", NOW - DAY), ("Demo", NOW - TICK * 0), ("Demo", NOW))
    found = score(model, person, NOW)
    part = found.rules[0]
    assert (part.uncapped, part.points, part.capped) == (62.5, 40, True)
    # Two days on the sum is 15.625: under the cap, it decays freely.
    later = score(model, person, NOW + 2 * DAY).rules[0]
    assert (later.uncapped, later.points, later.capped) == (15.625, 15.625, False)


def test_negative_points_and_their_cap() -> None:
    model = scoring(
        on("Demo", 30), on("Unsubscribed", -15, cap=20), stages=[{"stage": "lead", "min": 10}]
    )
    person = facts(model, ("Demo", NOW), *[("Unsubscribed", NOW - i * DAY) for i in range(3)])
    found = score(model, person, NOW)
    assert [p.points for p in found.rules] == [30, -20]
    assert found.rules[1].uncapped == -45
    assert (found.total, found.stage) == (10, "lead")
    assert score(model, facts(model, *[("Unsubscribed", NOW)] * 2), NOW).stage == "subscriber"


def test_sliding_windows() -> None:
    model = scoring(
        on("Pricing", 10, when={"within": {"last_days": 7}}), stages=[{"stage": "lead", "min": 10}]
    )
    person = facts(model, ("Pricing", NOW - 7 * DAY), ("Pricing", NOW - 3 * DAY))
    found = score(model, person, NOW)
    # Seven days old exactly: out, as in segments.
    assert [c.at for c in found.rules[0].contributions] == [NOW - 3 * DAY]
    assert found.stage == "lead"
    assert next_stage_change_at(model, person, NOW) == NOW + 4 * DAY
    assert score(model, person, NOW + 4 * DAY - TICK).stage == "lead"
    assert score(model, person, NOW + 4 * DAY).stage == "subscriber"


def test_fixed_windows() -> None:
    window = {"within": {"between": ["2026-03-01", "2026-03-05"]}}
    model = scoring(on("Webinar", 20, when=window), stages=[{"stage": "lead", "min": 20}])
    person = facts(model, ("Webinar", NOW - 20 * DAY), ("Webinar", NOW - 6 * DAY))
    assert score(model, person, NOW).total == 20
    person = facts(model, ("Webinar", NOW - 20 * DAY), ("Webinar", NOW + 6 * DAY))
    assert score(model, person, NOW).total == 0
    assert next_stage_change_at(model, person, NOW) is None


def test_events_still_to_come_count_from_their_time() -> None:
    model = scoring(on("Demo", 25), stages=[{"stage": "lead", "min": 10}])
    person = facts(model, ("Demo", NOW + DAY))
    assert score(model, person, NOW).rules == ()
    assert next_stage_change_at(model, person, NOW) == NOW + DAY
    assert score(model, person, NOW + DAY).stage == "lead"


def test_next_stage_change_at_finds_a_crossing_by_decay() -> None:
    model = scoring(on("Demo", 20), half_life_days=1, stages=[{"stage": "lead", "min": 10}])
    person = facts(model, ("Demo", NOW))
    # 20 points are 10 after a day, still a lead; a few milliseconds later they are below
    # 9.9999995, which no longer rounds to 10.
    change = next_stage_change_at(model, person, NOW)
    assert change is not None
    assert timedelta(0) < change - (NOW + DAY) < timedelta(milliseconds=10)
    assert score(model, person, change - TICK).stage == "lead"
    assert score(model, person, change).stage == "subscriber"
    assert next_stage_change_at(model, person, change) is None


def test_next_stage_change_at_when_nothing_moves() -> None:
    model = scoring(on("Demo", 20), {"id": "t", "points": 5, "when": {"identity": "email"}})
    person = facts(model, ("Demo", NOW - 400 * DAY))
    assert next_stage_change_at(model, person, NOW) is None
    assert score(model, person, NOW).stage == "lead"


def test_opposite_rules_on_the_same_events_cancel_out() -> None:
    # +5 and -5 for each event, decaying alike: the total stays 0, the stage never changes.
    model = scoring(
        on("Demo", 5),
        {**on("Demo", -5), "id": "minus"},
        half_life_days=0.25,
        stages=[{"stage": "lead", "min": 0}],
    )
    person = facts(model, *[("Demo", NOW - i * timedelta(hours=5)) for i in range(10)])
    assert score(model, person, NOW).stage == "lead"
    assert next_stage_change_at(model, person, NOW) is None


def test_thresholds() -> None:
    model = scoring(on("Demo", 0.7), on("Call", 0.1), stages=[{"stage": "lead", "min": 0.8}])
    person = facts(model, ("Demo", NOW), ("Call", NOW))
    found = score(model, person, NOW)
    assert found.total == 0.7999999999999999  # float noise ...
    assert found.stage == "lead"  # ... compared at a millionth
    assert total_text(found.total) == "0.8"
    assert stage_of(model, 0.8) == "lead"
    assert stage_of(model, 0.7999994) == "subscriber"
    assert stage_of(model, -50) == "subscriber"
    assert [stage_of(scoring(on("Demo", 1)), n) for n in (9.99, 10, 49, 50, 100, 200, 1e9)] == [
        "subscriber",
        "lead",
        "lead",
        "mql",
        "sql",
        "customer",
        "customer",
    ]


def test_rules_on_the_person() -> None:
    model = scoring(
        {
            "id": "director",
            "points": 15,
            "when": {"trait": "title", "op": "contains", "value": "dir"},
        },
        {"id": "vip", "points": 5, "when": {"segment": "vip"}},
        {
            "id": "gmail",
            "points": -10,
            "when": {"trait": "email", "op": "contains", "value": "@gmail."},
        },
    )
    person = PersonFacts(traits={"title": "Director", "email": "a@b.com"}, memberships={"vip"})
    found = score(model, person, NOW)
    assert [(p.rule.id, p.points, p.contributions) for p in found.rules] == [
        ("director", 15, ()),
        ("vip", 5, ()),
    ]
    assert found.total == 20
    assert score(model, PersonFacts(traits={"email": "x@gmail.com"}), NOW).total == -10


def test_missing_event_times() -> None:
    model = scoring(on("Demo", 20))
    with pytest.raises(MissingEventTimes, match="model_event_times"):
        score(model, PersonFacts(), NOW)


def test_naive_instants_are_utc() -> None:
    model = scoring(on("Demo", 8), half_life_days=1)
    person = facts(model, ("Demo", datetime(2026, 3, 9, 12)))
    assert score(model, person, datetime(2026, 3, 10, 12)).total == 4
    assert score(model, person, datetime(2026, 3, 10, 12)).at == NOW


def test_stage_change_events() -> None:
    model = scoring(on("Demo", 60))
    before = score(model, facts(model), NOW)
    after = score(model, facts(model, ("Demo", NOW)), NOW)
    assert stage_change(model, before, before) is None
    up = stage_change(model, before, after)
    assert up is not None
    assert (up.from_stage, up.to_stage, up.direction, up.at) == ("subscriber", "mql", "up", NOW)
    assert up.properties() == {
        "model": "m",
        "from_stage": "subscriber",
        "to_stage": "mql",
        "direction": "up",
        "score": 60,
    }
    down = stage_change(model, after, before)
    assert down is not None
    assert down.direction == "down"
    assert STAGE_CHANGED_EVENT == "Lead Stage Changed"


def test_points_text() -> None:
    assert [points_text(n) for n in (25, 12.5, 12.25, 12.35, 0.04, -0.04, -5)] == [
        "25",
        "12.5",
        "12.2",
        "12.4",
        "0",
        "0",
        "-5",
    ]
    assert [points_text(n, signed=True) for n in (25, -5, 0)] == ["+25", "-5", "0"]
    # Totals round down, so that none shows a threshold before reaching it.
    assert [total_text(n) for n in (9.96, 10, 49.9999996, -0.04)] == ["9.9", "10", "50", "-0.1"]


def test_an_explanation_in_words() -> None:
    model = scoring(
        {**on("Demo", 25, cap=30), "label": "Asked for a demo"},
        on("Unsubscribed", -5, half_life_days=None),
        {"id": "vip", "points": 5, "when": {"segment": "vip"}},
        half_life_days=2,
    )
    person = facts(
        model,
        ("Demo", NOW - 2 * DAY),
        ("Demo", NOW - timedelta(hours=1, seconds=30)),
        ("Unsubscribed", NOW - DAY),
        memberships={"vip"},
    )
    assert render_score(model, score(model, person, NOW)) == (
        "m at 2026-03-10 12:00 UTC: 30 points, stage lead; 20 more to mql (from 50)\n"
        '  demo "Asked for a demo": +30 (capped at 30; +37.1 before the cap)\n'
        "      2026-03-08 12:00 UTC: +25, now +12.5\n"
        "      2026-03-10 10:59:30 UTC: +25, now +24.6\n"
        "  unsubscribed: -5\n"
        "      2026-03-09 12:00 UTC: -5\n"
        "  vip: +5\n"
        "      while in segment vip"
    )
    assert render_score(model, score(model, facts(model), NOW)) == (
        "m at 2026-03-10 12:00 UTC: 0 points, stage subscriber; 10 more to lead (from 10)\n"
        "  no rule gives points"
    )
    top = scoring(on("Order", 500))
    assert render_score(top, score(top, facts(top, ("Order", NOW)), NOW)).splitlines()[0] == (
        "m at 2026-03-10 12:00 UTC: 500 points, stage customer"
    )


def test_every_word_of_an_explanation_comes_from_the_phrases(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shouted = {
        key: re.sub(r"(^|\})([^{]*)", lambda m: m[1] + m[2].upper(), value)
        for key, value in SCORING_PHRASES.items()
    }
    monkeypatch.setattr("omnicx.audiences.scoring_text.SCORING_PHRASES", shouted)
    model = scoring(on("Demo", 25, cap=10), on("Call", 5), half_life_days=1)
    person = facts(model, ("Demo", NOW), ("Call", NOW - DAY))
    assert render_score(model, score(model, person, NOW)) == (
        "m AT 2026-03-10 12:00 UTC: 12.5 POINTS, STAGE lead; 37.5 MORE TO mql (FROM 50)\n"
        "  demo: +10 (CAPPED AT 10; +25 BEFORE THE CAP)\n"
        "      2026-03-10 12:00 UTC: +25, NOW +25\n"
        "  call: +2.5\n"
        "      2026-03-09 12:00 UTC: +5, NOW +2.5"
    )
    assert render_score(model, score(model, facts(model), NOW)).endswith("NO RULE GIVES POINTS")


def test_the_score_as_json() -> None:
    model = scoring(on("Demo", 25, cap=30), {"id": "t", "points": 1, "when": {"identity": "email"}})
    person = facts(model, ("Demo", NOW), ("Demo", NOW - DAY), identities={"email": {"a@b.c"}})
    assert score_to_json(score(model, person, NOW)) == {
        "model": "m",
        "at": "2026-03-10T12:00:00Z",
        "total": 31.0,
        "stage": "lead",
        "rules": [
            {
                "rule": "demo",
                "points": 30.0,
                "uncapped": 50.0,
                "events": [
                    {"at": "2026-03-09T12:00:00Z", "points": 25.0, "decayed": 25.0},
                    {"at": "2026-03-10T12:00:00Z", "points": 25.0, "decayed": 25.0},
                ],
            },
            {"rule": "t", "points": 1.0},
        ],
    }


# --- docs/lead-scoring.md: the worked example is what the code says ---


def blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", DOCS.read_text(), re.DOTALL)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_the_worked_example() -> None:
    text = DOCS.read_text()
    model = parse_model(blocks("json")[0])
    assert render_model(model) == blocks("text")[0].strip()
    # Ada's events, from the table of the docs.
    rows = re.findall(
        r"^\| (Demo Requested|Page Viewed) \| ([\d: -]+) \| (\w+) \|(.*)\|$", text, re.M
    )
    assert len(rows) == 7
    events = [
        EventFact(name, utc(at.strip()), channel, json.loads(props.strip(" `") or "{}"))
        for name, at, channel, props in rows
    ]
    person = PersonFacts(
        traits={"job_title": "Marketing Director", "email": "ada@example.com"},
        events=model_event_times(model, events),
    )
    found = score(model, person, utc("2026-03-10 12:00"))
    assert render_score(model, found) == blocks("text")[1].strip()
    assert score_to_json(found) == json.loads(blocks("json")[1])
    change = next_stage_change_at(model, person, found.at)
    assert change == utc("2026-03-26 04:10:59.656966")
    assert "**2026-03-26 at 04:10:59.656966 UTC**" in text
    history = stage_changes(model, person, utc("2026-02-01 00:00"), utc("2026-12-31 00:00"))
    table = [
        f"| {c.at.strftime('%Y-%m-%d %H:%M:%S.%f').removesuffix(':00.000000')} | {c.from_stage} "
        f"| {c.to_stage} | {round(c.score, 6)} |"
        for c in history
    ]
    assert table == [
        "| 2026-03-09 14:05 | lead | mql | 50.132326 |",
        "| 2026-03-26 04:10:59.656966 | mql | lead | 49.999999 |",
    ]
    assert all(row in text for row in table)


def test_the_default_stages_of_the_docs() -> None:
    stages = json.loads(blocks("json")[2])["stages"]
    default = scoring(on("Demo", 1))
    assert [(s.stage, s.min) for s in default.stages] == [(s["stage"], s["min"]) for s in stages]
