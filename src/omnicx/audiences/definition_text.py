"""The text form of a definition, shown back to users (docs/audiences-definitions.md).

    orders ≥ 2 AND did "Order Completed" at least 2 times in the last 7 days on store_pos
    where total > 100 AND NOT (consent sms/marketing granted)

Unambiguous by construction: AND, OR and NOT are upper case and never appear bare inside a
condition (names and texts that are not plain words are quoted, JSON-style); a group inside
a group of the other kind is put in parentheses, and NOT always is; traits say `trait`,
computed traits are bare, as on the profile. Every word comes from phrases.PHRASES.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

import orjson

from omnicx.audiences.definition import (
    AllOf,
    AnyOf,
    ComputedCondition,
    ConsentCondition,
    Count,
    Definition,
    EventCondition,
    IdentityCondition,
    NotOf,
    PropertyFilter,
    SegmentCondition,
    TraitCondition,
    Window,
)
from omnicx.audiences.phrases import PHRASES
from omnicx.audiences.values import temporal

_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
_WORDS = frozenset({"and", "or", "not", "trait", "where", "on", "in", "between", "is"})


_phrases: ContextVar[Mapping[str, str]] = ContextVar("definition_phrases", default=PHRASES)
"""The words of the text form being rendered (a translation of PHRASES, see `render`)."""


def _word(phrase: str) -> str:
    return _phrases.get()[phrase]


def _say(phrase: str, /, **fields: Any) -> str:
    return _word(phrase).format(**fields)


def _quoted(text: str) -> str:
    return orjson.dumps(text).decode()


def name(text: str) -> str:
    """A name bare when it is a plain word that is not one of ours, else quoted."""
    if _PLAIN.match(text) and text.lower() not in _WORDS:
        return text
    return _quoted(text)


def value(item: Any) -> str:
    """A condition value: numbers, true/false and dates bare, texts quoted, lists in ( )."""
    if isinstance(item, tuple | list):
        return _say("list", values=_word("list_separator").join(value(v) for v in item))
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, int | float):
        return repr(item)
    if isinstance(item, str) and temporal(item) is not None:
        return item.strip()
    return _quoted(str(item))


def _compared(subject: str, op: str, operand: Any) -> str:
    if op == "between":
        return _say("op.between", subject=subject, low=value(operand[0]), high=value(operand[1]))
    return _say(f"op.{op}", subject=subject, value=value(operand))


def _count(count: Count) -> str:
    many = count.value[1] if count.op == "between" else count.value
    times = _word("time" if many == 1 else "times")
    if count.op == "between":
        low, high = count.value
        return _say("count.between", low=low, high=high, times=times)
    return _say(f"count.{count.op}", n=count.value, times=times)


def _window(window: Window) -> str:
    if window.last_days is not None:
        n = window.last_days
        return _say("within.last_day") if n == 1 else _say("within.last_days", n=n)
    if window.last_hours is not None:
        n = window.last_hours
        return _say("within.last_hour") if n == 1 else _say("within.last_hours", n=n)
    start, end = window.between
    return _say("within.between", start=value(start), end=value(end))


def _where(check: PropertyFilter) -> str:
    return _compared(name(check.property), check.op, check.value)


def _event(condition: EventCondition) -> str:
    event = _quoted(condition.event)
    parts = [_say("event.did" if condition.did else "event.did_not", event=event)]
    if condition.count is not None:
        parts.append(_count(condition.count))
    if condition.within is not None:
        parts.append(_window(condition.within))
    if condition.channel:
        channels = _word("channel_separator").join(name(c) for c in condition.channel)
        parts.append(_say("channel", channels=channels))
    if condition.where:
        filters = _word("where_separator").join(_where(w) for w in condition.where)
        parts.append(_say("where", filters=filters))
    return " ".join(parts)


def _children(group: AllOf | AnyOf) -> tuple[Definition, ...]:
    return group.all if isinstance(group, AllOf) else group.any


def _unwrap(condition: Definition) -> Definition:
    """A group of one condition is that condition."""
    while isinstance(condition, AllOf | AnyOf) and len(_children(condition)) == 1:
        condition = _children(condition)[0]
    return condition


def render(definition: Definition, phrases: Mapping[str, str] | None = None) -> str:
    """The definition in words (see the module's docstring); `phrases` replaces PHRASES'
    words (a translation: same keys, same `{fields}`), each one it has."""
    if phrases is None:
        return _render(definition)
    token = _phrases.set({**PHRASES, **phrases})
    try:
        return _render(definition)
    finally:
        _phrases.reset(token)


def _render(definition: Definition) -> str:
    condition = _unwrap(definition)
    if isinstance(condition, AllOf | AnyOf):
        joiner = f" {_word('and' if isinstance(condition, AllOf) else 'or')} "
        parts = []
        for child in map(_unwrap, _children(condition)):
            text = _render(child)
            # Same kind of group: no parentheses needed (A AND (B AND C) is A AND B AND C).
            if isinstance(child, AllOf | AnyOf) and type(child) is not type(condition):
                text = _say("group", condition=text)
            parts.append(text)
        return joiner.join(parts)
    if isinstance(condition, NotOf):
        return _say("not", condition=_render(condition.not_))
    if isinstance(condition, TraitCondition):
        subject = _say("trait", name=name(condition.trait))
        return _compared(subject, condition.op, condition.value)
    if isinstance(condition, ComputedCondition):
        subject = _say("computed", name=name(condition.computed))
        return _compared(subject, condition.op, condition.value)
    if isinstance(condition, EventCondition):
        return _event(condition)
    if isinstance(condition, IdentityCondition):
        kind = "identity.present" if condition.present else "identity.absent"
        return _say(kind, type=name(condition.identity))
    if isinstance(condition, ConsentCondition):
        kind = "consent.granted" if condition.granted else "consent.not_granted"
        consent = condition.consent
        return _say(kind, channel=name(consent.channel), purpose=name(consent.purpose))
    if isinstance(condition, SegmentCondition):
        kind = "segment.member" if condition.member else "segment.not_member"
        return _say(kind, key=name(condition.segment))
    raise TypeError(f"not a condition: {condition!r}")
