"""Lead scores against a naive reference on random models and people: totals, every rule's
part and events, caps, negative points, stages, decay halving after one half-life, and
`next_stage_change_at` (the stage has changed at the instant it returns, not a microsecond
before, and at no instant checked before it)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, note, settings
from hypothesis import strategies as st

from omnicx.audiences import EventFact, PersonFacts
from omnicx.audiences.scoring import (
    model_event_times,
    next_stage_change_at,
    next_stage_check_at,
    score,
    stage_changes,
)
from omnicx.audiences.scoring_model import ScoringModel
from omnicx.audiences.scoring_validation import parse_model
from tests.audiences import reference_evaluate as ref
from tests.audiences.test_evaluate_reference import (
    DATES,
    INSTANTS,
    NOW,
    SETTINGS,
    TICK,
    TRAITS,
    compared,
    computed_condition,
    definitions,
    people,
)

LADDER = ["lead", "mql", "sql", "customer"]
DEFAULT_MINS = [10, 50, 100, 200]
FEWER = settings(SETTINGS, max_examples=100)
"""For the properties that follow from the others."""
MARGIN = 1e-5
"""Totals this close to a threshold may fall either side (float sums in another order)."""


# --- the reference: the JSON form read naively, every event rescanned at every instant ---


def event_matches(when: dict[str, Any], event: ref.RawEvent) -> bool:
    channels = when.get("channel")
    if isinstance(channels, str):
        channels = [channels]
    return (
        event.name == when["event"]
        and (channels is None or event.channel in channels)
        and all(
            ref.check(w["op"], ref.prop(event.properties, w["property"]), w.get("value"))
            for w in when.get("where", [])
        )
    )


def rule_points(
    document: dict[str, Any], rule: dict[str, Any], person: ref.RawPerson, now: datetime
) -> tuple[float, list[tuple[datetime, float]]]:
    """What a rule gives at `now`, and each counted event's time and decayed points."""
    when = rule["when"]
    if "event" not in when:
        return (rule["points"] if ref.holds(when, person, now) else 0.0), []
    half_life = (
        rule["half_life_days"] if "half_life_days" in rule else document.get("half_life_days")
    )
    terms = []
    for event in sorted(person.events, key=lambda e: e.ts):
        if event_matches(when, event) and ref.in_window(when.get("within"), event.ts, now):
            age = (now - event.ts).total_seconds() / 86400
            factor = 0.5 ** (age / half_life) if half_life else 1.0
            terms.append((event.ts, rule["points"] * factor))
    points = sum(p for _, p in terms)
    if "cap" in rule:
        points = max(-rule["cap"], min(rule["cap"], points))
    return points, terms


def total_points(document: dict[str, Any], person: ref.RawPerson, now: datetime) -> float:
    return sum(rule_points(document, r, person, now)[0] for r in document["rules"])


def thresholds(document: dict[str, Any]) -> list[tuple[str, float]]:
    if "stages" not in document:
        return list(zip(LADDER, DEFAULT_MINS, strict=True))
    return [(s["stage"], s["min"]) for s in document["stages"]]


def stage(document: dict[str, Any], total: float) -> str:
    found = document.get("base_stage", "subscriber")
    for name, low in thresholds(document):
        if total >= low:
            found = name
    return found


def near_a_threshold(document: dict[str, Any], total: float) -> bool:
    return any(abs(total - low) < MARGIN for _, low in thresholds(document))


# --- random models ---

HALF_LIVES = st.sampled_from([0.25, 0.5, 1, 2, 1 / 24])
WHERE = st.lists(compared("property", ["total", "kind"]), max_size=1)


@st.composite
def event_when(draw: st.DrawFn) -> dict[str, Any]:
    when: dict[str, Any] = {"event": draw(st.sampled_from(["A", "B"]))}
    window = draw(st.sampled_from(["none", "none", "days", "hours", "between"]))
    if window == "days":
        when["within"] = {"last_days": draw(st.integers(1, 3))}
    elif window == "hours":
        when["within"] = {"last_hours": draw(st.sampled_from([1, 5, 24, 36]))}
    elif window == "between":
        start = draw(st.sampled_from(DATES[:3] + INSTANTS[:2]))
        later = [d for d in DATES + INSTANTS if ref.as_instant(d) > ref.as_instant(start)]
        when["within"] = {"between": [start, draw(st.sampled_from(later))]}
    if draw(st.booleans()):
        when["channel"] = draw(st.sampled_from(["web", "store_pos", ["web", "ios"]]))
    if draw(st.integers(0, 3)) == 0:
        when["where"] = draw(WHERE)
    return when


PERSON_LEAVES = st.one_of(
    compared("trait", TRAITS),
    computed_condition(),
    st.builds(lambda t: {"identity": t}, st.sampled_from(["email", "phone"])),
    st.builds(
        lambda ch: {"consent": {"channel": ch, "purpose": "marketing"}},
        st.sampled_from(["sms", "email"]),
    ),
    st.builds(lambda s: {"segment": s}, st.sampled_from(["vip", "lapsed"])),
)
PERSON_CONDITIONS = definitions(PERSON_LEAVES)
EVENT_CONDITIONS = event_when()
POINTS = st.sampled_from([-20, -5, -1, 1, 2.5, 5, 10, 25])


@st.composite
def models(draw: st.DrawFn, events_only: bool = False) -> dict[str, Any]:
    rules = []
    for i in range(draw(st.integers(1, 4))):
        rule: dict[str, Any] = {"id": f"r{i}", "points": draw(POINTS)}
        if events_only or draw(st.integers(0, 3)) > 0:
            rule["when"] = draw(EVENT_CONDITIONS)
            if draw(st.booleans()):
                rule["cap"] = draw(st.sampled_from([1, 5, 12.5, 30]))
            if draw(st.booleans()):
                rule["half_life_days"] = draw(st.one_of(st.none(), HALF_LIVES))
        else:
            rule["when"] = draw(PERSON_CONDITIONS)
        rules.append(rule)
    document: dict[str, Any] = {"key": "m", "name": "M", "rules": rules}
    if draw(st.booleans()):
        document["half_life_days"] = draw(HALF_LIVES)
    if draw(st.integers(0, 3)) > 0:
        count = draw(st.integers(1, 4))
        lows = draw(
            st.lists(
                st.sampled_from([-10, -2, 0, 1, 5, 7.5, 10, 20, 30, 50]),
                min_size=count,
                max_size=count,
                unique=True,
            )
        )
        document["stages"] = [
            {"stage": name, "min": low} for name, low in zip(LADDER, sorted(lows), strict=False)
        ]
    return document


def facts_for(model: Any, person: ref.RawPerson) -> PersonFacts:
    events = [EventFact(e.name, e.ts, e.channel, e.properties) for e in person.events]
    return PersonFacts(
        traits=person.traits,
        computed=person.computed,
        identities=person.identities,
        consents=person.consents,
        memberships=frozenset(person.memberships),
        events=model_event_times(model, events),
    )


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


@SETTINGS
@given(document=models(), person=people(), now=NOW)
def test_score_agrees_with_the_reference(
    document: dict[str, Any], person: ref.RawPerson, now: datetime
) -> None:
    model = parse_model(document)
    note(f"model: {document}")
    found = score(model, facts_for(model, person), now)
    parts = {part.rule.id: part for part in found.rules}
    expected_total = 0.0
    for rule in document["rules"]:
        points, terms = rule_points(document, rule, person, now)
        expected_total += points
        part = parts.get(rule["id"])
        if part is None:
            assert points == 0 and not terms, rule
            continue
        assert close(part.points, points), rule
        assert [c.at for c in part.contributions] == [t for t, _ in terms]
        assert all(close(c.decayed, p) for c, (_, p) in zip(part.contributions, terms, strict=True))
        # Caps hold after decay, either way; a rule's points keep the sign of its points.
        if "cap" in rule:
            assert abs(part.points) <= rule["cap"]
            assert part.capped == (abs(part.uncapped) > rule["cap"])
        assert part.points * rule["points"] > 0
    assert close(found.total, expected_total)
    if not near_a_threshold(document, expected_total):
        assert found.stage == stage(document, expected_total)


@FEWER
@given(
    document=models(),
    extra=st.sampled_from([-1, -5, -20, -0.5]),
    cap=st.sampled_from([None, 2, 10]),
    person=people(),
    now=NOW,
)
def test_negative_points_never_raise_the_score(
    document: dict[str, Any], extra: float, cap: float | None, person: ref.RawPerson, now: datetime
) -> None:
    model = parse_model(document)
    penalty: dict[str, Any] = {"id": "penalty", "points": extra, "when": {"event": "A"}}
    if cap is not None:
        penalty["cap"] = cap
    harsher = parse_model({**document, "rules": [*document["rules"], penalty]})
    before = score(model, facts_for(model, person), now)
    after = score(harsher, facts_for(harsher, person), now)
    assert after.total <= before.total
    assert model.stage_names.index(after.stage) <= model.stage_names.index(before.stage)


@SETTINGS
@given(
    points=st.sampled_from([-7, 1, 25, 1000]),
    hours=st.integers(1, 3650 * 24),
    halvings=st.integers(0, 6),
    event=st.integers(-100, 100),
)
def test_points_halve_after_each_half_life(
    points: int, hours: int, halvings: int, event: int
) -> None:
    document = {
        "key": "m",
        "name": "M",
        "half_life_days": hours / 24,
        "rules": [{"id": "r", "points": points, "when": {"event": "A"}}],
    }
    model = parse_model(document)
    at = datetime(2026, 3, 2, tzinfo=UTC) + timedelta(hours=event)
    facts = facts_for(model, ref.RawPerson(events=[ref.RawEvent("A", at, "web")]))
    found = score(model, facts, at + timedelta(hours=hours) * halvings)
    assert found.total == points * 0.5**halvings  # exactly


@FEWER
@given(document=models(events_only=True), person=people(), now=NOW)
def test_one_half_life_later_a_rule_gives_half(
    document: dict[str, Any], person: ref.RawPerson, now: datetime
) -> None:
    # Without windows or caps, everything counted halves; nothing new comes in.
    rules = [
        {**{k: v for k, v in rule.items() if k != "cap"}, "half_life_days": 2}
        | {"when": {k: v for k, v in rule["when"].items() if k != "within"}}
        for rule in document["rules"]
    ]
    model = parse_model({**document, "rules": rules})
    person.events = [e for e in person.events if e.ts <= now]
    facts = facts_for(model, person)
    assert close(
        score(model, facts, now + timedelta(days=2)).total, score(model, facts, now).total / 2
    )


def probes(document: dict[str, Any], person: ref.RawPerson, now: datetime) -> set[datetime]:
    """Instants worth checking: every event's time and every window's end after it, with
    their neighbours a microsecond away."""
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


AROUND_NOW = {
    "document": models(events_only=True),
    "person": people(),
    "now": NOW,
    "recent": ref.RECENT_EVENTS,
}
"""A model on events and a person with events around `now` (some still to come)."""


def _with_recent(
    document: dict[str, Any],
    person: ref.RawPerson,
    now: datetime,
    recent: list[tuple[str, int, str]],
) -> tuple[ScoringModel, PersonFacts]:
    """The model and the person's facts, with the `recent` events (hours from `now`) added, so
    that windows open and close after `now`."""
    person.events += [ref.RawEvent(n, now + timedelta(hours=h), c) for n, h, c in recent]
    model = parse_model(document)
    return model, facts_for(model, person)


@SETTINGS
@given(**AROUND_NOW, offsets=ref.OFFSETS)
def test_next_stage_change_at_is_the_first_change(
    document: dict[str, Any],
    person: ref.RawPerson,
    now: datetime,
    recent: list[tuple[str, int, str]],
    offsets: list[int],
) -> None:
    model, facts = _with_recent(document, person, now, recent)
    change = next_stage_change_at(model, facts, now)
    before = score(model, facts, now).stage
    note(f"model: {document}; change at {change}")
    if change is not None:
        assert change > now
        assert score(model, facts, change).stage != before
        assert score(model, facts, change - TICK).stage == before
        expected = total_points(document, person, change)
        if not near_a_threshold(document, expected):
            assert stage(document, expected) != before
    # No change before it, by the reference: at the breakpoints, at random instants, and on a
    # grid up to the change (or 30 days on).
    until = change or now + timedelta(days=30)
    grid = {now + (until - now) * i / 64 for i in range(1, 64)}
    checked = probes(document, person, now) | grid
    checked |= {now + timedelta(microseconds=o) for o in offsets}
    for at in sorted(checked):
        if change is not None and at >= change:
            break
        expected = total_points(document, person, at)
        if not near_a_threshold(document, expected):
            assert stage(document, expected) == before, at


@SETTINGS
@given(**AROUND_NOW, hours=st.integers(1, 24 * 10))
def test_next_stage_check_is_the_change_within_the_horizon_else_a_look_at_it(
    document: dict[str, Any],
    person: ref.RawPerson,
    now: datetime,
    recent: list[tuple[str, int, str]],
    hours: int,
) -> None:
    model, facts = _with_recent(document, person, now, recent)
    within = timedelta(hours=hours)
    change = next_stage_change_at(model, facts, now)
    check = next_stage_check_at(model, facts, now, within)
    note(f"model: {document}; change at {change}, check at {check}")
    if change is not None and change <= now + within:
        assert check == change
    elif change is not None:
        assert check == now + within + TICK  # never later than the change: a look at it
    else:
        assert check in (None, now + within + TICK)  # bounds may not rule a change out


@FEWER
@given(document=models(events_only=True), person=people(), now=NOW)
def test_stage_changes_follow_each_other(
    document: dict[str, Any], person: ref.RawPerson, now: datetime
) -> None:
    model = parse_model(document)
    facts = facts_for(model, person)
    start, end = now - timedelta(days=4), now + timedelta(days=4)
    changes = stage_changes(model, facts, start, end)
    current = score(model, facts, start).stage
    for change in changes:
        assert start < change.at <= end
        assert change.from_stage == current != change.to_stage
        assert score(model, facts, change.at).stage == change.to_stage
        assert score(model, facts, change.at - TICK).stage == current
        up = model.stage_names.index(change.to_stage) > model.stage_names.index(current)
        assert change.direction == ("up" if up else "down")
        current = change.to_stage
    assert score(model, facts, end).stage == current
