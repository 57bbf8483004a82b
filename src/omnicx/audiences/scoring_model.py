"""A lead-scoring model's JSON form, as pydantic models (docs/lead-scoring.md).

A model gives points by **rules** and maps the total to funnel **stages**:

    {"key": "b2b", "name": "B2B leads", "half_life_days": 30,
     "rules": [{"id": "demo-request", "points": 25, "cap": 75,
                "when": {"event": "Demo Requested", "channel": "web"}},
               {"id": "director", "points": 10,
                "when": {"trait": "job_title", "op": "contains", "value": "director"}}],
     "stages": [{"stage": "lead", "min": 10}, {"stage": "mql", "min": 50}]}

A rule whose `when` is one event condition is a rule **on events**: each matching event gives
`points`, halving every half-life. Any other `when` (traits, computed traits, identities,
consent, segments, and groups of them) is a rule **on the person**: `points` while it holds.
The models check the shape; `scoring_validation.parse_model` adds the checks that need context
and is how models should be built. Models are frozen: a parsed model can be shared freely.
"""

from __future__ import annotations

import math
from functools import cached_property
from typing import Annotated, Any, Final

from pydantic import BeforeValidator, Field, StrictStr
from pydantic_core import PydanticCustomError

from omnicx.audiences.definition import MAX_NAME, Condition, EventCondition, _Model, to_json

STAGE_LADDER: Final = ("subscriber", "lead", "mql", "sql", "customer")
"""The funnel's stages, lowest first. A model may use other names; these keep this order."""

KEY_PATTERN: Final = r"^[a-z0-9][a-z0-9_-]*$"
"""A model's key, a rule's id and a stage's name: lower-case letters, digits, `-` and `_`."""
MAX_KEY: Final = 100


def _number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise PydanticCustomError("not_number", "must be a number")
    return value


Number = Annotated[int | float, BeforeValidator(_number)]
"""A finite JSON number (not true/false, not text)."""

Key = Annotated[StrictStr, Field(min_length=1, max_length=MAX_KEY, pattern=KEY_PATTERN)]


class Stage(_Model):
    """A funnel stage, reached once the score is at least `min`."""

    stage: Key
    min: Number


DEFAULT_STAGES: Final = (
    Stage(stage="lead", min=10),
    Stage(stage="mql", min=50),
    Stage(stage="sql", min=100),
    Stage(stage="customer", min=200),
)
"""The ladder's thresholds when a model gives none; below 10 is the base stage, subscriber."""


class Rule(_Model):
    """Points for each matching event (`when` an event condition), or while `when` holds."""

    id: Key
    label: StrictStr | None = Field(default=None, min_length=1, max_length=MAX_NAME)
    points: Number
    when: Condition
    cap: Number | None = None
    """The most the rule gives in all, either way (after decay): `cap: 75` for +25 points,
    `cap: 20` for -5 points. Rules on events only."""
    half_life_days: Number | None = None
    """Rules on events only: this rule's half-life, overriding the model's; `null` given
    explicitly means no decay for this rule. Absent: the model's."""

    @property
    def on_events(self) -> bool:
        """Whether each matching event gives points (else: points while `when` holds)."""
        return isinstance(self.when, EventCondition)

    @property
    def event(self) -> EventCondition:
        """The event condition of a rule on events."""
        if not isinstance(self.when, EventCondition):
            raise TypeError(f"rule {self.id!r} is a rule on the person, not on events")
        return self.when

    @property
    def title(self) -> str:
        """How the rule is named to users: its label, else its id."""
        return self.label or self.id


class ScoringModel(_Model):
    """Rules giving points, and the stages the total maps to."""

    key: Key
    name: StrictStr = Field(min_length=1, max_length=MAX_NAME)
    half_life_days: Number | None = None
    """The default half-life of rules on events, in days; null or absent: no decay."""
    rules: tuple[Rule, ...] = Field(min_length=1)
    stages: tuple[Stage, ...] = Field(default=DEFAULT_STAGES, min_length=1)
    base_stage: Key = "subscriber"
    """The stage of a score below every threshold (negative scores included)."""

    def half_life(self, rule: Rule) -> float | None:
        """A rule's half-life in days: its own when it gives one (even null), else the
        model's; None: no decay."""
        if "half_life_days" in rule.model_fields_set:
            return rule.half_life_days
        return self.half_life_days

    @cached_property
    def thresholds(self) -> tuple[float, ...]:
        """The stages' minimums, ascending (parse_model checks the order)."""
        return tuple(float(s.min) for s in self.stages)

    @cached_property
    def stage_names(self) -> tuple[str, ...]:
        """Every stage, the base stage first."""
        return (self.base_stage, *(s.stage for s in self.stages))


def model_to_json(model: ScoringModel) -> dict[str, Any]:
    """The JSON form without defaults; `parse_model` of it gives the same model back."""
    found: dict[str, Any] = model.model_dump(mode="json", exclude_defaults=True, exclude={"rules"})
    if model.stages == DEFAULT_STAGES:
        found.pop("stages", None)
    rules = []
    for rule in model.rules:
        data = rule.model_dump(mode="json", exclude_defaults=True, exclude={"when"})
        data["when"] = to_json(rule.when)
        if "half_life_days" in rule.model_fields_set:
            data["half_life_days"] = rule.half_life_days  # an explicit null: no decay
        rules.append(data)
    return {**found, "rules": rules}
