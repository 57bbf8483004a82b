"""Lead scores: a person's points under a scoring model, the funnel stage they map to, why,
and when the stage changes by itself (docs/lead-scoring.md).

Pure functions of a model (scoring_validation.parse_model), the person's facts (the same
`PersonFacts` as segments: times of matching events per event condition key, traits...) and
the instant `now` (UTC):

- a rule on events gives `points * 0.5 ** (age / half_life)` for each matching event that
  counts at `now` (it happened, `ts <= now`, and lies inside the condition's `within`
  window, exactly as for segments); the rule's decayed sum is then capped at `cap` either way;
- a rule on the person gives `points` while its condition holds;
- the total is the rules' sum; its stage is the highest whose `min` it reaches (compared at a
  millionth of a point), else the model's base stage.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from omnicx.audiences.definition import AllOf, EventCondition
from omnicx.audiences.evaluate import event_times
from omnicx.audiences.facts import EventFact, PersonFacts
from omnicx.audiences.scoring_model import Rule, ScoringModel
from omnicx.audiences.scoring_timeline import (
    DIGITS,
    EPOCH,
    MICROSECOND,
    EventRule,
    Timeline,
    instant,
    micros,
    stage_index,
    total,
)
from omnicx.store.clock import as_utc

STAGE_CHANGED_EVENT: Final = "Lead Stage Changed"
"""The name of the track event a live runner records when a profile's stage changes, with
`StageChange.properties()` as its properties."""


@dataclass(frozen=True, slots=True)
class Contribution:
    """One event's points for a rule on events."""

    at: datetime
    """When the event happened."""
    points: float
    """The rule's points for it, before decay."""
    decayed: float
    """What is left of them at the score's instant."""


@dataclass(frozen=True, slots=True)
class RuleScore:
    """What one rule gives: its events' contributions (none for a rule on the person), their
    sum before the cap, and the points it gives after the cap."""

    rule: Rule
    points: float
    uncapped: float
    contributions: tuple[Contribution, ...] = ()

    @property
    def capped(self) -> bool:
        """Whether the cap took points away."""
        return self.points != self.uncapped


@dataclass(frozen=True, slots=True)
class Score:
    """A person's score under a model at an instant, with its explanation."""

    model: str
    at: datetime
    total: float
    """The exact sum (a float): `scoring_text.total_text` shows it rounded down to 0.1."""
    stage: str
    rules: tuple[RuleScore, ...]
    """The rules that give points (a rule on events with counted events, a rule on the person
    that holds), in the model's order."""


@dataclass(frozen=True, slots=True)
class StageChange:
    """A profile's stage under a model changed: the stage-change event."""

    model: str
    at: datetime
    from_stage: str
    to_stage: str
    score: float
    direction: Literal["up", "down"]

    def properties(self) -> dict[str, Any]:
        """The properties of the `STAGE_CHANGED_EVENT` track event."""
        return {
            "model": self.model,
            "from_stage": self.from_stage,
            "to_stage": self.to_stage,
            "direction": self.direction,
            "score": round(self.score, DIGITS),
        }


def model_event_conditions(model: ScoringModel) -> dict[str, EventCondition]:
    """The event conditions of the model's rules on events, by key (definition.EventCondition
    .key): the facts must hold the times of the person's matching events for each."""
    found: dict[str, EventCondition] = {}
    for rule in model.rules:
        if rule.on_events:
            found.setdefault(rule.event.key, rule.event)
    return found


def model_event_times(
    model: ScoringModel, events: Iterable[EventFact]
) -> dict[str, list[datetime]]:
    """For each of `model_event_conditions`, the sorted UTC times of the matching events (as
    evaluate.event_times builds them for a segment)."""
    conditions = tuple(model_event_conditions(model).values())
    return event_times(AllOf(all=conditions), events) if conditions else {}


def stage_of(model: ScoringModel, points: float) -> str:
    """The stage a total of `points` maps to: the highest whose `min` it reaches (at a
    millionth of a point), else the base stage."""
    return model.stage_names[stage_index(model, points)]


def score(model: ScoringModel, facts: PersonFacts, now: datetime) -> Score:
    """The person's score at `now` (naive: taken as UTC), with every rule's part in it.
    Raises evaluate.MissingEventTimes when the facts lack a rule's event times."""
    now = as_utc(now)
    timeline = Timeline(model, facts, now)
    at = micros(now)
    state = timeline.state(at)
    parts: list[RuleScore] = []
    for rule, part, (uncapped, value) in zip(model.rules, timeline.parts, state, strict=True):
        if isinstance(part, EventRule):
            terms = part.terms(at)
            if not terms:
                continue
            contributions = tuple(
                Contribution(EPOCH + t * MICROSECOND, part.points, decayed) for t, decayed in terms
            )
            parts.append(RuleScore(rule, value, uncapped, contributions))
        elif value:
            parts.append(RuleScore(rule, value, value))
    points = total(value for _, value in state)
    return Score(model.key, now, points, stage_of(model, points), tuple(parts))


def next_stage_change_at(model: ScoringModel, facts: PersonFacts, now: datetime) -> datetime | None:
    """The earliest instant after `now` at which the stage differs from the stage at `now`
    if nothing else happens (no new event, no change of traits, consents or segments): decay,
    a sliding window letting an event go, or an event stamped in the future starting to
    count. None when the stage stays. At that instant `score` gives another stage; a
    microsecond before, it does not."""
    now = as_utc(now)
    found = Timeline(model, facts, now).first_change(micros(now))
    return None if found is None else instant(found)


def next_stage_check_at(
    model: ScoringModel, facts: PersonFacts, now: datetime, within: timedelta
) -> datetime | None:
    """When to look at the person's stage again if nothing else happens: the instant of
    `next_stage_change_at` when it comes `within` this long after `now`; else a microsecond
    after `now + within` when the stage may change later (locating a far change costs dozens
    of exact scores, and a new event usually comes first); None when it stays."""
    now = as_utc(now)
    start = micros(now)
    found = Timeline(model, facts, now).first_change(start, start + within // MICROSECOND)
    return None if found is None else instant(found)


def stage_change(model: ScoringModel, before: Score, after: Score) -> StageChange | None:
    """The stage-change event between two scores of a profile (say, before and after an
    event), or None when the stage is the same."""
    if before.stage == after.stage:
        return None
    names = model.stage_names
    up = names.index(after.stage) > names.index(before.stage)
    return StageChange(
        model.key, after.at, before.stage, after.stage, after.total, "up" if up else "down"
    )


def stage_changes(
    model: ScoringModel, facts: PersonFacts, start: datetime, end: datetime
) -> list[StageChange]:
    """Every stage change in (start, end] with the facts as they are (their events coming in
    at their times): a profile's stage history, say for a model added after the events."""
    changes: list[StageChange] = []
    previous = score(model, facts, start)
    end = as_utc(end)
    while (at := next_stage_change_at(model, facts, previous.at)) is not None and at <= end:
        current = score(model, facts, at)
        change = stage_change(model, previous, current)
        assert change is not None
        changes.append(change)
        previous = current
    return changes


def _iso(moment: datetime) -> str:
    return as_utc(moment).isoformat().replace("+00:00", "Z")


def _number(value: float) -> float:
    return round(value, DIGITS) + 0.0  # + 0.0: no -0.0


def score_to_json(score: Score) -> dict[str, Any]:
    """The score and its explanation as a JSON document (points rounded to a millionth), for
    the score history and the API."""
    return {
        "model": score.model,
        "at": _iso(score.at),
        "total": _number(score.total),
        "stage": score.stage,
        "rules": [
            {
                "rule": part.rule.id,
                "points": _number(part.points),
                **({"uncapped": _number(part.uncapped)} if part.capped else {}),
                **(
                    {
                        "events": [
                            {"at": _iso(c.at), "points": c.points, "decayed": _number(c.decayed)}
                            for c in part.contributions
                        ]
                    }
                    if part.rule.on_events
                    else {}
                ),
            }
            for part in score.rules
        ],
    }
