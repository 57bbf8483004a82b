"""Every word lead scoring shows users: the text of a model, of a score's explanation, and
the validation errors of a model (docs/lead-scoring.md).

Kept in one module, beside phrases.py for segment definitions, so a translation replaces
these dictionaries and nothing else. Templates use `str.format` fields. The validation errors
are marked with `N_` for the console's message catalogs, as phrases.ERRORS are.
"""

from __future__ import annotations

from omnicx.wording import N_

SCORING_PHRASES: dict[str, str] = {
    # A model.
    "model": "Scoring model {key} ({name}), {decay}",
    "decay": "points halve every {days}",
    "decay.none": "points do not decay",
    "days": "{n} days",
    "day": "1 day",
    "rule": "{points} {rule}: {what}",
    "rule.name": "{id}",
    "rule.named": "{id} {label}",
    "rule.event": "{condition}, each time",
    "rule.person": "while {condition}",
    "rule.cap": "at most {cap} in all",
    "rule.half_life": "halving every {days}",
    "rule.no_decay": "no decay",
    "rule.separator": ", ",
    "stages": "Stages: {stages}",
    "stage.base": "{stage} below {min}",
    "stage.from": "{stage} from {min}",
    "stages.separator": " → ",
    # A score's explanation.
    "score": "{model} at {at}: {total} points, stage {stage}",
    "score.next": "{points} more to {stage} (from {min})",
    "score.rule": "{rule}: {points}",
    "score.capped": "{points} (capped at {cap}; {uncapped} before the cap)",
    "score.event": "{at}: {points}",
    "score.event.decayed": "{at}: {points}, now {decayed}",
    "score.person": "while {condition}",
    "score.nothing": "no rule gives points",
    "at": "{date} UTC",
}
"""The text of models and explanations (docs/lead-scoring.md#text)."""

SCORING_ERRORS: dict[str, str] = {
    "not_object": N_("must be an object"),
    "not_number": N_("must be a number"),
    "bad_key": N_("use lower-case letters, digits, - and _ (starting with a letter or digit)"),
    "no_rules": N_("must list at least one rule"),
    "no_stages": N_("must list at least one stage"),
    "too_many_rules": N_("a model has at most {limit} rules"),
    "too_many_stages": N_("a model has at most {limit} stages"),
    "points": N_("must be a number other than 0, at most {limit} either way"),
    "cap": N_("must be a number of points > 0 (at most {limit}); it limits negative rules too"),
    "cap_person": N_("only rules on events take a cap: a rule on the person gives its points once"),
    "half_life": N_("must be a number of days > 0 (at most {limit}), or null for no decay"),
    "half_life_person": N_(
        "only rules on events decay: a rule on the person gives its points while it holds"
    ),
    "duplicate_rule": N_("the rule id {id!r} is already used by {other}"),
    "did_not": N_(
        "a rule on events gives points for each matching event: drop `did: false` "
        "(points fade by themselves with a half-life)"
    ),
    "count": N_(
        "a rule on events gives points for each matching event: drop `count` "
        "and use the rule's `cap` to limit its points"
    ),
    "event_in_person_rule": N_(
        "a rule on the person cannot test events: give events points with a rule whose "
        "`when` is a single event condition"
    ),
    "duplicate_stage": N_("the stage {stage!r} is already used by {other}"),
    "stage_order": N_(
        "stage {stage!r} cannot come after {before!r}: the ladder goes {ladder}, lowest first"
    ),
    "stage_min": N_("must be above the previous stage's minimum ({previous})"),
}
"""Validation messages of scoring models (docs/lead-scoring.md#validation-errors); the shape
errors they share with segment definitions come from phrases.ERRORS."""
