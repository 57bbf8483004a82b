"""What is wrong with a console request's parameters, in the reader's language.

FastAPI checks the parameters of a console route (`Query(ge=1)`, `Form(max_length=...)`) with
pydantic, whose messages are English. The console words each problem from the error's type and
context instead, with the value the reader gave quoted; a type it does not know says the value
cannot be used. The API (/api) keeps pydantic's English: it answers programs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

from omnicx.console import i18n
from omnicx.wording import N_, Wording, worded

REQUEST_ERRORS: dict[str, str] = {
    "missing": N_("is needed"),
    "too_long": N_("is longer than {limit} characters"),
    "too_short": N_("is shorter than {limit} characters"),
    "not_whole_number": N_("{value!r} is not a whole number"),
    "not_number": N_("{value!r} is not a number"),
    "not_true_false": N_("{value!r} is neither true nor false"),
    "not_date": N_("{value!r} is not a date: write it as YYYY-MM-DD"),
    "not_a_choice": N_("{value!r} is not one of the choices: {choices}"),
    "at_least": N_("must be at least {limit}; {value!r} was given"),
    "more_than": N_("must be more than {limit}; {value!r} was given"),
    "at_most": N_("must be at most {limit}; {value!r} was given"),
    "less_than": N_("must be less than {limit}; {value!r} was given"),
    "not_json": N_("is not valid JSON"),
    "invalid": N_("{value!r} cannot be used here"),
}
"""The console's words for pydantic's errors of request parameters."""

_BY_TYPE: Final[dict[str, str]] = {
    "missing": "missing",
    "string_too_long": "too_long",
    "string_too_short": "too_short",
    "int_parsing": "not_whole_number",
    "int_type": "not_whole_number",
    "int_from_float": "not_whole_number",
    "float_parsing": "not_number",
    "float_type": "not_number",
    "decimal_parsing": "not_number",
    "bool_parsing": "not_true_false",
    "bool_type": "not_true_false",
    "date_parsing": "not_date",
    "date_from_datetime_parsing": "not_date",
    "date_type": "not_date",
    "literal_error": "not_a_choice",
    "enum": "not_a_choice",
    "greater_than_equal": "at_least",
    "greater_than": "more_than",
    "less_than_equal": "at_most",
    "less_than": "less_than",
    "json_invalid": "not_json",
}
_LIMITS: Final = ("max_length", "min_length", "ge", "gt", "le", "lt")
"""The context keys that hold the limit a value broke (one per type)."""
_LOCATIONS: Final = ("query", "body", "path", "form", "header", "cookie")
_OR: Final = re.compile(r", | or ")
"""How pydantic lists the choices of a literal or an enum ("'a', 'b' or 'c'", "30 or 90")."""


def field_name(location: Iterable[Any]) -> str:
    """The field an error is about, without where the request carried it (`query.days` is
    `days`): the reader knows the field, not the request."""
    parts = [str(part) for part in location]
    if len(parts) > 1 and parts[0] in _LOCATIONS:
        parts = parts[1:]
    return ".".join(parts) or "request"


def wording_of(error: Mapping[str, Any]) -> Wording:
    """One pydantic error of a request's parameters in the console's words."""
    code = _BY_TYPE.get(str(error.get("type")), "invalid")
    context = error.get("ctx") or {}
    limit = next((context[key] for key in _LIMITS if key in context), None)
    given = error.get("input")
    value = given if isinstance(given, str | int | float) else ""
    # The choices as the reader types them, without pydantic's English "or".
    choices = ", ".join(_OR.split(str(context.get("expected", ""))))
    return worded(REQUEST_ERRORS, code, {"limit": limit, "value": value, "choices": choices})


def request_problems(errors: Iterable[Mapping[str, Any]], language: str) -> list[dict[str, str]]:
    """Each error of a request as `{"field", "message"}` in `language`, for message.html."""
    return [
        {
            "field": field_name(error.get("loc", ())),
            "message": i18n.say(wording_of(error), language),
        }
        for error in errors
    ]
