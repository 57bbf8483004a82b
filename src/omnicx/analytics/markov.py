"""Data-driven attribution: removal effects in an absorbing Markov chain over channel paths.

Every journey is a walk `start → channel → ... → channel → conversion|null`. Counting the
walks' transitions gives a chain whose states are the `order` most recent channels (one
channel for the usual first-order chain). The probability of reaching `conversion` from
`start` is solved exactly, as the linear system h = Q·h + r of the absorbing chain, never by
simulation. Removing a channel sends every transition into a state holding it to `null`; its
removal effect is 1 − P(conversion | channel removed) / P(conversion).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

START = "(start)"
CONVERSION = "(conversion)"
NULL = "(null)"
"""The chain's special states; channel names are every other state."""

State = tuple[str, ...]
"""A state of the chain: the last `order` channels of a walk (fewer at its beginning)."""

START_STATE: State = (START,)
CONVERSION_STATE: State = (CONVERSION,)
NULL_STATE: State = (NULL,)
_SPECIAL = frozenset({START, CONVERSION, NULL})

MAX_ORDER = 4
"""Higher orders split the data over too many states to say anything."""
MAX_STATES = 2000
"""The chain is solved with dense matrices: n² numbers, and one solve per channel."""


@dataclass(frozen=True, slots=True)
class MarkovResult:
    """What the chain says: how likely a walk from `start` converts, and each channel's
    removal effect (the share of that probability lost without the channel)."""

    conversion_probability: float
    removal_effects: Mapping[str, float]

    def shares(self) -> dict[str, float]:
        """Removal effects normalised to sum to 1 (each channel's share of the credit)."""
        total = sum(self.removal_effects.values())
        if total <= 0:
            return dict.fromkeys(self.removal_effects, 0.0)
        return {channel: effect / total for channel, effect in self.removal_effects.items()}


def states_of(path: tuple[str, ...], order: int) -> list[State]:
    """The states a walk along `path` goes through: at each step the last `order` channels."""
    return [path[max(0, i + 1 - order) : i + 1] for i in range(len(path))]


def transitions_of_paths(
    paths: Mapping[tuple[str, ...], tuple[float, float]], *, order: int = 1
) -> dict[tuple[State, State], float]:
    """Transition counts of the chain of `order` over aggregated paths: each path (its
    channels, oldest first) with how many walks along it converted and how many did not."""
    _check_order(order)
    counts: dict[tuple[State, State], float] = {}
    for path, (conversions, nulls) in paths.items():
        if conversions < 0 or nulls < 0:
            raise ValueError(f"the path {path!r} has a negative count")
        walks = conversions + nulls
        if walks == 0:
            continue
        states = [START_STATE, *states_of(tuple(path), order)]
        for source, target in pairwise(states):
            counts[source, target] = counts.get((source, target), 0.0) + walks
        for end, number in ((CONVERSION_STATE, conversions), (NULL_STATE, nulls)):
            if number:
                counts[states[-1], end] = counts.get((states[-1], end), 0.0) + number
    return counts


def removal_effects(
    paths: Mapping[tuple[str, ...], tuple[float, float]], *, order: int = 1
) -> dict[str, float]:
    """Each channel's removal effect in the chain of `order` over aggregated paths
    (path → (conversions, nulls)); all zero when nothing converted."""
    return dict(solve(transitions_of_paths(paths, order=order)).removal_effects)


def solve(transitions: Mapping[tuple[State, State], float]) -> MarkovResult:
    """The conversion probability and removal effects of the chain with these transition
    counts (source state, target state) → count."""
    sources = sorted({source for source, _ in transitions})
    if not sources:
        return MarkovResult(0.0, {})
    if len(sources) > MAX_STATES:
        raise ValueError(
            f"the Markov chain has {len(sources):,} states, more than {MAX_STATES:,}: "
            "use a lower order"
        )
    index = {state: i for i, state in enumerate(sources)}
    size = len(sources)
    moves = np.zeros((size, size))
    converts = np.zeros(size)
    outgoing = np.zeros(size)
    for (source, target), count in transitions.items():
        if count < 0:
            raise ValueError(f"the transition {source!r} → {target!r} has a negative count")
        row = index[source]
        outgoing[row] += count
        if target == CONVERSION_STATE:
            converts[row] += count
        elif target != NULL_STATE:
            if target not in index:
                raise ValueError(f"the state {target!r} is entered but never left")
            moves[row, index[target]] += count
    # Rows are probabilities; a state only ever entered by a zero count has no way out.
    outgoing[outgoing == 0] = 1.0
    moves /= outgoing[:, None]
    converts /= outgoing
    system = np.eye(size) - moves
    if START_STATE not in index:
        raise ValueError("no transition leaves the start state")
    start = index[START_STATE]
    probability = _absorption(system, converts, list(range(size)), start)
    channels = sorted({c for state in sources for c in state if c not in _SPECIAL})
    effects: dict[str, float] = {}
    for channel in channels:
        kept = [i for i, state in enumerate(sources) if channel not in state]
        without = _absorption(system, converts, kept, start)
        effects[channel] = 1.0 - without / probability if probability > 0 else 0.0
    return MarkovResult(probability, effects)


def _absorption(system: np.ndarray, converts: np.ndarray, kept: Iterable[int], start: int) -> float:
    """P(conversion) from `start` when only the `kept` states remain: a transition into a
    removed state is lost (it ends in null), which is dropping its rows and columns."""
    rows = list(kept)
    solution = np.linalg.solve(system[np.ix_(rows, rows)], converts[rows])
    return float(solution[rows.index(start)])


def _check_order(order: int) -> None:
    if not 1 <= order <= MAX_ORDER:
        raise ValueError(f"the Markov chain's order must be 1 to {MAX_ORDER}, not {order}")
