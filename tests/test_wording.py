"""Messages as wordings (omnicx.wording): English for the API and the CLI, and written field
by field for another language by the console."""

from __future__ import annotations

from typing import Any

import pytest

from omnicx.analytics.phrases import ANALYTICS_ERRORS
from omnicx.audiences.insight_phrases import INSIGHT_ERRORS, insight_wording
from omnicx.audiences.phrases import SEGMENT_ERRORS
from omnicx.audiences.profile_features import FeatureError
from omnicx.wording import WordedError, Wording


def _marked(value: Any, written: str) -> str:
    return f"<{written}>"


def test_without_a_shape_a_wording_is_its_template_formatted() -> None:
    said = Wording("x", "{name!r} has {count} row(s), at most {high:g}", (
        ("name", "orders"), ("count", 3), ("high", 2.0)
    ))  # fmt: skip
    assert said.text() == "'orders' has 3 row(s), at most 2"


def test_a_shape_writes_each_field_after_its_conversion_but_not_nested_wordings() -> None:
    hint = Wording("hint", "e.g. {value}", (("value", "0"),))
    said = Wording("x", "{name!r} is missing ({hint})", (("name", "orders"), ("hint", hint)))
    seen: list[Any] = []

    def shape(value: Any, written: str) -> str:
        seen.append(value)
        return f"<{written}>"

    assert said.text(shape=shape) == "<'orders'> is missing (e.g. <0>)"
    assert seen == ["0", "'orders'"]  # the nested hint's field first, the repr'd name then
    # A translation that lost a field gives the English, shaped the same way.
    garbled = said.text(lambda t: t.replace("{name!r}", "{nmae}"), _marked)
    assert garbled == "<'orders'> is missing (e.g. <0>)"


def test_an_error_of_several_wordings_is_their_english_joined() -> None:
    error = FeatureError(
        insight_wording("id_empty", count=2), insight_wording("infinite", name="orders")
    )
    assert str(error) == "profile_id is empty in 2 row(s); orders has infinite values"
    assert error.code == "id_empty" and len(error.wordings) == 2
    assert isinstance(error, WordedError) and isinstance(error, ValueError)


@pytest.mark.parametrize(
    "templates", [ANALYTICS_ERRORS, INSIGHT_ERRORS, SEGMENT_ERRORS], ids=lambda t: next(iter(t))
)
def test_every_template_is_one_line_of_str_format(templates: dict[str, str]) -> None:
    # Each is a message id in the console's catalogs: `{fields}`, no stray newline.
    for code, template in templates.items():
        assert "\n" not in template and template.strip() == template, code
        assert template.count("{") == template.count("}"), code
