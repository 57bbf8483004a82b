"""The stage model: the built-in one, checking documents (every error names its key), and
storing versions in the database (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from omnicx.analytics.scope import Filter
from omnicx.analytics.stage_settings import (
    DEFAULT_DOCUMENT,
    ChurnRule,
    StageSettingsError,
    default_model,
    load_text,
    parse_model,
)
from omnicx.analytics.stage_settings_store import (
    current_document,
    current_model,
    current_version,
    store,
)

SMALL = """
[churn]
after_days = 30
from = "buyer"

[[stages]]
name = "visitor"
rules = [{}]

[[stages]]
name = "buyer"
description = "Bought once."
rules = [{ events = ["Order Completed"], channels = ["store", "web"] }]
"""


def test_the_built_in_model_is_the_journey_from_awareness_to_advocacy() -> None:
    model = default_model()
    assert model.names == (
        "awareness", "consideration", "purchase", "retention", "advocacy", "churned",
    )  # fmt: skip
    assert model.churn == ChurnRule(after_days=90, from_stage="purchase")
    purchase, retention = model.stages[2], model.stages[3]
    assert purchase.rules[0].events == ("Order Completed",) and purchase.rules[0].count == 1
    assert retention.rules[0].count == 2
    advocacy = model.stages[4]
    assert advocacy.rules[0].where == (Filter("properties.rating", ">=", "4"),)
    assert advocacy.rules[-1].traits == (Filter("traits.nps", ">=", "9"),)
    assert load_text(DEFAULT_DOCUMENT) == model
    # The JSON form reads back as the same model.
    assert parse_model(model.to_dict()) == model


def test_a_small_model_in_toml_and_in_json() -> None:
    model = load_text(SMALL)
    assert model.names == ("visitor", "buyer", "churned")
    assert model.stages[1].description == "Bought once."
    assert model.stages[1].rules[0].channels == ("store", "web")
    assert model.churn == ChurnRule(30, "buyer")
    as_json = (
        '{"churn": {"enabled": false}, "stages": [{"name": "visitor", "rules": [{}]}, '
        '{"name": "fan", "rules": [{"traits": ["nps>=9"], "include_passive": true}]}]}'
    )
    parsed = load_text(as_json)
    assert parsed.churn is None and parsed.names == ("visitor", "fan")
    assert parsed.stages[1].rules[0].include_passive
    assert parsed.to_dict()["stages"][1]["rules"] == [
        {"traits": ["nps>=9"], "include_passive": True}
    ]


def test_churn_defaults_to_purchase_or_else_the_first_stage() -> None:
    model = load_text('[[stages]]\nname = "a"\nrules = [{}]\n[[stages]]\nname = "b"\nrules = [{}]')
    assert model.churn == ChurnRule(90, "a")


BAD = [
    ("colour = 1", "key 'colour': unknown setting"),
    ("stages = []", "key 'stages': expected a list of stages"),
    ('[[stages]]\nname = "Big"\nrules = [{}]', "key 'stages[1].name': expected lower-case"),
    ('[[stages]]\nname = "churned"\nrules = [{}]', "key 'stages[1].name': 'churned' is reserved"),
    ('[[stages]]\nname = "a"\nrules = [{}]\n[[stages]]\nname = "a"\nrules = [{}]',
     "key 'stages[2].name': the stage 'a' is listed twice"),
    ('[[stages]]\nname = "a"', "key 'stages[1].rules': expected a non-empty list"),
    ('[[stages]]\nname = "a"\nrules = [{ event = ["x"] }]',
     "key 'stages[1].rules[1].event': unknown setting"),
    ('[[stages]]\nname = "a"\nrules = [{ events = "Order" }]',
     "key 'stages[1].rules[1].events': expected a non-empty list of names"),
    ('[[stages]]\nname = "a"\nrules = [{ count = 0 }]',
     "key 'stages[1].rules[1].count': expected a whole number from 1 to 1000, got 0"),
    ('[[stages]]\nname = "a"\nrules = [{ include_passive = "yes" }]',
     "key 'stages[1].rules[1].include_passive': expected true or false"),
    ('[[stages]]\nname = "a"\nrules = [{ where = ["rating>=4"] }]',
     "key 'stages[1].rules[1].where': cannot filter on 'rating'"),
    ('[[stages]]\nname = "a"\nrules = [{ traits = ["nps"] }]',
     "key 'stages[1].rules[1].traits': cannot read the filter 'traits.nps'"),
    ('[churn]\nfrom = "vip"\n[[stages]]\nname = "a"\nrules = [{}]',
     "key 'churn.from': expected one of the stages a, got 'vip'"),
    ('[churn]\nafter_days = 0\n[[stages]]\nname = "a"\nrules = [{}]',
     "key 'churn.after_days': expected a whole number from 1 to 3650, got 0"),
    ('[churn]\nenabled = 1\n[[stages]]\nname = "a"\nrules = [{}]',
     "key 'churn.enabled': expected true or false"),
    ('[churn]\nwindow = 3\n[[stages]]\nname = "a"\nrules = [{}]', "key 'churn.window': unknown"),
    ("[[stages]\nname =", "not valid TOML or JSON"),
    ("[1, 2]", "not valid TOML or JSON"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "message"), BAD)
def test_a_bad_document_is_refused_naming_the_key(text: str, message: str) -> None:
    with pytest.raises(StageSettingsError) as caught:
        load_text(text, name="stages.toml")
    assert str(caught.value).startswith("stages.toml")
    assert message in str(caught.value)


def test_too_many_stages() -> None:
    document = {"stages": [{"name": f"s{n}", "rules": [{}]} for n in range(21)]}
    with pytest.raises(StageSettingsError, match="at most 20 stages, got 21"):
        parse_model(document)


def test_stored_versions_the_newest_applies(engine: Engine) -> None:
    with engine.begin() as connection:
        assert current_version(connection) == 0
        assert current_document(connection) is None
        assert current_model(connection) == default_model()
        assert store(connection, SMALL, name="small.toml") == 1
    with engine.begin() as connection:
        assert current_document(connection) == SMALL
        assert current_model(connection).names == ("visitor", "buyer", "churned")
        with pytest.raises(StageSettingsError, match="key 'stages'"):
            store(connection, "stages = 3", name="bad.toml")
    with engine.begin() as connection:
        assert current_version(connection) == 1  # nothing stored for the bad one
        assert store(connection, DEFAULT_DOCUMENT) == 2
    with engine.connect() as connection:
        assert current_model(connection) == default_model()
        assert current_version(connection) == 2
