"""Markov-chain removal effects: a worked example computed by hand, and the 10,000 channel
paths bundled with the `mta` package against an exact absorbing-chain computation."""

from __future__ import annotations

import csv
import gzip
from importlib import resources

import pytest

from omnicx.analytics.markov import (
    CONVERSION_STATE,
    NULL_STATE,
    START_STATE,
    removal_effects,
    solve,
    states_of,
    transitions_of_paths,
)
from tests.analytics.reference_attribution import exact_removal_effects

HAND_PATHS = {
    ("a", "b"): (1, 0),
    ("a",): (0, 1),
    ("b",): (1, 1),
    ("b", "a"): (0, 1),
}
"""Five journeys over two channels; two converted."""


def test_removal_effects_worked_by_hand() -> None:
    # Transitions counted from the paths:
    #   start → a: 2 (a b, a)          start → b: 3 (b twice, b a)      of 5
    #   a → b: 1, a → null: 2 (a, and b a ending in a)                  of 3
    #   b → conv: 2 (a b, b), b → null: 1 (b), b → a: 1 (b a)           of 4
    # P(a) = 1/3·P(b);  P(b) = 2/4 + 1/4·P(a) = 1/2 + 1/12·P(b)  ⇒  P(b) = 6/11, P(a) = 2/11
    # P(conversion) = 2/5·P(a) + 3/5·P(b) = 4/55 + 18/55 = 2/5 (the observed 2 of 5).
    # Without a: b → a is lost, P(b) = 1/2, P = 3/5·1/2 = 3/10, effect 1 − (3/10)/(2/5) = 1/4.
    # Without b: nothing reaches the conversion, P = 0, effect 1.
    chain = solve(transitions_of_paths(HAND_PATHS))
    assert chain.conversion_probability == pytest.approx(2 / 5, abs=1e-15)
    assert chain.removal_effects == pytest.approx({"a": 1 / 4, "b": 1.0}, abs=1e-15)
    # Credit ∝ removal effects: a gets 0.25 / 1.25 = 1/5 of the conversions, b 4/5.
    assert chain.shares() == pytest.approx({"a": 1 / 5, "b": 4 / 5}, abs=1e-15)
    assert removal_effects(HAND_PATHS) == pytest.approx({"a": 1 / 4, "b": 1.0}, abs=1e-15)


def test_a_second_order_chain_worked_by_hand() -> None:
    # States are the last two channels. Paths: a b → conv, c b → null, a → conv.
    # start → (a): 2, (a) → (a b): 1, (a) → conv: 1, start → (c): 1, (c) → (c b): 1,
    # (a b) → conv: 1, (c b) → null: 1.  P = 2/3·(1/2 + 1/2) + 1/3·0 = 2/3.
    # Without b: (a) → (a b) is lost: P = 2/3·1/2 = 1/3, effect 1 − (1/3)/(2/3) = 1/2.
    # Without a: only c's journey is left, which fails: effect 1. Without c: P unchanged: 0.
    paths = {("a", "b"): (1, 0), ("c", "b"): (0, 1), ("a",): (1, 0)}
    assert removal_effects(paths, order=2) == pytest.approx({"a": 1.0, "b": 0.5, "c": 0.0})
    assert states_of(("a", "b", "c"), 2) == [("a",), ("a", "b"), ("b", "c")]


def test_transitions_of_paths() -> None:
    counts = transitions_of_paths({("web", "web", "email"): (2, 1), ("app",): (0, 4)})
    assert counts == {
        (START_STATE, ("web",)): 3,
        (("web",), ("web",)): 3,
        (("web",), ("email",)): 3,
        (("email",), CONVERSION_STATE): 2,
        (("email",), NULL_STATE): 1,
        (START_STATE, ("app",)): 4,
        (("app",), NULL_STATE): 4,
    }


def test_nothing_converted_or_nothing_at_all() -> None:
    assert removal_effects({("web",): (0, 3)}) == {"web": 0.0}
    assert removal_effects({}) == {}
    chain = solve({})
    assert (chain.conversion_probability, dict(chain.removal_effects), chain.shares()) == (
        0.0,
        {},
        {},
    )


def test_bad_inputs_say_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="negative count"):
        removal_effects({("web",): (-1, 0)})
    with pytest.raises(ValueError, match="order must be 1 to 4"):
        removal_effects({("web",): (1, 0)}, order=0)
    with pytest.raises(ValueError, match="entered but never left"):
        solve({(START_STATE, ("web",)): 1})
    many = {(f"c{n}",): (1, 1) for n in range(2000)}
    with pytest.raises(ValueError, match="2,001 states, more than 2,000: use a lower order"):
        removal_effects(many)


def mta_paths() -> dict[tuple[str, ...], tuple[int, int]]:
    """The mta package's 10,000 aggregated paths: path "a > b", conversions, nulls."""
    data = resources.files("mta") / "data" / "data.csv.gz"
    paths: dict[tuple[str, ...], tuple[int, int]] = {}
    with gzip.open(str(data), "rt", newline="") as source:
        for row in csv.DictReader(source):
            path = tuple(step.strip() for step in row["path"].split(">"))
            conversions, nulls = paths.get(path, (0, 0))
            paths[path] = (
                conversions + int(row["total_conversions"]),
                nulls + int(row["total_null"]),
            )
    return paths


def test_the_mta_data_set_against_the_fundamental_matrix() -> None:
    paths = mta_paths()
    assert sum(c for c, _ in paths.values()) == 19_785
    assert sum(n for _, n in paths.values()) == 68_602
    chain = solve(transitions_of_paths(paths))
    probability, expected = exact_removal_effects(paths)
    assert chain.conversion_probability == pytest.approx(probability, abs=1e-12)
    assert len(expected) >= 10
    assert set(chain.removal_effects) == set(expected)
    for channel, effect in expected.items():
        assert chain.removal_effects[channel] == pytest.approx(effect, abs=1e-9), channel
    # A first-order chain fitted to the paths reproduces their conversion rate.
    assert probability == pytest.approx(19_785 / (19_785 + 68_602), abs=1e-12)


def test_the_mta_data_set_second_order() -> None:
    paths = mta_paths()
    _, expected = exact_removal_effects(paths, order=2)
    got = removal_effects(paths, order=2)
    assert got == pytest.approx(expected, abs=1e-9)
