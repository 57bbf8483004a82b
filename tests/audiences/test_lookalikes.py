"""Lookalikes: profiles planted to look like the seed come first, whatever kinds of customer
the seed mixes; seed members never come back; bad seeds fail with a message saying why."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnicx.audiences.lookalikes import LookalikeError, find_lookalikes
from omnicx.audiences.profile_features import FeatureError, fit_space, read_features

COLUMNS = ("rank", "profile_id", "similarity", "nearest_seed_id")


def _kind(rng: np.random.Generator, kind: str, n: int, prefix: str) -> dict[str, Any]:
    """`n` profiles of one kind: background (anyone), vip (frequent big spenders in store
    and the iOS app) or old (one small order on the web over a year ago, nothing since)."""
    if kind == "background":
        orders = rng.poisson(2, n)
        columns = {
            "recency_days": rng.gamma(1.5, 30, n),
            "orders": orders,
            "lifetime_value": orders * rng.gamma(3, 15, n),
            "events": rng.poisson(40, n) + 1,
            "events_last_30_days": rng.poisson(5, n),
            "channel_web": rng.random(n) < 0.6,
            "channel_store_pos": rng.random(n) < 0.4,
            "channel_ios": rng.random(n) < 0.15,
            "channel_android": rng.random(n) < 0.15,
        }
    elif kind == "vip":
        orders = rng.poisson(25, n) + 10
        columns = {
            "recency_days": rng.gamma(2, 1.5, n),
            "orders": orders,
            "lifetime_value": orders * rng.gamma(20, 10, n),
            "events": rng.poisson(300, n),
            "events_last_30_days": rng.poisson(40, n),
            "channel_web": np.zeros(n, bool),
            "channel_store_pos": np.ones(n, bool),
            "channel_ios": np.ones(n, bool),
            "channel_android": np.zeros(n, bool),
        }
    else:
        orders = np.ones(n, int)
        columns = {
            "recency_days": 400 + rng.gamma(4, 20, n),
            "orders": orders,
            "lifetime_value": rng.gamma(2, 5, n),
            "events": rng.poisson(3, n) + 1,
            "events_last_30_days": np.zeros(n, int),
            "channel_web": np.ones(n, bool),
            "channel_store_pos": np.zeros(n, bool),
            "channel_ios": np.zeros(n, bool),
            "channel_android": np.zeros(n, bool),
        }
    used = [columns[c] for c in columns if c.startswith("channel_")]
    return {
        "profile_id": [f"{prefix}{i}" for i in range(n)],
        **columns,
        "channels": np.sum(used, axis=0),
    }


def population(*parts: tuple[str, int, str], seed: int = 0) -> pa.Table:
    """Profiles of the given (kind, count, id prefix) parts, shuffled together."""
    rng = np.random.default_rng(seed)
    tables = [pa.table(_kind(rng, kind, n, prefix)) for kind, n, prefix in parts]
    table = pa.concat_tables(tables)
    return table.take(rng.permutation(table.num_rows))


def _ids(table: pa.Table, prefix: str) -> set[str]:
    return {i for i in table.column("profile_id").to_pylist() if i.startswith(prefix)}


@pytest.fixture(scope="module")
def vips() -> pa.Table:
    return population(("background", 2000, "b"), ("vip", 40, "seed"), ("vip", 25, "twin"))


def test_planted_lookalikes_come_first(vips: pa.Table) -> None:
    found = find_lookalikes(vips, _ids(vips, "seed"), n=25)
    assert found.column_names == list(COLUMNS)
    assert set(found.column("profile_id").to_pylist()) == _ids(vips, "twin")
    assert found.column("rank").to_pylist() == list(range(1, 26))
    similarity = found.column("similarity").to_pylist()
    assert similarity == sorted(similarity, reverse=True)
    assert all(0 < s <= 1 for s in similarity)
    assert set(found.column("nearest_seed_id").to_pylist()) <= _ids(vips, "seed")
    # The next ones are the background, clearly further away.
    more = find_lookalikes(vips, _ids(vips, "seed"), n=26)
    assert more.column("profile_id")[25].as_py().startswith("b")
    assert more.column("similarity")[25].as_py() < min(similarity)


def test_a_seed_of_two_kinds_finds_lookalikes_of_both() -> None:
    table = population(
        ("background", 2000, "b"),
        ("vip", 30, "seed-vip"),
        ("old", 30, "seed-old"),
        ("vip", 15, "twin-vip"),
        ("old", 15, "twin-old"),
        seed=1,
    )
    seed = _ids(table, "seed")
    found = find_lookalikes(table, seed, n=30)
    assert set(found.column("profile_id").to_pylist()) == _ids(table, "twin")
    # Each lookalike's nearest seed member is of its own kind.
    for row in found.to_pylist():
        kind = row["profile_id"].removeprefix("twin-")[:3]  # vip or old
        assert row["nearest_seed_id"].startswith(f"seed-{kind}")
    # Why not the seed's centre: it lies between the two kinds, among everyone else.
    features = read_features(table)
    points = fit_space(features).points(features)
    ids = features.ids
    in_seed = np.isin(ids, list(seed))
    centre = points[in_seed].mean(axis=0)
    distance = np.linalg.norm(points - centre, axis=1)
    distance[in_seed] = np.inf
    by_centre = set(ids[np.argsort(distance)[:30]])
    assert not by_centre & _ids(table, "twin")


def test_asking_for_more_than_there_are_gives_everyone_outside_the_seed(vips: pa.Table) -> None:
    seed = _ids(vips, "seed")
    found = find_lookalikes(vips, seed, n=10**6)
    assert found.num_rows == vips.num_rows - len(seed)
    assert not set(found.column("profile_id").to_pylist()) & seed


def test_a_seed_of_everyone_leaves_nobody(vips: pa.Table) -> None:
    found = find_lookalikes(vips, vips.column("profile_id").to_pylist(), n=5)
    assert found.num_rows == 0
    assert found.column_names == list(COLUMNS)


def test_equally_similar_profiles_keep_the_tables_order() -> None:
    rows = _kind(np.random.default_rng(0), "background", 30, "b")
    table = pa.table(rows).to_pylist()
    copies = [table[0] | {"profile_id": f"copy{i}"} for i in range(4)]
    data = pa.Table.from_pylist(copies[:2] + table + copies[2:])
    found = find_lookalikes(data, ["b0"], n=4, neighbours=1)
    assert found.column("profile_id").to_pylist() == ["copy0", "copy1", "copy2", "copy3"]
    assert found.column("similarity").to_pylist() == [1.0] * 4


def test_results_are_reproducible_and_large_seeds_are_sampled(vips: pa.Table) -> None:
    seed = _ids(vips, "seed")
    first = find_lookalikes(vips, seed, n=100)
    assert find_lookalikes(vips, seed, n=100).equals(first)
    sampled = find_lookalikes(vips, seed, n=25, max_seed=15)
    assert set(sampled.column("profile_id").to_pylist()) == _ids(vips, "twin")
    assert set(sampled.column("nearest_seed_id").to_pylist()) <= seed


def test_a_pandas_data_frame_is_read_too(vips: pa.Table) -> None:
    pytest.importorskip("pandas")
    seed = _ids(vips, "seed")
    assert find_lookalikes(vips.to_pandas(), seed, n=25).equals(find_lookalikes(vips, seed, n=25))


@pytest.mark.parametrize(
    ("seed", "n", "message"),
    [
        ([], 10, "the seed is empty"),
        (["seed0", "nobody", "ghost"], 10, "2 seed profile id\\(s\\) are not in the feature table"),
        (["seed0"], 0, "n must be at least 1 \\(got 0\\)"),
        (["seed0"], -3, "n must be at least 1"),
        ("seed0", 3, "not one id: use \\[id\\]"),
        ([1, 2], 3, "seed profile ids must be text"),
    ],
)
def test_bad_seeds_and_numbers_are_refused(vips: pa.Table, seed: Any, n: int, message: str) -> None:
    with pytest.raises(LookalikeError, match=message):
        find_lookalikes(vips, seed, n=n)


def test_unknown_seed_ids_are_named(vips: pa.Table) -> None:
    with pytest.raises(LookalikeError, match=r"e\.g\. 'ghost', 'nobody'"):
        find_lookalikes(vips, ["seed0", "nobody", "ghost"], n=3)


def test_an_unusable_feature_table_is_refused() -> None:
    with pytest.raises(FeatureError, match="missing column"):
        find_lookalikes(pa.table({"profile_id": ["a", "b"]}), ["a"], n=1)


@pytest.fixture(scope="module")
def small() -> pa.Table:
    return population(("background", 60, "b"), ("vip", 10, "v"), seed=3)


@settings(max_examples=30, deadline=None)
@given(data=st.data(), n=st.integers(1, 80), neighbours=st.integers(1, 12))
def test_any_seed_gives_ranked_non_members(
    small: pa.Table, data: st.DataObject, n: int, neighbours: int
) -> None:
    ids = small.column("profile_id").to_pylist()
    seed = data.draw(st.sets(st.sampled_from(ids), min_size=1, max_size=len(ids)))
    found = find_lookalikes(small, seed, n=n, neighbours=neighbours)
    assert found.num_rows == min(n, len(ids) - len(seed))
    assert not set(found.column("profile_id").to_pylist()) & seed
    assert set(found.column("nearest_seed_id").to_pylist()) <= seed
    similarity = found.column("similarity").to_pylist()
    assert similarity == sorted(similarity, reverse=True)
    assert found.column("rank").to_pylist() == list(range(1, found.num_rows + 1))
