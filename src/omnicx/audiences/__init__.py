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
from omnicx.audiences.validation import check_cycles, parse_definition

__all__ = [
    "COMPUTED_TRAITS",
    "Condition",
    "Definition",
    "DefinitionError",
    "EventCondition",
    "EventFact",
    "MissingEventTimes",
    "PersonFacts",
    "Problem",
    "check_cycles",
    "evaluate",
    "event_conditions",
    "event_times",
    "facts_of_profile",
    "matches",
    "next_change_at",
    "parse_definition",
    "render",
    "segment_references",
    "to_json",
]
