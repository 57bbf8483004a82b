"""Audiences: segments, lead scoring, personas.

The segment definition language and its pure evaluator (docs/audiences-definitions.md):

    definition = parse_definition(document, traits=known_traits, segments=known_keys)
    render(definition)                       # the text form shown to users
    facts = PersonFacts(traits=..., events=event_times(definition, events), ...)
    evaluate(definition, facts, now)         # in the segment at `now`?
    next_change_at(definition, facts, now)   # when the answer changes by itself, if ever

Live membership keeps, per event condition (`event_conditions`), the times of the person's
events that `matches` it; a batch recompute builds the same facts with `event_times`.
"""

from omnicx.audiences.definition import (
    COMPUTED_TRAITS,
    Condition,
    Definition,
    EventCondition,
    event_conditions,
    segment_references,
    to_json,
)
from omnicx.audiences.definition_text import render
from omnicx.audiences.errors import DefinitionError, Problem
from omnicx.audiences.evaluate import (
    MissingEventTimes,
    evaluate,
    event_times,
    matches,
    next_change_at,
)
from omnicx.audiences.facts import EventFact, PersonFacts, facts_of_profile
from omnicx.audiences.scoring import (
    STAGE_CHANGED_EVENT,
    Contribution,
    RuleScore,
    Score,
    StageChange,
    model_event_conditions,
    model_event_times,
    next_stage_change_at,
    next_stage_check_at,
    score,
    score_to_json,
    stage_change,
    stage_changes,
    stage_of,
)
from omnicx.audiences.scoring_model import STAGE_LADDER, Rule, ScoringModel, model_to_json
from omnicx.audiences.scoring_text import render_model, render_score
from omnicx.audiences.scoring_validation import ModelError, parse_model
from omnicx.audiences.validation import check_cycles, parse_definition

__all__ = [
    "COMPUTED_TRAITS",
    "STAGE_CHANGED_EVENT",
    "STAGE_LADDER",
    "Condition",
    "Contribution",
    "Definition",
    "DefinitionError",
    "EventCondition",
    "EventFact",
    "MissingEventTimes",
    "ModelError",
    "PersonFacts",
    "Problem",
    "Rule",
    "RuleScore",
    "Score",
    "ScoringModel",
    "StageChange",
    "check_cycles",
    "evaluate",
    "event_conditions",
    "event_times",
    "facts_of_profile",
    "matches",
    "model_event_conditions",
    "model_event_times",
    "model_to_json",
    "next_change_at",
    "next_stage_change_at",
    "next_stage_check_at",
    "parse_definition",
    "parse_model",
    "render",
    "render_model",
    "render_score",
    "score",
    "score_to_json",
    "segment_references",
    "stage_change",
    "stage_changes",
    "stage_of",
    "to_json",
]
