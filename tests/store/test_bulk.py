"""store.bulk.positions_among: the rows of the positions asked for are all selected, whether the
positions are a dense batch (one range) or scattered (IN lists, over several chunks)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, delete, insert, select

from omnicx.identity.tables import identity_observations
from omnicx.store.bulk import CHUNK, positions_among

STORED = [i for i in range(1, 6001) if i % 7]  # multiples of 7 are missing


@pytest.fixture
def stored(engine: Engine) -> Engine:
    with engine.begin() as connection:
        connection.execute(delete(identity_observations))
        connection.execute(
            insert(identity_observations),
            [{"identifier_id": 1, "event_id": i, "anchor": True} for i in STORED],
        )
    return engine


def _selected(engine: Engine, asked: list[int]) -> tuple[set[int], int]:
    """The positions the conditions select, and how many statements they take."""
    conditions = list(positions_among(identity_observations.c.event_id, asked))
    found: set[int] = set()
    with engine.connect() as connection:
        for condition in conditions:
            found.update(
                connection.execute(select(identity_observations.c.event_id).where(condition))
                .scalars()
                .all()
            )
    return found, len(conditions)


def test_a_dense_batch_is_one_range_that_holds_every_position(stored: Engine) -> None:
    asked = list(range(1000, 3000))
    found, statements = _selected(stored, asked)
    assert statements == 1
    assert set(asked) & set(STORED) <= found
    assert found <= set(range(1000, 3000))


def test_scattered_positions_are_selected_exactly_in_chunks(stored: Engine) -> None:
    asked = list(range(5999, 0, -4))  # 1,500 positions over 6,000, unordered
    found, statements = _selected(stored, asked)
    assert statements == -(-len(asked) // CHUNK)
    assert found == set(asked) & set(STORED)


def test_nothing_asked_selects_nothing(stored: Engine) -> None:
    assert _selected(stored, []) == (set(), 0)
