"""The console speaks every language it offers: each catalog is complete, its placeholders
match the English, and the extracted template is current with the code."""

from __future__ import annotations

import string
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from omnicx.analytics.phrases import analytics_wording
from omnicx.audiences.errors import DefinitionError
from omnicx.audiences.insight_phrases import insight_wording
from omnicx.audiences.profile_features import FeatureError
from omnicx.audiences.scoring_validation import ModelError, parse_model
from omnicx.audiences.validation import parse_definition
from omnicx.console import i18n
from omnicx.console.definitions import in_words, problem_in_words

ROOT = Path(__file__).resolve().parents[2]
TRANSLATED = [code for code in i18n.LANGUAGES if code != i18n.DEFAULT_LANGUAGE]


def _catalog(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as source:
        return read_po(source, locale=locale)


def _ids(catalog: Catalog) -> set[str]:
    return {
        str(message.id if isinstance(message.id, str) else message.id[0])
        for message in catalog
        if message.id
    }


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """The messages the console's code and templates use now, and the audiences' and the
    analytics' phrases and errors it shows (what `make console-messages` extracts)."""
    pot = tmp_path_factory.mktemp("messages") / "messages.pot"
    done = subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg",
         "--no-location", "--sort-output", "-o", str(pot), "src/omnicx/console",
         "src/omnicx/audiences/phrases.py", "src/omnicx/audiences/scoring_phrases.py",
         "src/omnicx/audiences/insight_phrases.py", "src/omnicx/analytics/phrases.py"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return _catalog(pot)


def test_the_committed_template_lists_every_message_in_use(extracted: Catalog) -> None:
    committed = _catalog(i18n.LOCALE_DIR / "messages.pot")
    missing = _ids(extracted) - _ids(committed)
    assert not missing, f"run `make console-messages`: {sorted(missing)[:10]}"


@pytest.mark.parametrize("code", TRANSLATED)
def test_every_message_is_translated(code: str, extracted: Catalog) -> None:
    catalog = _catalog(i18n.LOCALE_DIR / code / "LC_MESSAGES" / "messages.po", code)
    translated = {
        str(m.id if isinstance(m.id, str) else m.id[0])
        for m in catalog
        if m.id and not m.fuzzy and (all(m.string) if isinstance(m.string, tuple) else m.string)
    }
    untranslated = _ids(extracted) - translated
    assert not untranslated, (
        f"{code}: {len(untranslated)} untranslated, e.g. {sorted(untranslated)[:5]}"
    )


@pytest.mark.parametrize("code", TRANSLATED)
def test_placeholders_survive_translation(code: str) -> None:
    catalog = _catalog(i18n.LOCALE_DIR / code / "LC_MESSAGES" / "messages.po", code)
    problems = [(message.id, [str(e) for e in errors]) for message, errors in catalog.check()]
    assert not problems, problems[:5]


def test_persian_is_right_to_left_and_translated() -> None:
    assert i18n.LANGUAGES["fa"].rtl
    assert not any(i18n.LANGUAGES[code].rtl for code in ("en", "tr", "nl", "lv"))
    for code in TRANSLATED:
        assert i18n.translations(code).gettext("Sign in") != "Sign in", code


def test_numbers_and_dates_are_written_in_each_languages_digits() -> None:
    moment = datetime(2026, 3, 9, 14, 5, tzinfo=UTC)
    persian = i18n.Formatter("fa")
    assert persian.number(12345.6) == "۱۲٬۳۴۵٫۶"
    assert persian.percent(0.123) == "۱۲٫۳%"
    assert "۲۰۲۶" in persian.date(moment.date()) and "2026" not in persian.date(moment.date())
    assert "۱۴:۰۵" in persian.datetime(moment)
    assert i18n.Formatter("tr").number(12345.6) == "12.345,6"
    assert i18n.Formatter("lv").number(12345.6) == "12\xa0345,6"
    assert i18n.Formatter("en").money(1234.5, "EUR") == "€1,234.50"


def _format_fields(template: str) -> set[tuple[str, str | None]]:
    """The `str.format` fields of `template`, with their conversions (`{name!r}` quotes)."""
    return {(f, c) for _, f, _, c in string.Formatter().parse(template) if f}


@pytest.mark.parametrize("code", TRANSLATED)
def test_format_fields_survive_translation(code: str) -> None:
    # The audiences' text form and validation errors fill `{fields}` with str.format: a
    # lost or renamed field would fail when a definition is shown in that language, and a
    # lost `!r` would show the user's names without their quotes.
    catalog = _catalog(i18n.LOCALE_DIR / code / "LC_MESSAGES" / "messages.po", code)
    lost = []
    for message in catalog:
        if isinstance(message.id, str) and "{" in message.id and message.string:
            fields = _format_fields(message.id)
            found = _format_fields(str(message.string))
            if fields != found:
                lost.append((message.id, message.string))
    assert not lost, lost


def test_segment_definitions_read_in_the_readers_language() -> None:
    definition = parse_definition(
        {"all": [{"event": "Order Completed", "within": {"last_days": 30}},
                 {"consent": {"channel": "email", "purpose": "marketing"}}]}
    )  # fmt: skip
    english = 'did "Order Completed" in the last 30 days AND consent email/marketing granted'
    assert in_words(definition, "en") == english
    assert in_words(definition, "tr") == (
        '"Order Completed" yaptı son 30 gün içinde VE email/marketing izni verilmiş'
    )
    assert "را انجام داد" in in_words(definition, "fa")


def test_validation_problems_read_in_the_readers_language() -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_definition({"computed": "orders", "op": "contains", "value": "x"})
    [problem] = caught.value.problems
    assert problem_in_words(problem, "en") == problem.message
    assert problem.message.startswith("orders is a number: use one of eq, neq,")
    assert problem_in_words(problem, "nl").startswith("orders is een getal: gebruik een van eq,")
    # Right to left, the user's names and our lists of keywords are isolated (FSI ... PDI).
    assert problem_in_words(problem, "fa").startswith(
        "\u2068orders\u2069 از نوع عدد است: یکی از \u2068eq,"
    )


def test_scoring_problems_read_in_the_readers_language() -> None:
    stages = [{"stage": "mql", "min": 5}, {"stage": "lead", "min": 10}]
    rule = {"id": "a", "points": 1, "when": {"identity": "email"}}
    with pytest.raises(ModelError) as caught:
        parse_model({"key": "m", "name": "M", "rules": [rule], "stages": stages})
    [problem] = caught.value.problems
    assert problem.message == (
        "stage 'lead' cannot come after 'mql': the ladder goes "
        "subscriber → lead → mql → sql → customer, lowest first"
    )
    assert problem_in_words(problem, "tr") == (
        "'lead' aşaması 'mql' aşamasından sonra gelemez: sıralama en düşükten başlayarak "
        "subscriber → lead → mql → sql → customer şeklindedir"
    )


def test_a_domains_message_is_written_the_way_the_language_writes() -> None:
    # Numbers in the language's digits, a value the user typed isolated from a right-to-left
    # sentence (FSI ... PDI), the problems of one error joined by the language's separator.
    depth = analytics_wording("paths_depth", low=1, high=10, depth=1200)
    assert i18n.say(depth, "en") == "the depth must be 1 to 10 steps, not 1,200"
    assert i18n.say(depth, "fa") == "عمق باید از ۱ تا ۱۰ گام باشد، نه ۱٬۲۰۰"
    typed = analytics_wording("filter_field", field="colour")
    assert i18n.say(typed, "nl").startswith("kan niet filteren op 'colour': ")
    assert i18n.say(typed, "fa").startswith("فیلتر بر اساس \u2068'colour'\u2069 ممکن نیست")
    error = FeatureError(
        insight_wording("id_empty", count=2), insight_wording("infinite", name="orders")
    )
    assert i18n.say(error, "fa") == (
        "profile_id در ۲ ردیف خالی است؛ \u2068orders\u2069 مقادیر بی‌نهایت دارد"
    )
