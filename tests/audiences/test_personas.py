"""Personas: planted groups come back as personas with the right sizes, figures and words;
the same table gives the same personas; unusable tables fail with a message saying why."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omnicx.audiences import personas_text
from omnicx.audiences.personas import (
    Distinction,
    FeatureError,
    assign_personas,
    find_personas,
)
from omnicx.audiences.personas_text import PHRASES, describe, persona_name, unique_name
from omnicx.audiences.profile_features import read_features

CHANNELS = ("web", "ios", "android", "store_pos", "email", "sms")


def planted(sizes: tuple[int, int, int] = (600, 300, 100), seed: int = 0) -> pa.Table:
    """Three well-separated groups, in this order: store regulars (recent, frequent, in
    store, mostly shoes), web browsers (recent, active, never ordered) and lapsed customers
    (a year away, one or two orders, mostly bags). Column `group` says which."""
    rng = np.random.default_rng(seed)
    store, web, lapsed = sizes
    n = sum(sizes)
    group = np.repeat([0, 1, 2], sizes)
    recency = np.concatenate(
        [rng.gamma(2, 4, store), rng.gamma(2, 1.5, web), 250 + rng.gamma(4, 30, lapsed)]
    )
    orders = np.concatenate(
        [rng.poisson(12, store) + 2, np.zeros(web, int), rng.poisson(0.5, lapsed) + 1]
    )
    value = orders * rng.gamma(5, 10, n) * (orders > 0)
    events = (
        np.concatenate([rng.poisson(150, store), rng.poisson(80, web), rng.poisson(12, lapsed)]) + 1
    )
    recent = np.concatenate([rng.poisson(20, store), rng.poisson(30, web), np.zeros(lapsed, int)])
    share = {
        "web": (0.2, 0.97, 0.6),
        "ios": (0.05, 0.3, 0.05),
        "android": (0.05, 0.05, 0.05),
        "store_pos": (0.95, 0.0, 0.1),
        "email": (0.5, 0.3, 0.6),
        "sms": (0.0, 0.0, 0.0),  # nobody: a constant column
    }
    used = {c: rng.random(n) < np.array(share[c])[group] for c in CHANNELS}
    shoes = np.concatenate([rng.beta(8, 2, store), np.zeros(web), rng.beta(2, 8, lapsed)])
    columns: dict[str, Any] = {
        "profile_id": [f"p{i:05d}" for i in range(n)],
        "recency_days": recency,
        "orders": orders,
        "lifetime_value": value,
        "events": events,
        "events_last_30_days": recent,
        "channels": np.sum([used[c] for c in CHANNELS], axis=0),
        **{f"channel_{c}": used[c] for c in CHANNELS},
        "category_shoes": shoes,
        "category_bags": np.where(orders > 0, 1 - shoes, 0.0),
        "group": group,
    }
    return pa.table(columns)


@pytest.fixture(scope="module")
def table() -> pa.Table:
    return planted()


@pytest.fixture(scope="module")
def result(table: pa.Table) -> Any:
    return find_personas(table)


def _persona_of(assignments: pa.Table) -> dict[str, int]:
    return dict(
        zip(
            assignments.column("profile_id").to_pylist(),
            assignments.column("persona_id").to_pylist(),
            strict=True,
        )
    )


def test_planted_groups_become_three_personas_of_the_right_sizes(
    table: pa.Table, result: Any
) -> None:
    assert [p.size for p in result.personas] == [600, 300, 100]
    assert [p.id for p in result.personas] == [1, 2, 3]
    assert [round(p.share, 2) for p in result.personas] == [0.6, 0.3, 0.1]
    # Each group is exactly one persona.
    pairs = Counter(
        zip(
            table.column("group").to_pylist(),
            result.assignments.column("persona_id").to_pylist(),
            strict=True,
        )
    )
    assert pairs == {(0, 1): 600, (1, 2): 300, (2, 3): 100}
    assert result.assignments.column_names == ["profile_id", "persona_id"]
    assert (
        result.assignments.column("profile_id").to_pylist()
        == table.column("profile_id").to_pylist()
    )


def test_the_number_of_personas_is_the_best_silhouette(result: Any) -> None:
    assert sorted(result.silhouettes) == list(range(2, 9))
    assert max(result.silhouettes, key=result.silhouettes.get) == 3
    assert len(result.personas) == 3


def test_personas_are_named_and_described_by_what_sets_them_apart(result: Any) -> None:
    store, web, lapsed = result.personas
    assert store.name == "Store-first regulars"
    assert web.name == "Web-first browsers"
    assert lapsed.name == "Lapsed customers"
    assert store.description.startswith("Store-first regulars: 60% of customers; ")
    assert "buy 1.6 times as often as average" in store.description
    assert "mostly in store (" in store.description
    assert web.description.startswith("Web-first browsers: 30% of customers; have never ordered")
    assert "inactive in the last 30 days" in lapsed.description
    for persona in result.personas:
        median = round(persona.medians["recency_days"])
        assert persona.description.endswith(f"last seen {median} days ago on median")

    def differences(persona: Any) -> dict[str, float]:
        return {d.feature: d.difference for d in persona.distinctive}

    assert differences(store)["channel_store_pos"] > 0.5
    assert differences(store)["orders"] > 0.5
    assert differences(web)["orders"] < -1
    assert differences(web)["channel_web"] > 0.5
    assert differences(lapsed)["recency_days"] > 2
    assert differences(lapsed)["events_last_30_days"] < -2


def test_figures_are_in_the_features_own_units(table: pa.Table, result: Any) -> None:
    persona_ids = result.assignments.column("persona_id").to_numpy()
    orders = table.column("orders").to_numpy().astype(float)
    store_used = table.column("channel_store_pos").to_numpy(zero_copy_only=False)
    for persona in result.personas:
        members = persona_ids == persona.id
        assert persona.centroid["orders"] == pytest.approx(orders[members].mean())
        assert persona.medians["orders"] == pytest.approx(np.median(orders[members]))
        assert persona.centroid["channel_store_pos"] == pytest.approx(store_used[members].mean())
        found = {d.feature: d for d in persona.distinctions}["orders"]
        assert found.value == pytest.approx(orders[members].mean())
        assert found.population == pytest.approx(orders.mean())
        assert found.ratio == pytest.approx(orders[members].mean() / orders.mean())
        # The standardised difference, on the log1p scale the clustering uses.
        logged = np.log1p(orders)
        expected = (logged[members].mean() - logged.mean()) / logged.std()
        assert found.difference == pytest.approx(expected, rel=1e-4)


def test_distinctions_list_every_feature_most_distinctive_first(result: Any) -> None:
    for persona in result.personas:
        sizes = [abs(d.difference) for d in persona.distinctions]
        assert sizes == sorted(sizes, reverse=True)
        assert {d.feature for d in persona.distinctions} == set(persona.centroid)
        assert all(abs(d.difference) >= 0.5 for d in persona.distinctive)


def test_constant_columns_are_left_out_of_the_space_and_set_nobody_apart(result: Any) -> None:
    assert result.space.dropped == ("channel_sms",)
    assert "channel_sms" not in result.space.features
    for persona in result.personas:
        sms = {d.feature: d for d in persona.distinctions}["channel_sms"]
        assert (sms.value, sms.difference) == (0.0, 0.0)


def test_the_same_table_gives_the_same_personas(table: pa.Table, result: Any) -> None:
    again = find_personas(table)
    assert again.assignments.equals(result.assignments)
    assert [p.description for p in again.personas] == [p.description for p in result.personas]
    assert again.silhouettes == result.silhouettes


def test_another_seed_or_row_order_finds_the_same_groups(table: pa.Table, result: Any) -> None:
    expected = _persona_of(result.assignments)
    other = find_personas(table, random_state=7)
    assert _persona_of(other.assignments) == expected
    shuffled = table.take(np.random.default_rng(1).permutation(table.num_rows))
    assert _persona_of(find_personas(shuffled).assignments) == expected


def test_a_given_number_of_personas_is_kept(table: pa.Table) -> None:
    found = find_personas(table, k=5)
    assert len(found.personas) == 5
    assert found.silhouettes == {}
    assert sum(p.size for p in found.personas) == table.num_rows
    assert sorted(p.size for p in found.personas) == sorted(
        (p.size for p in found.personas), reverse=False
    )
    assert [p.size for p in found.personas] == sorted(
        (p.size for p in found.personas), reverse=True
    )
    assert len({p.name for p in found.personas}) == 5


def test_new_profiles_are_assigned_to_the_nearest_persona(table: pa.Table, result: Any) -> None:
    assert assign_personas(result, table).equals(result.assignments)
    newcomer = table.slice(0, 1).to_pylist()[0] | {"profile_id": "new", "orders": 30}
    assigned = assign_personas(result, pa.Table.from_pylist([newcomer]))
    assert assigned.to_pylist() == [{"profile_id": "new", "persona_id": 1}]


def test_a_pandas_data_frame_is_read_too(table: pa.Table, result: Any) -> None:
    pytest.importorskip("pandas")
    found = find_personas(table.to_pandas())
    assert found.assignments.equals(result.assignments)


# Unusable tables and arguments.


def _rows(n: int, **changes: Any) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    columns: dict[str, Any] = {
        "profile_id": [f"p{i}" for i in range(n)],
        "recency_days": rng.integers(0, 100, n).astype(float),
        "orders": rng.integers(0, 5, n),
        "lifetime_value": rng.random(n) * 100,
        "events": rng.integers(1, 50, n),
        "events_last_30_days": rng.integers(0, 10, n),
        "channels": rng.integers(1, 3, n),
        "channel_web": rng.random(n) < 0.5,
    }
    columns.update(changes)
    return {k: v for k, v in columns.items() if v is not None}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"orders": None}, "missing column(s) orders"),
        ({"profile_id": None, "channels": None}, "missing column(s) profile_id, channels"),
        ({"orders": [1, None] + [0] * 28}, "orders is missing for 1 profile(s)"),
        ({"recency_days": [np.nan] * 3 + [1.0] * 27}, "recency_days is missing for 3 profile(s)"),
        ({"channel_web": [None] + [True] * 29}, "channel_web is missing for 1 profile(s)"),
        ({"lifetime_value": [-5.0] + [1.0] * 29}, "lifetime_value has negative values"),
        ({"events": [np.inf] + [1.0] * 29}, "events has infinite values"),
        ({"category_shoes": [1.5] + [0.0] * 29}, "category_shoes is a share"),
        ({"channel_web": [2] + [0] * 29}, "channel_web must be true/false"),
        ({"orders": ["many"] * 30}, "orders must be numbers"),
        ({"profile_id": ["a", "a", "b"] + [f"x{i}" for i in range(27)]}, "appear more than once"),
        ({"profile_id": list(range(30))}, "profile_id must be text"),
        ({"profile_id": [None] + [f"x{i}" for i in range(29)]}, "profile_id is empty in 1 row"),
    ],
)
def test_unusable_tables_are_refused_with_the_reason(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(FeatureError) as raised:
        find_personas(pa.table(_rows(30, **changes)))
    assert message in str(raised.value)


def test_every_problem_is_named_at_once() -> None:
    columns = _rows(30, orders=[None] * 30, events=[-1] * 30)
    with pytest.raises(FeatureError, match=r"orders is missing.*; events has negative"):
        read_features(pa.table(columns))


def test_too_few_profiles_are_refused() -> None:
    with pytest.raises(FeatureError, match="12 profile\\(s\\): at least 20 are needed"):
        find_personas(pa.table(_rows(12)))
    with pytest.raises(FeatureError, match="at least 30 are needed"):
        find_personas(pa.table(_rows(25)), k=6)


def test_a_table_where_nothing_varies_is_refused() -> None:
    same = {name: [1] * 30 for name in ("orders", "events", "events_last_30_days", "channels")}
    columns = _rows(
        30, recency_days=[3.0] * 30, lifetime_value=[9.5] * 30, channel_web=[True] * 30, **same
    )
    with pytest.raises(FeatureError, match="nothing sets customers apart"):
        find_personas(pa.table(columns))


def test_more_personas_than_kinds_of_profile_are_refused() -> None:
    two_kinds = _rows(
        40,
        recency_days=[1.0, 90.0] * 20,
        orders=[0, 9] * 20,
        lifetime_value=[0.0, 500.0] * 20,
        events=[3, 80] * 20,
        events_last_30_days=[0, 12] * 20,
        channels=[1, 2] * 20,
        channel_web=[True, False] * 20,
    )
    with pytest.raises(FeatureError, match="ask for at most 2 personas"):
        find_personas(pa.table(two_kinds), k=3)
    found = find_personas(pa.table(two_kinds))  # automatic: 2, the only split there is
    assert [p.size for p in found.personas] == [20, 20]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"k": 1}, "k must be at least 2"),
        ({"k_range": (3, 2)}, "k_range"),
        ({"k_range": (1, 4)}, "k_range"),
    ],
)
def test_bad_arguments_are_refused(
    table: pa.Table, arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        find_personas(table, **arguments)


def test_something_that_is_not_a_table_is_refused() -> None:
    with pytest.raises(FeatureError, match="expected a pyarrow Table or a pandas DataFrame"):
        find_personas(42)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(20, 60),
    seed=st.integers(0, 2**32 - 1),
    k=st.integers(2, 4),
)
def test_any_usable_table_gives_a_complete_partition(n: int, seed: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    columns = _rows(
        n,
        orders=rng.poisson(rng.random() * 3, n),
        lifetime_value=rng.gamma(1, 50, n) * (rng.random(n) < 0.7),
        channel_web=rng.random(n) < rng.random(),
        channel_store_pos=rng.random(n) < rng.random(),
    )
    outcome: Any
    try:
        outcome = find_personas(pa.table(columns), k=k, random_state=seed % 1000)
    except FeatureError as error:  # e.g. fewer kinds of profile than personas
        outcome = error
    if isinstance(outcome, FeatureError):
        assert "personas" in str(outcome) or "apart" in str(outcome)
        return
    found = outcome
    assert sum(p.size for p in found.personas) == n
    assert sum(p.share for p in found.personas) == pytest.approx(1)
    ids = set(found.assignments.column("persona_id").to_pylist())
    assert ids == {p.id for p in found.personas}
    assert all(p.description.startswith(p.name + ": ") for p in found.personas)


# The words.


def _d(
    feature: str, value: float, population: float, difference: float, **medians: float
) -> Distinction:
    return Distinction(
        feature=feature,
        value=value,
        population=population,
        median=medians.get("median", value),
        population_median=medians.get("population_median", population),
        difference=difference,
    )


STORE_REGULARS = [
    _d("orders", 8.4, 2.0, 1.9),
    _d("channel_store_pos", 0.91, 0.3, 1.4),
    _d("recency_days", 14.0, 40.0, -0.8, median=12.0),
    _d("events", 52.0, 50.0, 0.1),
]


def test_a_description_reads_as_the_issue_asks() -> None:
    name = persona_name(STORE_REGULARS)
    assert name == "Store-first regulars"
    assert describe(name, 0.18, STORE_REGULARS) == (
        "Store-first regulars: 18% of customers; buy 4.2 times as often as average, "
        "mostly in store (91% of them), last seen 12 days ago on median"
    )


@pytest.mark.parametrize(
    ("distinctions", "name"),
    [
        ([_d("orders", 0.1, 2.0, -1.5, median=0.0), _d("events", 90, 40, 0.9)], "Browsers"),
        ([_d("orders", 0.0, 2.0, -1.5), _d("events", 10, 40, -0.9)], "Casual visitors"),
        (
            [_d("orders", 0.2, 2.0, -1.0, median=0.0), _d("recency_days", 300, 40, 2.0)],
            "Lapsed visitors",
        ),
        (
            [
                _d("orders", 1.5, 2.0, -0.1),
                _d("recency_days", 300, 40, 2.0),
                _d("events_last_30_days", 0, 4, -1.2),
            ],
            "Lapsed customers",
        ),
        ([_d("orders", 2.5, 2.0, 0.3), _d("lifetime_value", 900, 150, 1.4)], "Big spenders"),
        (
            [_d("orders", 1.0, 2.0, -0.3), _d("channels", 4.1, 1.6, 1.2)],
            "Omnichannel occasional buyers",
        ),
        ([_d("orders", 6.0, 2.0, 1.1), _d("channel_ios", 0.8, 0.2, 1.3)], "iOS-first regulars"),
    ],
)
def test_names_say_what_the_persona_does_and_where(
    distinctions: list[Distinction], name: str
) -> None:
    assert persona_name(distinctions) == name


@pytest.mark.parametrize(
    ("distinction", "fact"),
    [
        (_d("orders", 0.5, 2.0, -0.9, median=1.0), "buy 75% less often than average"),
        (_d("orders", 0.0, 2.0, -1.5), "have never ordered"),
        (_d("lifetime_value", 900, 150, 1.4), "spend 6.0 times as much as average"),
        (
            _d("events_last_30_days", 1.0, 5.0, -0.7, median=0.0),
            "most inactive in the last 30 days",
        ),
        (_d("channels", 4.1, 1.6, 1.2), "use 4.1 channels on average, against 1.6 overall"),
        (_d("channel_email", 0.4, 0.1, 0.9), "40% by email, against 10% overall"),
        (_d("channel_web", 0.02, 0.5, -1.0), "rarely on the web (2% of them)"),
        (_d("channel_web", 0.0, 0.5, -1.1), "never on the web"),
        (_d("channel_kiosk", 0.9, 0.2, 1.0), "mostly on kiosk (90% of them)"),
        (
            _d("category_home_garden", 0.6, 0.2, 1.0),
            "60% of their purchases in home garden, against 20% overall",
        ),
    ],
)
def test_facts_in_words_and_numbers(distinction: Distinction, fact: str) -> None:
    buyers = _d("orders", 2.0, 2.0, 0.0)
    found = describe("X", 0.5, [distinction, buyers, _d("recency_days", 3, 3, 0.0)])
    assert found == f"X: 50% of customers; {fact}, last seen 3 days ago on median"


def test_small_shares_recency_today_and_duplicate_names() -> None:
    assert describe("X", 0.004, [_d("recency_days", 0.2, 9, -1)]) == (
        "X: under 1% of customers; last seen today on median"
    )
    assert describe("X", 0.5, [_d("recency_days", 1.2, 9, -1)]).endswith(
        "last seen 1 day ago on median"
    )
    assert unique_name("Regulars", ["Regulars", "Regulars (2)"]) == "Regulars (3)"
    assert unique_name("Browsers", ["Regulars"]) == "Browsers"


def test_a_translation_replaces_the_phrases_and_nothing_else(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    german = {
        "description": "{name}: {share} der Kunden; {facts}",
        "name": "{noun} ({qualifier})",
        "qualifier.channel": "{channel} zuerst",
        "channel.store_pos": "Laden",
        "noun.regulars": "Stammkunden",
        "orders.more": "kaufen {ratio}-mal so oft wie der Durchschnitt",
        "channel.mostly": "meist {where} ({percent} %)",
        "where.store_pos": "im Laden",
        "recency": "zuletzt vor {days} Tagen gesehen (Median)",
        "decimal_separator": ",",
    }
    for key, text in german.items():
        monkeypatch.setitem(personas_text.PHRASES, key, text)
    name = persona_name(STORE_REGULARS)
    assert describe(name, 0.18, STORE_REGULARS) == (
        "Stammkunden (Laden zuerst): 18% der Kunden; kaufen 4,2-mal so oft wie der "
        "Durchschnitt, meist im Laden (91 %), zuletzt vor 12 Tagen gesehen (Median)"
    )
    assert set(german) <= set(PHRASES)


def test_every_name_word_is_documented() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "personas.md").read_text()
    nouns = [text for key, text in PHRASES.items() if key.startswith("noun.")]
    assert nouns
    for noun in nouns:
        assert f"| {noun} |" in docs, noun
