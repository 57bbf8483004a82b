"""Checking lead-scoring models: `parse_model` is the one way to build one.

It reads JSON text or a decoded document; each rule's `when` goes through
`validation.parse_definition` (the same checks, messages and known names as a segment's
definition), the rest through the pydantic models of scoring_model.py, then the checks that
span fields: rule ids, points, caps and half-lives, what a rule on events or on the person may
test, the stages' names and thresholds. It returns the model or raises `ModelError` listing
every problem as `PATH: MESSAGE`, such as `rules[2].when.count: a rule on events gives points
for each matching event: drop ...`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

import orjson
from pydantic import BaseModel, ValidationError

from omnicx.audiences.definition import (
    KINDS,
    Condition,
    EventCondition,
    IdentityCondition,
    join,
    walk,
)
from omnicx.audiences.errors import (
    _TYPE_ERRORS,
    MAX_DAYS,
    DefinitionError,
    Problem,
    Wording,
    suggest,
    worded,
)
from omnicx.audiences.errors import wording as definition_wording
from omnicx.audiences.scoring_model import STAGE_LADDER, Rule, ScoringModel, Stage
from omnicx.audiences.scoring_phrases import SCORING_ERRORS
from omnicx.audiences.validation import parse_definition

MAX_RULES: Final = 200
MAX_STAGES: Final = 20
MAX_POINTS: Final = 1_000_000
"""The most points a rule gives per event or while it holds, and the largest cap, either way."""
MAX_HALF_LIFE_DAYS: Final = MAX_DAYS

_PLACEHOLDER: Final[Condition] = IdentityCondition(identity="email")
"""Stands for a rule's `when` that has problems of its own, so the rest can be checked."""


class ModelError(DefinitionError):
    """A scoring model that cannot be used; `problems` lists every problem found (paths from
    the model's root, "" for the whole model)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems)
        self.args = ("\n".join(f"{p.path or 'model'}: {p.message}" for p in problems),)


def _say(code: str, **fields: Any) -> Wording:
    return worded(SCORING_ERRORS, code, fields)


def _rank(stage: str) -> int:
    return STAGE_LADDER.index(stage)


def _shown(number: float) -> str:
    return repr(number)


def parse_model(
    data: Mapping[str, Any] | str | bytes,
    *,
    traits: Collection[str] | None = None,
    segments: Collection[str] | None = None,
    events: Collection[str] | None = None,
    identifier_types: Collection[str] | None = None,
) -> ScoringModel:
    """The scoring model in `data` (JSON text or a decoded document), checked.

    `traits`, `segments`, `events` and `identifier_types` are the names known, as for
    `parse_definition` (None skips that check; identifier types default to the built-in ones).
    Raises ModelError naming every problem's JSON path.
    """
    document: Any = data
    if isinstance(data, str | bytes):
        try:
            document = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            said = definition_wording("not_json", detail=exc)
            raise ModelError([Problem.of("", said)]) from None
    if not isinstance(document, Mapping):
        raise ModelError([Problem.of("", _say("not_object"))])
    rules = document.get("rules")
    if isinstance(rules, list | tuple) and len(rules) > MAX_RULES:
        raise ModelError([Problem.of("rules", _say("too_many_rules", limit=MAX_RULES))])
    known = {
        "traits": traits,
        "segments": segments,
        "events": events,
        "identifier_types": identifier_types,
    }
    shell = dict(document)
    conditions: dict[int, list[Problem]] = {}
    broken: set[int] = set()
    if isinstance(rules, list | tuple):
        shell["rules"] = [
            _with_condition(i, rule, known, conditions, broken) for i, rule in enumerate(rules)
        ]
    try:
        model = ScoringModel.model_validate(shell)
    except ValidationError as exc:
        found = [p for problems in conditions.values() for p in problems]
        raise ModelError(_translate(exc) + found) from None
    checker = _Checker()
    checker.run(model, conditions, broken)
    if checker.problems:
        raise ModelError(checker.problems)
    return model


def _with_condition(
    index: int,
    rule: Any,
    known: dict[str, Any],
    conditions: dict[int, list[Problem]],
    broken: set[int],
) -> Any:
    """The rule with its `when` parsed; its problems kept by the rule's index, and a
    placeholder instead of a condition that cannot be parsed (its index in `broken`)."""
    if not isinstance(rule, Mapping) or "when" not in rule:
        return rule
    path, when = f"rules[{index}].when", rule["when"]
    found = conditions.setdefault(index, [])
    if not isinstance(when, Mapping):
        kinds = ", ".join(KINDS)
        found.append(Problem.of(path, definition_wording("not_a_condition", kinds=kinds)))
        broken.add(index)
        return {**rule, "when": _PLACEHOLDER}
    if "event" in when:
        # What a rule on events may not have, said before the definition's own checks.
        if when.get("did", True) is False:
            found.append(Problem.of(join(path, "did"), _say("did_not")))
        if "count" in when:
            found.append(Problem.of(join(path, "count"), _say("count")))
        when = {k: v for k, v in when.items() if k not in ("did", "count") or v is True}
    try:
        condition = parse_definition(when, **known)
    except DefinitionError as exc:
        found.extend(replace(p, path=join(path, p.path) if p.path else path) for p in exc.problems)
        broken.add(index)
        return {**rule, "when": _PLACEHOLDER}
    return {**rule, "when": condition}


_SHAPES: Final[dict[tuple[str, ...], type[BaseModel]]] = {
    (): ScoringModel,
    ("rules",): Rule,
    ("stages",): Stage,
}


def _translate(error: ValidationError) -> list[Problem]:
    """pydantic's errors on the model's own fields, in the words of definitions' errors."""
    problems: list[Problem] = []
    for found in error.errors(include_url=False):
        location = tuple(found["loc"])
        path = parent = ""
        for part in location:
            parent, path = path, join(path, part)
        kind, last = found["type"], location[-1] if location else None
        said: Wording | str
        if kind == "extra_forbidden":
            shape = _SHAPES.get(tuple(p for p in location[:-1] if isinstance(p, str)))
            expected = list(shape.model_fields) if shape else []
            path = parent
            said = definition_wording(
                "unknown_key",
                key=last,
                suggestion=suggest(last, expected),
                expected=", ".join(expected),
            )
        elif kind == "too_short":
            if found.get("input"):
                continue  # pydantic counts the items that passed: their errors say it all
            said = _say("no_rules" if last == "rules" else "no_stages")
        elif kind == "string_pattern_mismatch":
            said = _say("bad_key")
        elif kind in ("not_number", "model_type", "model_attributes_type", "dict_type"):
            said = _say("not_number" if kind == "not_number" else "not_object")
        elif kind == "string_too_short":
            said = definition_wording("empty_text")
        elif kind == "string_too_long":
            limit = found.get("ctx", {}).get("max_length")
            said = definition_wording("too_long", limit=limit)
        elif kind in _TYPE_ERRORS:
            said = definition_wording(_TYPE_ERRORS[kind])
        else:
            said = found["msg"]
        problem = Problem.of(path, said)
        if problem not in problems:
            problems.append(problem)
    return problems


@dataclass
class _Checker:
    """The checks that span fields, collecting every problem in document order."""

    problems: list[Problem] = field(default_factory=list)

    def add(self, path: str, code: str, **fields: Any) -> None:
        self.problems.append(Problem.of(path, _say(code, **fields)))

    def run(
        self, model: ScoringModel, conditions: dict[int, list[Problem]], broken: set[int]
    ) -> None:
        if model.half_life_days is not None:
            self.half_life("half_life_days", model.half_life_days)
        ids: dict[str, str] = {}
        for i, rule in enumerate(model.rules):
            path = f"rules[{i}]"
            if rule.id in ids:
                self.add(join(path, "id"), "duplicate_rule", id=rule.id, other=ids[rule.id])
            else:
                ids[rule.id] = path
            if rule.points == 0 or abs(rule.points) > MAX_POINTS:
                self.add(join(path, "points"), "points", limit=MAX_POINTS)
            self.problems.extend(conditions.get(i, ()))
            if i in broken:
                continue  # its `when` is a placeholder
            if rule.on_events:
                self.event_rule(path, rule)
            else:
                self.person_rule(path, rule)
        self.stages(model)

    def half_life(self, path: str, days: float) -> None:
        if not 0 < days <= MAX_HALF_LIFE_DAYS:
            self.add(path, "half_life", limit=MAX_HALF_LIFE_DAYS)

    def event_rule(self, path: str, rule: Rule) -> None:
        if rule.cap is not None and not 0 < rule.cap <= MAX_POINTS:
            self.add(join(path, "cap"), "cap", limit=MAX_POINTS)
        if rule.half_life_days is not None:
            self.half_life(join(path, "half_life_days"), rule.half_life_days)

    def person_rule(self, path: str, rule: Rule) -> None:
        for where, condition in walk(rule.when, join(path, "when")):
            if isinstance(condition, EventCondition):
                self.add(where, "event_in_person_rule")
        if rule.cap is not None:
            self.add(join(path, "cap"), "cap_person")
        if "half_life_days" in rule.model_fields_set:
            self.add(join(path, "half_life_days"), "half_life_person")

    def stages(self, model: ScoringModel) -> None:
        if len(model.stages) > MAX_STAGES:
            self.add("stages", "too_many_stages", limit=MAX_STAGES)
            return
        names = {model.base_stage: "base_stage"}
        ladder = " → ".join(STAGE_LADDER)
        highest = model.base_stage if model.base_stage in STAGE_LADDER else None
        previous: float | None = None
        for i, stage in enumerate(model.stages):
            path = f"stages[{i}]"
            name = stage.stage
            if name in names:
                self.add(join(path, "stage"), "duplicate_stage", stage=name, other=names[name])
            elif name in STAGE_LADDER and highest is not None and _rank(name) < _rank(highest):
                self.add(
                    join(path, "stage"), "stage_order", stage=name, before=highest, ladder=ladder
                )
            if name not in names:
                names[name] = path
                highest = name if name in STAGE_LADDER else highest
            if previous is not None and stage.min <= previous:
                self.add(join(path, "min"), "stage_min", previous=_shown(previous))
            previous = stage.min
