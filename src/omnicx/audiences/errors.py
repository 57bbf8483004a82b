"""Problems with a definition, named by their JSON path: the exception, the messages, and
the problems of shape (pydantic's errors, translated; depth and size limits).

A problem keeps its message's wording (omnicx.wording: code, English template, fields) beside
the English text, so that the console can write it in its reader's language while the API and
the CLI keep the English."""

from __future__ import annotations

import difflib
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, Final, get_args

from pydantic import BaseModel, ValidationError

from omnicx.audiences.definition import KINDS, TAGS, Count, CountOp, join
from omnicx.audiences.phrases import ERRORS
from omnicx.audiences.values import TraitOp
from omnicx.wording import Wording, worded

__all__ = [
    "DefinitionError",
    "Problem",
    "Wording",
    "limits",
    "suggest",
    "translate",
    "worded",
    "wording",
]

MAX_DEPTH: Final = 10
"""Groups (all / any / not) nested in each other at most this deep."""
MAX_CONDITIONS: Final = 500
MAX_DAYS: Final = 3650
MAX_HOURS: Final = MAX_DAYS * 24


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a definition: where (a JSON path, "" for the whole) and what."""

    path: str
    message: str
    """In English: what the API and the CLI show."""
    segment: str | None = None
    """The segment's key, when several definitions are checked together (check_cycles)."""
    wording: Wording | None = field(default=None, compare=False)
    """How the message is made, to write it in another language; None for pydantic's own
    words (a problem our messages do not name)."""

    @classmethod
    def of(cls, path: str, said: Wording | str, segment: str | None = None) -> Problem:
        """The problem at `path` with the message `said` (a wording, or words as they are)."""
        if isinstance(said, str):
            return cls(path, said, segment)
        return cls(path, said.text(), segment, said)

    def __str__(self) -> str:
        text = f"{self.path or 'definition'}: {self.message}"
        return f"segment {self.segment!r}: {text}" if self.segment else text


class DefinitionError(ValueError):
    """A definition that cannot be used; `problems` lists every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def wording(code: str, **fields: Any) -> Wording:
    """The message `code` of phrases.ERRORS with its fields."""
    return worded(ERRORS, code, fields)


def suggest(name: object, choices: Collection[str]) -> Wording | str:
    """The "did you mean" hint for a near miss among `choices`; "" when there is none."""
    if not isinstance(name, str):
        return ""
    found = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return wording("suggestion", name=found[0]) if found else ""


def limits(document: Any) -> list[Problem]:
    """Depth and size, checked on the raw document so that pydantic never recurses far."""
    seen = 0
    stack: list[tuple[Any, str, int]] = [(document, "", 1)]
    while stack:
        node, path, depth = stack.pop()
        if not isinstance(node, dict):
            continue
        seen += 1
        if seen > MAX_CONDITIONS:
            return [Problem.of("", wording("too_many", limit=MAX_CONDITIONS))]
        groups = [kind for kind in ("all", "any", "not") if kind in node]
        if groups and depth > MAX_DEPTH:
            return [Problem.of(path, wording("too_deep", limit=MAX_DEPTH))]
        children: list[tuple[Any, str, int]] = []
        for kind in groups:
            value = node[kind]
            if kind == "not":
                children.append((value, join(path, "not"), depth + 1))
            elif isinstance(value, list):
                children.extend(
                    (child, join(join(path, kind), i), depth + 1) for i, child in enumerate(value)
                )
        stack.extend(reversed(children))  # document order: the first problem is reported
    return []


def _model_at(location: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model whose field the last element of a pydantic error location names."""
    model: type[BaseModel] | None = None
    for part in location[:-1]:
        if isinstance(part, str) and part in TAGS:
            model = KINDS[part[1:]]
        elif isinstance(part, str) and model is not None:
            fields = {f.alias or name: f for name, f in model.model_fields.items()}
            field = fields.get(part)
            model = _inner_model(field.annotation) if field else None
    return model


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in get_args(annotation):
        found = _inner_model(argument)
        if found is not None:
            return found
    return None


_TYPE_ERRORS = {
    "string_type": "not_text",
    "bool_type": "not_bool",
    "model_type": "not_object",
    "model_attributes_type": "not_object",
    "dict_type": "not_object",
    "tuple_type": "not_list",
    "list_type": "not_list",
    "missing": "missing",
}


def translate(error: ValidationError) -> list[Problem]:
    """pydantic's errors as problems at JSON paths, in words of our own."""
    problems: list[Problem] = []
    for found in error.errors(include_url=False):
        raw = tuple(found["loc"])
        location = [part for part in raw if not (isinstance(part, str) and part in TAGS)]
        path = parent = ""
        for part in location:
            parent, path = path, join(path, part)
        kind, last = found["type"], location[-1] if location else None
        given = found.get("input")
        if kind == "too_short" and isinstance(given, list | tuple) and given:
            continue  # pydantic counts the items that passed: the items' errors say it all
        said: Wording | str
        if kind == "not_a_condition":
            said = wording("not_a_condition", kinds=", ".join(KINDS))
        elif kind == "extra_forbidden":
            model = _model_at(raw)
            expected = [f.alias or n for n, f in model.model_fields.items()] if model else []
            path = parent  # the object with the key, rather than the key
            if model in KINDS.values() and last in KINDS:
                said = wording("two_kinds", kinds=", ".join(KINDS))
            else:
                said = wording(
                    "unknown_key",
                    key=last,
                    suggestion=suggest(last, expected),
                    expected=", ".join(expected),
                )
        elif kind == "literal_error":
            choices = get_args(CountOp if _model_at(raw) is Count else TraitOp)
            said = wording(
                "unknown_op",
                op=given,
                suggestion=suggest(given, choices),
                choices=", ".join(choices),
            )
        elif kind == "too_short":
            said = wording("empty_group" if last in ("all", "any") else "missing")
        elif kind == "string_too_short":
            said = wording("empty_text")
        elif kind == "string_too_long":
            said = wording("too_long", limit=found.get("ctx", {}).get("max_length"))
        elif last in ("last_days", "last_hours"):
            limit = MAX_DAYS if last == "last_days" else MAX_HOURS
            said = wording("window_positive", limit=limit)
        elif kind in _TYPE_ERRORS:
            said = wording(_TYPE_ERRORS[kind])
        else:
            said = found["msg"]
        problem = Problem.of(path, said)
        if problem not in problems:
            problems.append(problem)
    return problems
