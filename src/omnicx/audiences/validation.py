"""Checking segment definitions: `parse_definition` is the one way to build one.

It reads JSON text or a decoded document, checks its shape with the pydantic models (errors
translated in errors.py), then everything that needs context or spans fields: known traits and
segments, identifier types, consent vocabulary, channels, values that suit the operator,
windows and counts. It returns the definition or raises `DefinitionError` listing every
problem as `PATH: MESSAGE`, such as `all[2].count.value: must be a whole number >= 0`.
`check_cycles` checks a set of segments that refer to each other.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
from pydantic import ValidationError

from omnicx.audiences.definition import (
    COMPUTED_TRAITS,
    CONDITION,
    ComputedCondition,
    ConsentCondition,
    Count,
    Definition,
    EventCondition,
    IdentityCondition,
    SegmentCondition,
    TraitCondition,
    Window,
    join,
    segment_references,
    walk,
)
from omnicx.audiences.errors import (
    MAX_DAYS,
    MAX_HOURS,
    DefinitionError,
    Problem,
    Wording,
    limits,
    suggest,
    translate,
    wording,
)
from omnicx.audiences.phrases import KIND_WORDS
from omnicx.audiences.values import KIND_OPS, LIST_OPS, NO_VALUE_OPS, ORDERED_OPS, operand, temporal
from omnicx.collect.sources import CHANNELS
from omnicx.identity.config import BUILT_IN_TYPES
from omnicx.profiles.consent import CONSENT_CHANNELS, PURPOSES

MAX_LIST: Final = 1000
"""Most values an `in` / `not_in` list may hold."""


def parse_definition(
    data: Mapping[str, Any] | str | bytes,
    *,
    traits: Collection[str] | None = None,
    segments: Collection[str] | None = None,
    events: Collection[str] | None = None,
    identifier_types: Collection[str] | None = None,
    key: str | None = None,
) -> Definition:
    """The definition in `data` (JSON text or a decoded document), checked.

    `traits`, `segments` and `events`: the names known; None skips that check. `identifier_types`
    defaults to the built-in types (pass `IdentityConfig.types` for the configured ones).
    `key`: the segment being defined, so that it may not refer to itself.
    Raises DefinitionError naming every problem's JSON path.
    """
    document: Any = data
    if isinstance(data, str | bytes):
        try:
            document = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise DefinitionError([Problem.of("", wording("not_json", detail=exc))]) from None
    problems = limits(document)
    if problems:
        raise DefinitionError(problems)
    try:
        definition = CONDITION.validate_python(document)
    except ValidationError as exc:
        raise DefinitionError(translate(exc)) from None
    checker = _Checker(
        traits=None if traits is None else frozenset(traits),
        segments=None if segments is None else frozenset(segments),
        events=None if events is None else frozenset(events),
        identifier_types=frozenset(
            BUILT_IN_TYPES if identifier_types is None else identifier_types
        ),
        key=key,
    )
    checker.run(definition)
    if checker.problems:
        raise DefinitionError(checker.problems)
    return definition


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_scalar(value: object) -> bool:
    return isinstance(value, str | bool) or _is_number(value)


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _ordered_kind(value: object) -> str | None:
    """number, date or instant for a value `gt`... can use; None otherwise."""
    if _is_number(value):
        return "number"
    if isinstance(value, str) and temporal(value) is not None:
        return operand(value).kind
    return None


@dataclass
class _Checker:
    """The checks that need context or span fields, collecting every problem."""

    traits: frozenset[str] | None
    segments: frozenset[str] | None
    events: frozenset[str] | None
    identifier_types: frozenset[str]
    key: str | None
    problems: list[Problem] = field(default_factory=list)

    def add(self, path: str, code: str, **fields: Any) -> None:
        self.problems.append(Problem.of(path, wording(code, **fields)))

    def unknown(
        self, path: str, code: str, name: str, known: Collection[str], listed: bool
    ) -> None:
        """An unknown name, with the closest known one and, when `listed`, all of them."""
        choices = ", ".join(known) if listed else ""
        self.add(path, code, name=name, suggestion=suggest(name, known), choices=choices)

    def run(self, definition: Definition) -> None:
        for path, condition in walk(definition):
            if isinstance(condition, TraitCondition):
                if self.traits is not None and condition.trait not in self.traits:
                    where = join(path, "trait")
                    self.unknown(where, "unknown_trait", condition.trait, self.traits, False)
                self.value(path, condition.op, condition.value)
            elif isinstance(condition, ComputedCondition):
                self.computed(path, condition)
            elif isinstance(condition, EventCondition):
                self.event(path, condition)
            elif isinstance(condition, IdentityCondition):
                if condition.identity not in self.identifier_types:
                    known = sorted(self.identifier_types)
                    where = join(path, "identity")
                    self.unknown(where, "unknown_identity", condition.identity, known, True)
            elif isinstance(condition, ConsentCondition):
                where, wanted = join(path, "consent"), condition.consent
                if wanted.channel not in CONSENT_CHANNELS:
                    code = "unknown_consent_channel"
                    self.unknown(
                        join(where, "channel"), code, wanted.channel, CONSENT_CHANNELS, True
                    )
                if wanted.purpose not in PURPOSES:
                    code = "unknown_purpose"
                    self.unknown(join(where, "purpose"), code, wanted.purpose, list(PURPOSES), True)
            elif isinstance(condition, SegmentCondition):
                where = join(path, "segment")
                if self.key is not None and condition.segment == self.key:
                    self.add(where, "self_reference")
                elif self.segments is not None and condition.segment not in self.segments:
                    self.unknown(where, "unknown_segment", condition.segment, self.segments, False)

    def value(self, path: str, op: str, value: Any) -> bool:
        """Whether `value` suits `op` (see values.compare); adds a problem when it does not."""
        where, before = join(path, "value"), len(self.problems)
        if op in NO_VALUE_OPS:
            if value is not None:
                self.add(where, "value_forbidden", op=op)
        elif value is None:
            self.add(where, "value_missing", op=op)
        elif op in LIST_OPS:
            good = isinstance(value, tuple) and 0 < len(value) <= MAX_LIST
            if not (good and all(_is_scalar(v) for v in value)):
                self.add(where, "value_list", op=op, limit=MAX_LIST)
        elif op == "starts_with":
            if not isinstance(value, str):
                self.add(where, "value_text", op=op)
        elif op in ORDERED_OPS:
            if _ordered_kind(value) is None:
                self.add(where, "value_ordered", op=op)
        elif op == "between":
            kinds = [_ordered_kind(v) for v in value] if isinstance(value, tuple) else []
            if len(kinds) != 2 or kinds[0] is None or kinds[0] != kinds[1]:
                self.add(where, "value_between")
            elif operand(value[0]).value > operand(value[1]).value:  # type: ignore[operator]
                self.add(where, "value_between_order", low=value[0], high=value[1])
        elif not _is_scalar(value):
            self.add(where, "value_scalar", op=op)
        return len(self.problems) == before

    def computed(self, path: str, condition: ComputedCondition) -> None:
        name, op, value = condition.computed, condition.op, condition.value
        kind = COMPUTED_TRAITS.get(name)
        if kind is None:
            self.unknown(join(path, "computed"), "unknown_computed", name, COMPUTED_TRAITS, True)
            return
        # The kind's words are phrases of their own, written in the reader's language too.
        words, expected = (Wording(f"kind.{kind}", text) for text in KIND_WORDS[kind])
        if op not in KIND_OPS[kind]:
            choices = ", ".join(KIND_OPS[kind])
            self.add(join(path, "op"), "op_for_kind", name=name, kind=words, choices=choices)
            return
        if not self.value(path, op, value) or value is None:
            return
        values = value if isinstance(value, tuple) else (value,)
        if kind == "instant":
            fits = all(_ordered_kind(v) in ("date", "instant") for v in values)
        elif kind == "number":
            fits = all(_is_number(v) for v in values)
        else:
            fits = all(isinstance(v, str) for v in values)
        if not fits:
            where = join(path, "value")
            self.add(where, "value_for_kind", name=name, kind=words, expected=expected)

    def event(self, path: str, condition: EventCondition) -> None:
        if self.events is not None and condition.event not in self.events:
            where = join(path, "event")
            self.unknown(where, "unknown_event", condition.event, self.events, False)
        if condition.channel == ():
            self.add(join(path, "channel"), "empty_channels")
        channels = condition.channel or ()
        for i, channel in enumerate(channels):
            if channel not in CHANNELS:
                where = join(path, "channel")
                where = join(where, i) if len(channels) > 1 else where
                self.unknown(where, "unknown_channel", channel, CHANNELS, True)
        if condition.count is not None:
            if not condition.did:
                self.add(join(path, "count"), "did_not_count")
            else:
                self.count(join(path, "count"), condition.count)
        if condition.within is not None:
            self.window(join(path, "within"), condition.within)
        for i, check in enumerate(condition.where):
            self.value(join(join(path, "where"), i), check.op, check.value)

    def count(self, path: str, count: Count) -> None:
        where, value = join(path, "value"), count.value
        if count.op == "between":
            if not (isinstance(value, tuple) and len(value) == 2 and all(map(_is_count, value))):
                self.add(where, "count_between")
            elif value[0] > value[1]:
                self.add(where, "value_between_order", low=value[0], high=value[1])
        elif not _is_count(value):
            self.add(where, "count_value")
        elif count.op == "lt" and value == 0:
            self.add(where, "count_lt")

    def window(self, path: str, window: Window) -> None:
        given = [
            n for n in ("last_days", "last_hours", "between") if getattr(window, n) is not None
        ]
        if len(given) != 1:
            self.add(path, "window_one")
            return
        if window.last_days is not None and not 0 < window.last_days <= MAX_DAYS:
            self.add(join(path, "last_days"), "window_positive", limit=MAX_DAYS)
        if window.last_hours is not None and not 0 < window.last_hours <= MAX_HOURS:
            self.add(join(path, "last_hours"), "window_positive", limit=MAX_HOURS)
        texts = window.between
        if texts is None:
            return
        if not (isinstance(texts, tuple) and len(texts) == 2) or not all(
            isinstance(t, str) and temporal(t) is not None for t in texts
        ):
            self.add(join(path, "between"), "window_between")
        elif (bounds := window.bounds) is not None and bounds[1] <= bounds[0]:
            self.add(join(path, "between"), "window_order", start=texts[0], end=texts[1])


def check_cycles(definitions: Mapping[str, Definition]) -> list[str]:
    """The segments' keys in an order where each comes after the segments it refers to (the
    order to evaluate them in). Raises DefinitionError when segments refer to each other in
    a cycle. References to keys not in `definitions` are ignored here."""
    references = {
        key: {ref: path for ref, path in segment_references(d).items() if ref in definitions}
        for key, d in definitions.items()
    }
    order: list[str] = []
    state: dict[str, int] = {}  # 1: being visited (on the trail), 2: done

    def children(key: str) -> Iterator[str]:
        return iter(sorted(references[key]))

    for start in sorted(definitions):
        if start in state:
            continue
        state[start] = 1
        trail, stack = [start], [(start, children(start))]
        while stack:
            key, pending = stack[-1]
            following = next(pending, None)
            if following is None:
                stack.pop()
                trail.pop()
                state[key] = 2
                order.append(key)
            elif state.get(following) == 1:
                cycle = [*trail[trail.index(following) :], following]
                first = cycle[0]
                path = references[first][cycle[1]]
                said = (
                    wording("self_reference")
                    if len(cycle) == 2
                    else wording("cycle", cycle=" → ".join(cycle))
                )
                raise DefinitionError([Problem.of(join(path, "segment"), said, segment=first)])
            elif following not in state:
                state[following] = 1
                trail.append(following)
                stack.append((following, children(following)))
    return order
