"""DuckDB SQL that reads text exactly as `values.read` does (for batch_sql).

Each function takes SQL fragments and returns one. The readings are:

- `stripped`: `str.strip()`: the 29 characters Python calls whitespace, not only spaces;
- `number_of`: `profiles.facts.number`: `float(text.strip())` when finite. Python's `float`
  takes underscores between digits and any Unicode decimal digit; DuckDB's cast takes other
  things (`1__0`, `inf`), so a regex of Python's grammar decides and the cast only converts
  (`ascii_digits` first);
- `yes_no_of`: `profiles.consent.as_bool` on text;
- `instant_of`: `values.temporal`, as a naive UTC TIMESTAMP (the "date" reading is its day);
- `folded`: `str.casefold()`. DuckDB's `lower` equals it on ASCII only (it keeps `ß`, turns
  `İ` into `i`, and follows DuckDB's Unicode tables), and exact folding in SQL measured
  200 µs a row with `translate` and 30 µs with a MAP lookup per character, so text with any
  non-ASCII character is folded by Python (`CASEFOLD_UDF`, ~1 µs a value).
"""

from __future__ import annotations

import sys
import unicodedata
from dataclasses import dataclass
from functools import cache
from typing import Final

# as_bool's own word lists, so that the SQL cannot drift from them.
from omnicx.profiles.consent import _FALSE, _TRUE

CASEFOLD_UDF: Final = "omnicx_casefold"
"""The one Python function queries call (registered by batch_sql.register_functions)."""


@dataclass(frozen=True, slots=True)
class Sql:
    """A SQL expression and the first query layer that can evaluate it (batch_sql builds the
    query as layers of projections; a column defined in layer N is readable from N + 1)."""

    text: str
    layer: int = 0

    def __str__(self) -> str:
        return self.text


def ex(text: str, *parts: Sql | None) -> Sql:
    """A fragment made of `parts` (already formatted into `text`): evaluable once all are."""
    return Sql(text, max((p.layer for p in parts if p is not None), default=0))


FALSE: Final = Sql("false")
TRUE: Final = Sql("true")


def quote(text: str) -> str:
    """A SQL string literal. NUL cannot sit inside a literal, so it is spliced in."""
    parts = ["'" + part.replace("'", "''") + "'" for part in text.split("\0")]
    return "(" + " || chr(0) || ".join(parts) + ")" if len(parts) > 1 else parts[0]


def identifier(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _char_class(chars: str) -> str:
    """A RE2 character class of exactly these characters (ranges, \\x{...} escapes)."""
    points = sorted({ord(c) for c in chars})
    ranges: list[tuple[int, int]] = []
    for point in points:
        if ranges and ranges[-1][1] == point - 1:
            ranges[-1] = (ranges[-1][0], point)
        else:
            ranges.append((point, point))
    body = "".join(f"\\x{{{a:x}}}" if a == b else f"\\x{{{a:x}}}-\\x{{{b:x}}}" for a, b in ranges)
    return f"[{body}]"


@cache
def _whitespace() -> str:
    return "".join(chr(i) for i in range(sys.maxunicode + 1) if chr(i).isspace())


@cache
def _decimals() -> tuple[str, str]:
    """The non-ASCII characters `float()` reads as digits (Unicode decimals), and the ASCII
    digit of each."""
    found = [
        (chr(i), value)
        for i in range(128, sys.maxunicode + 1)
        if (value := unicodedata.decimal(chr(i), None)) is not None
    ]
    return "".join(c for c, _ in found), "".join(str(v) for _, v in found)


# Python's float() grammar (docs: "floating-point literals" plus sign), ASCII digits only:
# digits may be grouped by single underscores; "inf" and "nan" are left out on purpose
# (they are not finite, so `number` is None for them anyway).
_DIGITS = "[0-9](?:_?[0-9])*"
_FLOAT = f"[+-]?(?:(?:{_DIGITS})?\\.{_DIGITS}|{_DIGITS}\\.?)(?:[eE][+-]?{_DIGITS})?"
_DATE = "[0-9]{4}-[0-9]{2}-[0-9]{2}"
# values._INSTANT with ASCII digits (fromisoformat refuses other digits), its parts captured.
_INSTANT = (
    f"^({_DATE})[T ]([0-9]{{2}}):([0-9]{{2}})(?::([0-9]{{2}})(?:\\.([0-9]{{1,6}}))?)?"
    "(?:Z|([+-])([0-9]{2})(?::?([0-9]{2}))?)?$"
)
_INSTANT_PARTS = "['d', 'h', 'mi', 's', 'f', 'sign', 'oh', 'om']"
_NUMBER_TYPES = "('BIGINT', 'UBIGINT', 'HUGEINT', 'DOUBLE')"


def is_ascii(s: Sql) -> Sql:
    # length counts code points, strlen bytes: equal only when every character is ASCII.
    return ex(f"(strlen({s}) = length({s}))", s)


def stripped(s: Sql) -> Sql:
    """`s.strip()`."""
    return ex(f"trim({s}, {quote(_whitespace())})", s)


def finite(x: Sql) -> Sql:
    """x when it is a finite number (x is repeated: keep it a column)."""
    return ex(f"(CASE WHEN isfinite({x}) THEN {x} END)", x)


def ascii_digits(t: Sql) -> Sql:
    """`t` with Unicode decimal digits made ASCII, as `float()` reads them. `translate` is
    slow (it builds its map for every row), so only text holding such a digit goes through
    it."""
    decimals, digits = _decimals()
    return ex(
        f"(CASE WHEN regexp_matches({t}, '{_char_class(decimals)}') "
        f"THEN translate({t}, {quote(decimals)}, {quote(digits)}) ELSE {t} END)",
        t,
    )


def number_of(u: Sql) -> Sql:
    """`float(t)` when finite, else NULL, for `u = ascii_digits(stripped text)`."""
    # The regex leaves out inf and nan, so only an overflow can be infinite.
    cast = f"TRY_CAST(replace({u}, '_', '') AS DOUBLE)"
    return ex(
        f"(CASE WHEN regexp_full_match({u}, '{_FLOAT}') "
        f"THEN nullif(nullif({cast}, 'inf'::DOUBLE), '-inf'::DOUBLE) END)",
        u,
    )


def yes_no_of(t: Sql) -> Sql:
    """`as_bool` of stripped text `t`: the words are ASCII, and no non-ASCII text lowers to
    one in Python (DuckDB's lower would turn "OPT-İN" into one: hence the ASCII test)."""
    yes = ", ".join(quote(w) for w in sorted(_TRUE))
    no = ", ".join(quote(w) for w in sorted(_FALSE))
    return ex(
        f"(CASE WHEN {is_ascii(t)} THEN CASE WHEN lower({t}) IN ({yes}) THEN true "
        f"WHEN lower({t}) IN ({no}) THEN false END END)",
        t,
    )


def _parsed_instant(t: Sql) -> str:
    """The instant of stripped text `t` when it is an ISO date-time Python accepts, else NULL.

    Python's rules, checked one by one: a real date from year 1, hour < 24, minute and
    second < 60, 1 to 6 fraction digits, and an offset (minutes up to 99 allowed) under 24 h.
    """
    p = "_p"  # the parts, bound once by a lambda over a one-element list (SQL has no `let`)

    def part(name: str) -> str:
        return f"coalesce(TRY_CAST({p}.{name} AS BIGINT), 0)"  # '' when absent: 0

    offset = f"({part('oh')} * 60 + {part('om')})"
    day = f"TRY_CAST({p}.d AS DATE)"
    micros = (
        f"((({day} - DATE '1970-01-01') * 86400 + {part('h')} * 3600 + {part('mi')} * 60"
        f" + {part('s')} - (CASE WHEN {p}.sign = '-' THEN -60 ELSE 60 END) * {offset})"
        f" * 1000000 + coalesce(TRY_CAST(rpad({p}.f, 6, '0') AS BIGINT), 0))"
    )
    valid = (
        f"NOT starts_with({p}.d, '0000') AND {day} IS NOT NULL AND {part('h')} < 24"
        f" AND {part('mi')} < 60 AND {part('s')} < 60 AND {offset} < 1440"
    )
    parts = f"regexp_extract({t}, '{_INSTANT}', {_INSTANT_PARTS})"
    body = f"CASE WHEN {p}.d <> '' AND {valid} THEN make_timestamp({micros}) END"
    return f"list_transform([{parts}], lambda {p}: {body})[1]"


def instant_of(t: Sql) -> Sql:
    """`read(t, "instant")` for stripped text: a date's midnight, a date-time in UTC. (The
    "date" reading is always this instant's UTC day, so it is not repeated here.)"""
    return ex(
        f"(CASE WHEN regexp_full_match({t}, '{_DATE}') THEN CAST("
        f"(CASE WHEN NOT starts_with({t}, '0000') THEN TRY_CAST({t} AS DATE) END) AS TIMESTAMP) "
        f"WHEN regexp_matches({t}, '^{_DATE}[T ]') THEN {_parsed_instant(t)} END)",
        t,
    )


def folded(s: Sql) -> Sql:
    """`s.casefold()` (not stripped)."""
    return ex(f"(CASE WHEN {is_ascii(s)} THEN lower({s}) ELSE {CASEFOLD_UDF}({s}) END)", s)


def json_number_types() -> str:
    """The `json_type` names of JSON numbers."""
    return _NUMBER_TYPES
