"""The console's languages: message catalogs (gettext, via Babel), the reader's language,
numbers and dates formatted the way that language writes them, and the domains' messages
(omnicx.wording) written in it.

Catalogs are the `.po` files under `locale/` (`make console-messages` extracts new strings),
compiled in memory when the console starts: no compiled `.mo` file to forget to rebuild.
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from datetime import datetime as DateTime
from functools import cache
from pathlib import Path
from typing import Final

from babel import Locale, dates, numbers
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from omnicx.wording import N_, Shape, WordedError, Wording

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"


@dataclass(frozen=True, slots=True)
class Language:
    """A language the console speaks."""

    code: str
    name: str
    """The language's name in itself, as the language picker shows it."""
    rtl: bool = False


LANGUAGES: dict[str, Language] = {
    language.code: language
    for language in (
        Language("en", "English"),
        Language("tr", "Türkçe"),
        Language("nl", "Nederlands"),
        Language("lv", "Latviešu"),
        Language("fa", "فارسی", rtl=True),
    )
}
DEFAULT_LANGUAGE = "en"
"""Messages are written in English in the templates and the code: `en` needs no catalog."""


@cache
def translations(code: str) -> gettext.NullTranslations:
    """The catalog of language `code` (English, or a language without a catalog: the
    messages as written)."""
    po = LOCALE_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.po"
    if code == DEFAULT_LANGUAGE or not po.exists():
        return gettext.NullTranslations()
    with po.open("rb") as source:
        catalog = read_po(source, locale=code, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def supported(code: str | None) -> str | None:
    """`code` (a language tag such as `fa-IR` or `nl`) as one of LANGUAGES, or None."""
    if not code:
        return None
    code = code.strip().replace("_", "-").lower()
    if code in LANGUAGES:
        return code
    primary = code.split("-", 1)[0]
    return primary if primary in LANGUAGES else None


def from_accept_language(header: str | None) -> str | None:
    """The best of LANGUAGES for an `Accept-Language` header, or None."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, parameters = part.strip().partition(";")
        quality = 1.0
        for parameter in parameters.split(";"):
            name, _, value = parameter.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and quality > 0:
            ranked.append((-quality, position, tag))
    for _, _, tag in sorted(ranked):
        found = supported(tag)
        if found:
            return found
    return None


def choose(candidates: Iterable[str | None]) -> str:
    """The first supported language of `candidates` (the reader's explicit choice first),
    else English."""
    for candidate in candidates:
        found = supported(candidate)
        if found:
            return found
    return DEFAULT_LANGUAGE


NATIVE_DIGITS: dict[str, str] = {
    "arabext": "۰۱۲۳۴۵۶۷۸۹",  # Persian
    "arab": "٠١٢٣٤٥٦٧٨٩",  # Arabic
}
"""The digits of the numbering systems a language may write in by default (CLDR). Babel gives
their separators and signs, but always writes ASCII digits."""


class Formatter:
    """Numbers, percentages, money and times as language `code` writes them, in its own
    digits (Persian: ۱۲٬۳۴۵٫۶)."""

    def __init__(self, code: str) -> None:
        self.locale = Locale.parse(code)
        system = self.locale.default_numbering_system
        self._system = system if system in NATIVE_DIGITS else "latn"
        digits = NATIVE_DIGITS.get(system)
        self._digits = str.maketrans("0123456789", digits) if digits else None

    def _native(self, text: str) -> str:
        return text.translate(self._digits) if self._digits else text

    def number(self, value: float | int | None, digits: int | None = None) -> str:
        if value is None:
            return "–"
        pattern = None if digits is None else "#,##0" + ("." + "0" * digits if digits else "")
        return self._native(
            numbers.format_decimal(
                value, format=pattern, locale=self.locale, numbering_system=self._system
            )
        )

    def percent(self, share: float | None, digits: int = 1) -> str:
        if share is None:
            return "–"
        pattern = "#,##0" + ("." + "0" * digits if digits else "") + "%"
        return self._native(
            numbers.format_percent(
                share, format=pattern, locale=self.locale, numbering_system=self._system
            )
        )

    def money(self, amount: float | None, currency: str) -> str:
        if amount is None:
            return "–"
        return self._native(
            numbers.format_currency(
                amount, currency, locale=self.locale, numbering_system=self._system
            )
        )

    def datetime(self, moment: DateTime | None, form: str = "medium") -> str:
        if moment is None:
            return "–"
        return self._native(dates.format_datetime(moment, form, locale=self.locale))

    def date(self, day: date | None, form: str = "medium") -> str:
        if day is None:
            return "–"
        return self._native(dates.format_date(day, form, locale=self.locale))

    def duration(self, span: timedelta | float | None) -> str:
        """A duration in words ("3 hours"); seconds when given a number."""
        if span is None:
            return "–"
        if not isinstance(span, timedelta):
            span = timedelta(seconds=span)
        return self._native(dates.format_timedelta(span, locale=self.locale))

    def ago(self, moment: DateTime | None, now: DateTime) -> str:
        """How long before `now` `moment` was ("5 minutes ago")."""
        if moment is None:
            return "–"
        return self._native(
            dates.format_timedelta(moment - now, add_direction=True, locale=self.locale)
        )


PROBLEM_SEPARATOR: Final = N_("; ")
"""Between the problems an error names (WordedError.SEPARATOR; Persian writes "؛ ")."""
FIRST_STRONG_ISOLATE: Final = "\u2068"
POP_DIRECTIONAL_ISOLATE: Final = "\u2069"


def isolate(text: str, language: str) -> str:
    """`text` (a name or value the user gave) set apart from the sentence around it when
    `language` is written right to left, so that its left-to-right words do not reorder the
    sentence (Unicode's FSI ... PDI, what `<bdi>` does in HTML); as it is otherwise."""
    written = LANGUAGES.get(language)
    if written is None or not written.rtl or not text:
        return text
    return f"{FIRST_STRONG_ISOLATE}{text}{POP_DIRECTIONAL_ISOLATE}"


@cache
def _shape(code: str) -> Shape:
    formatter = Formatter(code)

    def shape(value: object, written: str) -> str:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return formatter.number(value)
        return isolate(written, code)

    return shape


def say(said: Wording | WordedError | Sequence[Wording], language: str) -> str:
    """A domain's message (a wording, an error's wordings) in `language`: the template from
    the catalog, numbers as the language writes them, and in a right-to-left language each
    name or value the user gave isolated (FSI ... PDI). Every message the console shows from
    a domain is written here, so no page has to remember either."""
    catalog = translations(language)
    wordings = said.wordings if isinstance(said, WordedError) else said
    if isinstance(wordings, Wording):
        return wordings.text(catalog.gettext, _shape(language))
    separator = catalog.gettext(PROBLEM_SEPARATOR)
    return separator.join(w.text(catalog.gettext, _shape(language)) for w in wordings)
