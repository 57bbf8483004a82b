"""How a condition's value compares with a value of the profile or of an event.

The condition's value decides how both sides are read (docs/audiences-definitions.md#values):

- `true` / `false`: the other side is read as a yes/no, the way opt-in traits are (true,
  "yes", 1, "on"...);
- a number: the other side is read as a number (a number, or text such as "12.50");
- a text that is an ISO date (`2026-01-31`): the other side is read as a UTC *day* (a
  date-time is cut to its UTC date), so `lte 2026-01-31` includes all of that day;
- a text that is an ISO date-time (`2026-01-31T12:00:00Z`, no zone = UTC): read as instants;
- any other text: compared as text, ignoring case.

A side that cannot be read that way makes the comparison false. `neq`, `not_in` and
`not_exists` are the exact negations of `eq`, `in` and `exists`, so they hold for a missing
value. Lists (and sets, and the keys of objects) are matched element by element by
`contains` and `in`; `eq` never equals a list to a single value.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from functools import lru_cache
from typing import Any, Final, Literal, TypeGuard, get_args

from omnicx.profiles.consent import as_bool
from omnicx.profiles.facts import number
from omnicx.store.clock import as_utc

Scalar = str | int | float | bool
"""A condition's single value."""

TraitOp = Literal[  # docs/audiences-definitions.md#operators
    "eq",
    "neq",
    "in",
    "not_in",
    "contains",
    "starts_with",
    "gt",
    "gte",
    "lt",
    "lte",
    "between",
    "exists",
    "not_exists",
]
TRAIT_OPS: Final = get_args(TraitOp)
"""The operators of trait, computed-trait and property conditions."""

ORDERED_OPS: Final = frozenset({"gt", "gte", "lt", "lte"})
LIST_OPS: Final = frozenset({"in", "not_in"})
NO_VALUE_OPS: Final = frozenset({"exists", "not_exists"})

KIND_OPS: Final[dict[str, tuple[str, ...]]] = {
    "instant": ("eq", "neq", "gt", "gte", "lt", "lte", "between", "exists", "not_exists"),
    "number": (
        *("eq", "neq", "in", "not_in", "gt", "gte", "lt", "lte", "between"),
        *("exists", "not_exists"),
    ),
    "text": ("eq", "neq", "in", "not_in", "contains", "starts_with", "exists", "not_exists"),
    "set": ("contains", "in", "not_in", "exists", "not_exists"),
    "object": ("exists", "not_exists"),
}
"""The operators that make sense for each kind of computed trait."""


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_INSTANT = re.compile(
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}(:?\d{2})?)?$"
)


@dataclass(frozen=True, slots=True)
class Operand:
    """A condition value, read once: its kind and the value to compare with."""

    kind: str
    """number, text, bool, date or instant."""
    value: float | str | bool | date | datetime


def temporal(text: str) -> date | datetime | None:
    """An ISO date (a `date`) or date-time (a UTC `datetime`) from text; None otherwise."""
    text = text.strip()
    try:
        if _DATE.match(text):
            return date.fromisoformat(text)
        if _INSTANT.match(text):
            return as_utc(datetime.fromisoformat(text))
    except ValueError:
        return None
    return None


@lru_cache(maxsize=8192, typed=True)  # typed: 1, 1.0 and True are different operands
def operand(value: Scalar, *, as_text: bool = False) -> Operand:
    """How a single condition value compares (`as_text` for contains and starts_with)."""
    if isinstance(value, bool):
        return Operand("bool", value)
    if isinstance(value, int | float):
        return Operand("number", float(value))
    if not as_text:
        found = temporal(value)
        if isinstance(found, datetime):
            return Operand("instant", found)
        if found is not None:
            return Operand("date", found)
    return Operand("text", value.casefold())


def read(actual: object, kind: str) -> Any:
    """The profile's or event's value read as an operand of `kind` (None: it cannot be)."""
    if kind == "number":
        return number(actual)
    if kind == "text":
        return actual.casefold() if isinstance(actual, str) else None
    if kind == "bool":
        return as_bool(actual)
    if isinstance(actual, str):
        found = temporal(actual)
        if found is None:
            return None
        actual = found
    if isinstance(actual, datetime):
        return as_utc(actual).date() if kind == "date" else as_utc(actual)
    if isinstance(actual, date):
        return actual if kind == "date" else datetime.combine(actual, time(), UTC)
    return None


def is_collection(value: object) -> TypeGuard[Collection[Any]]:
    """Lists, sets and objects (whose keys count as its elements), not text."""
    return isinstance(value, Collection) and not isinstance(value, str | bytes)


def _equal(actual: object, wanted: Operand) -> bool:
    if is_collection(actual):
        return False
    found = read(actual, wanted.kind)
    return found is not None and bool(found == wanted.value)


def _ordered(op: str, found: Any, wanted: Any) -> bool:
    if op == "gt":
        return bool(found > wanted)
    if op == "gte":
        return bool(found >= wanted)
    if op == "lt":
        return bool(found < wanted)
    return bool(found <= wanted)


def compare(op: str, actual: object, value: Any) -> bool:
    """Whether `actual` (None when missing) satisfies `op` with the condition's `value`."""
    if op == "exists":
        return actual is not None
    if op == "not_exists":
        return actual is None
    if op == "neq":
        return not compare("eq", actual, value)
    if op == "not_in":
        return not compare("in", actual, value)
    if actual is None:
        return False
    if op == "eq":
        return _equal(actual, operand(value))
    if op == "in":
        listed = [operand(v) for v in value]
        elements = list(actual) if is_collection(actual) else [actual]
        return any(_equal(e, w) for e in elements for w in listed)
    if op == "contains":
        target = operand(value, as_text=True)
        if is_collection(actual):
            # Elements compare like `eq` would (a number in a list of numbers, a date...).
            exact = operand(value)
            return any(_equal(e, exact) for e in actual)
        return (
            target.kind == "text"
            and isinstance(actual, str)
            and str(target.value) in actual.casefold()
        )
    if op == "starts_with":
        target = operand(value, as_text=True)
        return (
            target.kind == "text"
            and isinstance(actual, str)
            and actual.casefold().startswith(str(target.value))
        )
    if is_collection(actual):
        return False
    if op == "between":
        low, high = operand(value[0]), operand(value[1])
        found = read(actual, low.kind)
        return (
            found is not None
            and _ordered("gte", found, low.value)
            and _ordered("lte", found, high.value)
        )
    wanted = operand(value)
    found = read(actual, wanted.kind)
    ordered = wanted.kind in ("number", "date", "instant")
    return ordered and found is not None and _ordered(op, found, wanted.value)
