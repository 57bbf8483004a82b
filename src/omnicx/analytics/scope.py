"""What part of the lake a query looks at: a date range, event filters, a group of people."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from omnicx.analytics.phrases import analytics_wording as _say
from omnicx.wording import WordedError

OPERATORS = ("=", "!=", ">=", "<=", ">", "<", "~")
"""`~` means "contains" (text)."""

_FIELD = re.compile(r"^(channel|source|type|event|(properties|traits)\.[A-Za-z0-9_$ .-]{1,100})$")
_PARSE = re.compile(r"^\s*([^=!<>~]+?)\s*(!=|>=|<=|=|>|<|~)\s*(.*?)\s*$")


class ScopeError(WordedError):
    """A filter or a date range that cannot be used; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class Filter:
    """A condition on events: `channel`, `source`, `type`, `event`, `properties.NAME` or
    `traits.NAME`, compared with one of OPERATORS to a value (numbers compare as numbers)."""

    field: str
    op: str
    value: str

    def __post_init__(self) -> None:
        if not _FIELD.match(self.field):
            raise ScopeError(_say("filter_field", field=self.field))
        if self.op not in OPERATORS:
            raise ScopeError(_say("filter_op", op=self.op, choices=OPERATORS))

    @classmethod
    def parse(cls, text: str) -> Filter:
        """Reads `properties.country=NL`, `channel!=email`, `properties.total>100`..."""
        found = _PARSE.match(text)
        if not found:
            raise ScopeError(_say("filter_unreadable", text=text))
        return cls(found.group(1), found.group(2), found.group(3))

    def sql(self, parameters: list[Any]) -> str:
        """This condition as DuckDB SQL over the `events` columns, adding its parameters."""
        if "." in self.field:
            column, name = self.field.split(".", 1)
            # The path is a literal, not a parameter: the subject may appear twice below.
            subject = f"json_extract_string({column}, {json_path(name)})"
        else:
            subject = self.field
        if self.op == "~":
            parameters.append(self.value)
            return f"contains(coalesce({subject}, ''), ?)"
        number = _number(self.value)
        if number is not None and self.op not in ("=", "!="):
            parameters.append(number)
            return f"coalesce(TRY_CAST({subject} AS DOUBLE) {self.op} ?, false)"
        parameters.append(self.value)
        if self.op == "!=":
            return f"({subject} IS NULL OR {subject} != ?)"
        # Never NULL: a missing property does not match, also where the result is negated.
        return f"coalesce({subject} {self.op} ?, false)"


def json_path(name: str) -> str:
    """The SQL literal of the JSON path of a (dotted) property or trait name."""
    path = "$." + ".".join('"' + part.replace('"', "") + '"' for part in name.split("."))
    return "'" + path.replace("'", "''") + "'"


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Scope:
    """The events an analysis reads: from `start` to `end` (UTC days, inclusive; None is
    open), matching every filter, of the people in `people` when given (a segment)."""

    start: date | None = None
    end: date | None = None
    filters: tuple[Filter, ...] = ()
    people: frozenset[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.start and self.end and self.start > self.end:
            raise ScopeError(_say("range_reversed", end=str(self.end), start=str(self.start)))

    @property
    def start_at(self) -> datetime | None:
        """The first instant in the range (naive UTC, as the lake stores times)."""
        return datetime.combine(self.start, time()) if self.start else None

    @property
    def end_before(self) -> datetime | None:
        """The first instant after the range."""
        return datetime.combine(self.end + timedelta(days=1), time()) if self.end else None


def parse_filters(texts: Sequence[str]) -> tuple[Filter, ...]:
    """Filters from their text forms (the CLI's `--where`)."""
    return tuple(Filter.parse(t) for t in texts)
