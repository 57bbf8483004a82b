"""Messages before they are written out, so that each reader gets them in their language.

A domain says what is wrong as a `Wording`: a code, an English `str.format` template (also the
message's id in the console's catalogs, where `N_` marks it) and the fields that fill it in. The
API, the CLI and the logs write it in English (`str()` of a `WordedError`); the console writes
it in its reader's language (`console.i18n.say`), numbers as the language writes them.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Shape = Callable[[Any, str], str]
"""How a field (a name or value the user gave, one of our numbers) is written in a sentence:
given its value (after a `!r` conversion) and its text as the template writes it (format spec
applied), the text to put in."""


def N_(text: str) -> str:  # gettext's name for "mark for translation"
    """Marks a message for extraction into message catalogs; returns it unchanged."""
    return text


def _as_written(template: str) -> str:
    return template


class _Said(str):
    """A nested wording's text, already in the sentence's language: put in as it is."""

    __slots__ = ()


class _Writer(string.Formatter):
    """`str.format` with each field that is not a nested wording written by `shape`."""

    def __init__(self, shape: Shape) -> None:
        super().__init__()
        self._shape = shape

    def format_field(self, value: Any, format_spec: str) -> str:
        written = format(value, format_spec)
        return written if isinstance(value, _Said) else self._shape(value, written)


@dataclass(frozen=True, slots=True)
class Wording:
    """A message before it is written out: its code, its English `str.format` template (also
    its id in the console's message catalogs) and its fields. A field may be a wording too
    (a "did you mean" hint, the name of a kind), written in the same language; the other
    fields are the user's names and values and our numbers, written as they are unless a
    `shape` says otherwise."""

    code: str
    template: str
    fields: tuple[tuple[str, Any], ...] = ()

    def text(
        self, translate: Callable[[str], str] = _as_written, shape: Shape | None = None
    ) -> str:
        """The message in the language of `translate` (a catalog's gettext; English without),
        each field that is not a wording written by `shape` (as `str.format` would without)."""
        values = {
            name: _Said(value.text(translate, shape)) if isinstance(value, Wording) else value
            for name, value in self.fields
        }
        write = _Writer(shape).format if shape is not None else str.format
        try:
            return write(translate(self.template), **values)
        except (KeyError, IndexError, ValueError):
            # A translation that lost or garbled a field must not break the page: the
            # catalogs' tests catch it, and meanwhile the reader gets the English.
            return write(self.template, **values)


def worded(templates: Mapping[str, str], code: str, fields: Mapping[str, Any]) -> Wording:
    """The message `code` of `templates` (a module's table of N_-marked templates)."""
    return Wording(code, templates[code], tuple(fields.items()))


class WordedError(ValueError):
    """An error said in one or more wordings: `str()` is the English (the API, the CLI, the
    logs), `wordings` write it in another language (the console)."""

    SEPARATOR = "; "
    """Between the wordings of an error that names several problems."""

    def __init__(self, *said: Wording) -> None:
        super().__init__(self.SEPARATOR.join(wording.text() for wording in said))
        self.wordings: Sequence[Wording] = said

    @property
    def code(self) -> str:
        """The code of the (first) problem, for programs."""
        return self.wordings[0].code if self.wordings else ""
