"""Scoring models and score explanations in words (docs/lead-scoring.md#text):

    Scoring model b2b ("B2B leads"), points halve every 30 days
    +25 demo-request "Demo requested": did "Demo Requested" on web, each time, at most 75 in all
    +10 director: while trait job_title contains "director"
    Stages: subscriber below 10 → lead from 10 → mql from 50 → sql from 100 → customer from 200

Conditions read as in segment definitions (definition_text.render); every other word comes
from scoring_phrases.SCORING_PHRASES. Points are shown to 0.1: a total rounded *down*, so it
never shows a threshold reached before the stage is; a rule's points to the nearest 0.1.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import Any

import orjson

from omnicx.audiences.definition_text import render
from omnicx.audiences.scoring import RuleScore, Score
from omnicx.audiences.scoring_model import Rule, ScoringModel
from omnicx.audiences.scoring_phrases import SCORING_PHRASES
from omnicx.audiences.scoring_timeline import DIGITS, stage_index
from omnicx.store.clock import as_utc


def _quoted(text: str) -> str:
    return orjson.dumps(text).decode()


def _say(phrase: str, /, **fields: Any) -> str:
    return SCORING_PHRASES[phrase].format(**fields)


def _points(value: float, rounding: str = ROUND_HALF_EVEN, *, signed: bool = False) -> str:
    exact = Decimal(repr(round(value, DIGITS)))
    text = format(exact.quantize(Decimal("0.1"), rounding=rounding), "f").removesuffix(".0")
    text = "0" if text == "-0" else text
    return f"+{text}" if signed and not text.startswith(("-", "0")) else text


def points_text(value: float, *, signed: bool = False) -> str:
    """Points to the nearest 0.1, without a trailing `.0`: `12.5`, `25`, `+25` when
    `signed`."""
    return _points(value, signed=signed)


def total_text(value: float) -> str:
    """A total rounded down to 0.1 (after rounding to a millionth, as stages compare)."""
    return _points(value, ROUND_FLOOR)


def _days(days: float) -> str:
    return _say("day") if days == 1 else _say("days", n=points_text(days))


def _when(moment: datetime) -> str:
    moment = as_utc(moment)
    pattern = "%Y-%m-%d %H:%M" if moment.second == moment.microsecond == 0 else "%Y-%m-%d %H:%M:%S"
    return _say("at", date=moment.strftime(pattern))


def _rule_name(rule: Rule) -> str:
    if rule.label is None:
        return _say("rule.name", id=rule.id)
    return _say("rule.named", id=rule.id, label=_quoted(rule.label))


def render_rule(model: ScoringModel, rule: Rule) -> str:
    """One rule in words: its points, its name and what gives them."""
    points = points_text(rule.points, signed=True)
    if not rule.on_events:
        what = _say("rule.person", condition=render(rule.when))
        return _say("rule", points=points, rule=_rule_name(rule), what=what)
    parts = [_say("rule.event", condition=render(rule.when))]
    if rule.cap is not None:
        parts.append(_say("rule.cap", cap=points_text(rule.cap)))
    half_life = model.half_life(rule)
    if half_life != model.half_life_days:
        parts.append(
            _say("rule.no_decay")
            if half_life is None
            else _say("rule.half_life", days=_days(half_life))
        )
    what = SCORING_PHRASES["rule.separator"].join(parts)
    return _say("rule", points=points, rule=_rule_name(rule), what=what)


def render_model(model: ScoringModel) -> str:
    """The model in words: a heading, a line per rule, the stages."""
    days = model.half_life_days
    decay = _say("decay.none") if days is None else _say("decay", days=_days(days))
    lines = [_say("model", key=model.key, name=_quoted(model.name), decay=decay)]
    lines += [render_rule(model, rule) for rule in model.rules]
    first = model.stages[0].min
    stages = [_say("stage.base", stage=model.base_stage, min=points_text(first))]
    stages += [_say("stage.from", stage=s.stage, min=points_text(s.min)) for s in model.stages]
    lines.append(_say("stages", stages=SCORING_PHRASES["stages.separator"].join(stages)))
    return "\n".join(lines)


def _rule_lines(model: ScoringModel, part: RuleScore) -> list[str]:
    shown = points_text(part.points, signed=True)
    if part.capped:
        cap = points_text(part.rule.cap or 0)
        uncapped = points_text(part.uncapped, signed=True)
        shown = _say("score.capped", points=shown, cap=cap, uncapped=uncapped)
    lines = [_say("score.rule", rule=_rule_name(part.rule), points=shown)]
    if not part.rule.on_events:
        return [*lines, "    " + _say("score.person", condition=render(part.rule.when))]
    decays = model.half_life(part.rule) is not None
    for c in part.contributions:
        fields = {"at": _when(c.at), "points": points_text(c.points, signed=True)}
        if decays:
            line = _say(
                "score.event.decayed", **fields, decayed=points_text(c.decayed, signed=True)
            )
        else:
            line = _say("score.event", **fields)
        lines.append("    " + line)
    return lines


def render_score(model: ScoringModel, score: Score) -> str:
    """A score's explanation: the total and stage, the way to the next stage, and each rule
    that gives points with the events that gave them (each event's points then and now)."""
    heading = _say(
        "score",
        model=model.key,
        at=_when(score.at),
        total=total_text(score.total),
        stage=score.stage,
    )
    index = stage_index(model, score.total)
    if index < len(model.stages):
        following = model.stages[index]
        missing = _points(following.min - round(score.total, DIGITS), ROUND_CEILING)
        heading += "; " + _say(
            "score.next", points=missing, stage=following.stage, min=points_text(following.min)
        )
    lines = [heading]
    for part in score.rules:
        lines += ["  " + line for line in _rule_lines(model, part)]
    if not score.rules:
        lines.append("  " + SCORING_PHRASES["score.nothing"])
    return "\n".join(lines)
