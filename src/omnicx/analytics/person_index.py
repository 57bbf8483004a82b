"""The scope's people numbered 0..n-1, and each anchor's number.

Reports that walk each person's events in time order (funnels) sort millions of events by
person: with people numbered densely that is a counting sort (funnel_walk.py). Numbering
them is one pass of a compiled hash table over the people's keys, as they come (sorting the
keys first, in DuckDB, took four times as long); an anchor's person is found in an array
indexed by anchor (anchors are identifier ids: small, nearly dense integers), a fifth of the
cost of DuckDB's hash join with the people table.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import numpy.typing as npt

from omnicx.analytics.compiled import compiled

Numbers = npt.NDArray[np.int64]

_GOLDEN = np.int64(-0x61C8864680B583EB)
"""2**64 / φ (0x9E3779B97F4A7C15) as a signed 64-bit integer."""

_DENSE_SLACK = 1 << 20
"""An anchor-indexed array is used while the largest anchor is at most 4 × the number of
anchors plus this (a few MB); sparser anchors are found by binary search instead."""


@dataclass(frozen=True, slots=True)
class PersonIndex:
    """People of the `known_people` view (lake.py), numbered 0..n-1."""

    keys: npt.NDArray[np.int64]
    """The `person_key` of each number."""
    anchors: npt.NDArray[np.int64]
    """Every known anchor (each once)."""
    owners: Numbers
    """The number of the person of each of `anchors`."""

    @property
    def size(self) -> int:
        """How many people."""
        return len(self.keys)

    def numbers(self, anchors: npt.NDArray[np.int64]) -> Numbers:
        """The person number of each anchor; -1 where it is not a known person's (out of
        the scope's people, erased, shared)."""
        if not len(self.anchors) or not len(anchors):
            return np.full(len(anchors), -1, np.int64)
        low, high = int(self.anchors.min()), int(self.anchors.max())
        if low >= 0 and high <= 4 * len(self.anchors) + _DENSE_SLACK:
            found: Numbers = _look_up_dense(self.anchors, self.owners, high, anchors)
            return found
        order = np.argsort(self.anchors)
        ordered = self.anchors[order]
        at = np.minimum(np.searchsorted(ordered, anchors), len(ordered) - 1)
        return np.where(ordered[at] == anchors, self.owners[order[at]], -1)


def person_index(db: duckdb.DuckDBPyConnection) -> PersonIndex:
    """The index of the people `db`'s `known_people` view holds."""
    table = db.sql("SELECT anchor, person_key FROM known_people").to_arrow_table()
    anchors = table.column("anchor").to_numpy().astype(np.int64, copy=False)
    owners, keys = _number(table.column("person_key").to_numpy().astype(np.int64, copy=False))
    return PersonIndex(keys, anchors, owners)


@compiled
def _number(keys: npt.NDArray[np.int64]) -> tuple[Numbers, npt.NDArray[np.int64]]:
    """Each key's number (0.. in order of first appearance), and the distinct keys by
    number: an open-addressing hash table, twice the keys' count or more, a power of two."""
    bits = 1
    while (1 << bits) < 2 * len(keys):
        bits += 1
    mask = (1 << bits) - 1
    slot_key = np.empty(1 << bits, np.int64)
    slot_number = np.full(1 << bits, -1, np.int64)
    numbers = np.empty(len(keys), np.int64)
    distinct = np.empty(len(keys), np.int64)
    count = 0
    for i in range(len(keys)):
        key = keys[i]
        # Fibonacci hashing (the top bits of key × 2**64 / φ, in wrapping int64 arithmetic):
        # the keys are hashes already, but a lake's numbered keys (1, 2, 3...) would fill
        # neighbouring slots.
        slot = ((key * _GOLDEN) >> (64 - bits)) & mask
        while slot_number[slot] >= 0 and slot_key[slot] != key:
            slot = (slot + 1) & mask
        if slot_number[slot] < 0:
            slot_key[slot] = key
            slot_number[slot] = count
            distinct[count] = key
            count += 1
        numbers[i] = slot_number[slot]
    return numbers, distinct[:count]


@compiled
def _look_up_dense(
    known: npt.NDArray[np.int64], owners: Numbers, high: int, anchors: npt.NDArray[np.int64]
) -> Numbers:
    """Each of `anchors`' owner (-1 if unknown), through an array indexed by anchor; all of
    `known` are in 0..high."""
    table = np.full(high + 1, -1, np.int64)
    for i in range(len(known)):
        table[known[i]] = owners[i]
    found = np.empty(len(anchors), np.int64)
    for i in range(len(anchors)):
        anchor = anchors[i]
        found[i] = table[anchor] if 0 <= anchor <= high else -1
    return found
