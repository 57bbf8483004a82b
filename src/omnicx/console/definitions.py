"""Segment definitions and scoring conditions in words, in the reader's language: the
audiences' text form (`definition_text`) with its phrases translated by the console's
catalogs, and the problems validation finds (they are extracted from `audiences/phrases.py`
and `audiences/scoring_phrases.py`, where `N_` marks them)."""

from __future__ import annotations

from functools import cache

from omnicx.audiences.definition import Definition
from omnicx.audiences.definition_text import render
from omnicx.audiences.errors import Problem
from omnicx.audiences.phrases import PHRASES
from omnicx.console import i18n


@cache
def _phrases(language: str) -> dict[str, str]:
    catalog = i18n.translations(language)
    return {key: catalog.gettext(text) for key, text in PHRASES.items()}


def in_words(definition: Definition, language: str) -> str:
    """The definition's text form in `language`."""
    return render(definition, _phrases(language))


def problem_in_words(problem: Problem, language: str) -> str:
    """The problem's message in `language` (i18n.say): its wording translated, the names and
    values the user gave kept as they are. pydantic's own words (no wording) stay as written."""
    if problem.wording is None:
        return problem.message
    return i18n.say(problem.wording, language)
