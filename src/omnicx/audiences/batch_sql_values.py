"""How each kind of stored value reads in DuckDB SQL (for batch_sql).

A `Value` is a person's value as the query holds it (a trait's JSON text, a typed computed
column, or one element of a list) and gives its readings as the operand kinds of
`values.operand` need them: number, text (casefolded), bool, date, instant; NULL where
`values.read` gives None. Readings become columns of the query (through a `Define`), so each
is computed once per person however many conditions use it; batch_sql_compare builds the
operators on them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

from omnicx.audiences.batch_sql_text import (
    FALSE,
    Sql,
    ascii_digits,
    ex,
    finite,
    folded,
    instant_of,
    json_number_types,
    number_of,
    stripped,
    yes_no_of,
)

Define = Callable[[Sql, str], Sql]
"""Materialises a fragment as a column of the query (and returns a reference to it)."""


Element = Callable[[Define, Sql], "Value"]
"""Builds the Value of a list's element from the element's Define and the element itself."""


def element_define(define: Define, anchor: Sql) -> Define:
    """A Define for readings of the elements of the list column `anchor`: each reading is a
    list column aligned with it, built once like any column, and read at the element's
    index `_i` (so that readings of elements are as compact as those of columns)."""

    def element(fragment: Sql, hint: str) -> Sql:
        built = ex(f"list_transform({anchor}, lambda _x, _i: {fragment})", anchor, fragment)
        column = define(built, hint)
        return ex(f"{column}[_i]", column)

    return element


EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
INSTANT_PREFIX: Final = "@instant:"
DATE_PREFIX: Final = "@date:"
OPAQUE: Final = "@opaque"
"""Trait values JSON cannot carry (see batch_sql's schema): never valid JSON, which cannot
start with `@`."""


def micros(at: datetime) -> int:
    """Microseconds since the epoch of a UTC instant."""
    delta = at - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


class Value:
    """A value of the person; subclasses say how it reads. The base reads as nothing."""

    def present(self) -> Sql:
        """Not None (`exists`)."""
        raise NotImplementedError

    def collection(self) -> Sql:
        """A list, set or object (never NULL)."""
        return FALSE

    def element_lists(self) -> list[tuple[Sql, Element]]:
        """List columns of the elements (an object's keys) when a collection, each with how
        its elements read; empty when never a collection."""
        return []

    def reading(self, kind: str) -> Sql | None:
        """The value read as `kind` (values.read), NULL where it cannot be; None when it
        never can (the comparison is then false without asking the database)."""
        if kind == "date":
            # values.read: the date of anything is the UTC day of its instant.
            at = self.reading("instant")
            return None if at is None else self.define(ex(f"CAST({at} AS DATE)", at), "day")
        return None

    def define(self, fragment: Sql, hint: str) -> Sql:
        raise NotImplementedError


class TextValue(Value):
    """Text (a text computed trait, a set's element, an object's key, a JSON string)."""

    def __init__(self, s: Sql, define: Define) -> None:
        self.s, self._define = s, define

    def define(self, fragment: Sql, hint: str) -> Sql:
        return self._define(fragment, hint)

    def present(self) -> Sql:
        return ex(f"({self.s} IS NOT NULL)", self.s)

    def reading(self, kind: str) -> Sql | None:
        if kind == "text":
            return self.define(folded(self.s), "fold")
        if kind == "date":
            return super().reading(kind)
        t = self.define(stripped(self.s), "strip")
        if kind == "number":
            return self.define(number_of(self.define(ascii_digits(t), "digits")), "num")
        if kind == "bool":
            return self.define(yes_no_of(t), "yes")
        if kind == "instant":
            return self.define(instant_of(t), "at")
        return None


class JsonValue(Value):
    """JSON text: a trait's value (top level: also the `@` forms) or a JSON list's element."""

    def __init__(self, v: Sql, define: Define, *, top: bool) -> None:
        self.v, self._define, self.top = v, define, top
        kind = f"CASE WHEN NOT starts_with({v}, '@') THEN json_type({v}) END" if top else None
        self.type = define(ex(f"({kind or f'json_type({v})'})", v), "jt")
        string = f"(CASE WHEN {self.type} = 'VARCHAR' THEN json_extract_string({v}, '$') END)"
        self.text = TextValue(define(ex(string, v, self.type), "str"), define)

    def define(self, fragment: Sql, hint: str) -> Sql:
        return self._define(fragment, hint)

    def present(self) -> Sql:
        # An `@` form has no JSON type and is present; JSON null is a missing value.
        return ex(
            f"({self.v} IS NOT NULL AND coalesce({self.type} <> 'NULL', true))", self.v, self.type
        )

    def collection(self) -> Sql:
        return ex(f"coalesce({self.type} IN ('ARRAY', 'OBJECT'), false)", self.type)

    def element_lists(self) -> list[tuple[Sql, Element]]:
        v, jt = self.v, self.type
        items = ex(
            f"(CASE WHEN {jt} = 'ARRAY' THEN CAST(json_extract({v}, '$[*]') AS VARCHAR[]) END)",
            v,
            jt,
        )
        keys = ex(f"(CASE WHEN {jt} = 'OBJECT' THEN json_keys({v}) END)", v, jt)
        return [
            (self.define(items, "items"), lambda d, e: JsonValue(e, d, top=False)),
            (self.define(keys, "keys"), lambda d, e: TextValue(e, d)),
        ]

    def _number(self) -> Sql:
        native = ex(f"TRY_CAST({self.v} AS DOUBLE)", self.v)
        text = self.text.reading("number")
        expr = (
            f"(CASE WHEN {self.type} IN {json_number_types()} "
            # JSON has no NaN; a number too big for a double is infinite, and so no number.
            f"THEN nullif(nullif({native}, 'inf'::DOUBLE), '-inf'::DOUBLE) ELSE {text} END)"
        )
        return self.define(ex(expr, self.type, native, text), "num")

    def reading(self, kind: str) -> Sql | None:
        jt = self.type
        if kind == "number":
            return self._number()
        if kind == "bool":
            number, text = self._number(), self.text.reading("bool")
            expr = (
                f"(CASE WHEN {jt} = 'BOOLEAN' THEN json_extract_string({self.v}, '$') = 'true' "
                f"WHEN {jt} IN {json_number_types()} THEN "
                f"(CASE WHEN {number} = 1 THEN true WHEN {number} = 0 THEN false END) "
                f"ELSE {text} END)"
            )
            return self.define(ex(expr, jt, self.v, number, text), "yes")
        if kind == "date":
            return super().reading(kind)
        text = self.text.reading(kind)
        if kind != "instant" or not self.top:
            return text
        # A date or date-time that JSON could not carry (facts from Python, not storage).
        v = self.v
        at = f"TRY_CAST(substr({v}, {len(INSTANT_PREFIX) + 1}) AS TIMESTAMP)"
        day = f"TRY_CAST(substr({v}, {len(DATE_PREFIX) + 1}) AS DATE)"
        expr = (
            f"(CASE WHEN starts_with({v}, '{INSTANT_PREFIX}') THEN {at} "
            f"WHEN starts_with({v}, '{DATE_PREFIX}') THEN CAST({day} AS TIMESTAMP) "
            f"ELSE {text} END)"
        )
        return self.define(ex(expr, v, text), "at")


class NumberValue(Value):
    """A DOUBLE column (NaN and infinities kept: present, yet no number)."""

    def __init__(self, c: Sql, define: Define) -> None:
        self.c, self._define = c, define

    def define(self, fragment: Sql, hint: str) -> Sql:
        return self._define(fragment, hint)

    def present(self) -> Sql:
        return ex(f"({self.c} IS NOT NULL)", self.c)

    def reading(self, kind: str) -> Sql | None:
        if kind == "number":
            return self.define(finite(self.c), "num")
        if kind == "bool":
            expr = f"(CASE WHEN {self.c} = 1 THEN true WHEN {self.c} = 0 THEN false END)"
            return self.define(ex(expr, self.c), "yes")
        return None


class InstantValue(Value):
    """A TIMESTAMP WITH TIME ZONE column, read as naive UTC whatever the session's zone."""

    def __init__(self, c: Sql, define: Define) -> None:
        self.c, self._define = c, define

    def define(self, fragment: Sql, hint: str) -> Sql:
        return self._define(fragment, hint)

    def present(self) -> Sql:
        return ex(f"({self.c} IS NOT NULL)", self.c)

    def reading(self, kind: str) -> Sql | None:
        if kind == "instant":
            return self.define(ex(f"make_timestamp(epoch_us({self.c}))", self.c), "at")
        return super().reading(kind)


class TextListValue(Value):
    """A list of text (a set such as the channels a person was seen on)."""

    def __init__(self, c: Sql, define: Define) -> None:
        self.c, self._define = c, define

    def define(self, fragment: Sql, hint: str) -> Sql:
        return self._define(fragment, hint)

    def present(self) -> Sql:
        return ex(f"({self.c} IS NOT NULL)", self.c)

    def collection(self) -> Sql:
        return self.present()

    def element_lists(self) -> list[tuple[Sql, Element]]:
        return [(self.c, lambda d, e: TextValue(e, d))]
